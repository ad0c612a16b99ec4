"""Local attention between neighbouring space-time tiles ("slide chunk" attention of LDF-VFI).

The DiT sees its latent as a grid of tiles `(nT, nH, nW)`, each holding `tokens` tokens. The token
order everywhere is tile-major: `(nt, nh, nw, t, h, w)`. A query in tile `(a, b, c)` may attend to
a key in tile `(a', b', c')` iff `|a-a'| <= wt`, `|b-b'| <= wh` and `|c-c'| <= ww` where
`window = (wt, wh, ww)`; `window=None` means full attention. LDF-VFI's inference setting
("slide_chunk_all_block_2x1x1", every block) is `window=(2, 1, 1)`: with a 60-frame window of three
20-frame tiles every temporal tile sees the others, and spatially each tile sees its 3x3
neighbourhood — so the keys per query are bounded (27 tiles) whatever the resolution.

Backends (all give the same result up to float summation order; the tests check it):
- "tiles": our fallback. For each spatial tile, gather the keys/values of its neighbour box and
  run plain SDPA. No S x S mask is ever built, so memory per call is bounded by the window.
- "flex": PyTorch's flex attention with a block mask. Fast only when compiled on CUDA; on CPU it
  runs an unfused path that materialises S x S scores, hence "auto" picks it on CUDA only.
- "dense": SDPA with a dense boolean S x S mask. A reference for tests on tiny shapes.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F

Window = tuple[int, int, int]
Backend = Literal["auto", "tiles", "flex", "dense"]

# The reference's attention-type names that use one mask in every block, and their tile windows.
# (Types that alternate masks per block, e.g. "slide_chunk", are not used at inference.)
ATTENTION_TYPES: dict[str, Window | None] = {
    "full": None,
    "slide_chunk_all_block": (1, 1, 1),          # training default stored in config.json
    "slide_chunk_all_block_2x1x1": (2, 1, 1),    # what quick_start/generate.sh sets for inference
    "slide_chunk_all_block_2x0x0": (2, 0, 0),
}
INFERENCE_ATTENTION_TYPE = "slide_chunk_all_block_2x1x1"


@dataclass(frozen=True)
class TileGrid:
    """Layout of one attention sequence: `tiles` = (nT, nH, nW), `tokens` per tile."""

    tiles: tuple[int, int, int]
    tokens: int
    window: Window | None = (2, 1, 1)

    @property
    def num_tiles(self) -> int:
        nt, nh, nw = self.tiles
        return nt * nh * nw

    @property
    def seq_len(self) -> int:
        return self.num_tiles * self.tokens

    def neighbours(self, axis: int, index: int) -> tuple[int, int]:
        """Half-open range of tile indices along `axis` that tile `index` attends to."""
        size = self.tiles[axis]
        if self.window is None:
            return 0, size
        reach = self.window[axis]
        return max(0, index - reach), min(size, index + reach + 1)

    def max_keys(self) -> int:
        """Most keys any query attends to (bounded by the window, not by the resolution)."""
        count = 1
        for axis in range(3):
            count *= max(hi - lo for lo, hi in (self.neighbours(axis, i) for i in range(self.tiles[axis])))
        return count * self.tokens


def window_for(attention_type: str) -> Window | None:
    if attention_type not in ATTENTION_TYPES:
        raise ValueError(f"unknown attention type {attention_type!r}; known: {sorted(ATTENTION_TYPES)}")
    return ATTENTION_TYPES[attention_type]


def tile_coordinates(grid: TileGrid, device: torch.device | str = "cpu") -> torch.Tensor:
    """(S, 3) long tensor: the (nt, nh, nw) tile of every token, in sequence order."""
    nt, nh, nw = grid.tiles
    coords = torch.stack(torch.meshgrid(
        torch.arange(nt, device=device), torch.arange(nh, device=device), torch.arange(nw, device=device),
        indexing="ij"), dim=-1).reshape(-1, 3)
    return coords.repeat_interleave(grid.tokens, dim=0)


def dense_mask(grid: TileGrid, device: torch.device | str = "cpu") -> torch.Tensor:
    """(S, S) bool: True where a query (row) may attend to a key (column). Test reference only."""
    coords = tile_coordinates(grid, device)
    if grid.window is None:
        return torch.ones(grid.seq_len, grid.seq_len, dtype=torch.bool, device=device)
    reach = torch.tensor(grid.window, device=device)
    diff = (coords[:, None, :] - coords[None, :, :]).abs()
    return (diff <= reach).all(dim=-1)


def choose_backend(device: torch.device) -> str:
    """"flex" only where it is fast (compiled, CUDA); the tile fallback everywhere else."""
    if device.type == "cuda" and _flex_importable():
        return "flex"
    return "tiles"


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: TileGrid,
                    backend: Backend = "auto") -> torch.Tensor:
    """Attention of q, k, v shaped (B, S, heads, d) — token-major, like diffusers' attention
    dispatch — under the tile window of `grid`; returns (B, S, heads, d).

    Token-major input lets the tile fallback take views of the tiles instead of permuted copies
    of the whole sequence (each full-size copy is ~0.6 GB at 1080p in bfloat16)."""
    if q.shape[1] != grid.seq_len:
        raise ValueError(f"sequence length {q.shape[1]} does not match the tile grid ({grid.seq_len})")
    if backend == "auto":
        backend = choose_backend(q.device)
    if backend == "tiles":
        return _tiles_attention(q, k, v, grid)
    if backend not in ("flex", "dense"):
        raise ValueError(f"unknown attention backend {backend!r}")
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, S, d)
    if backend == "flex":
        out = _flex_attention(qh.contiguous(), kh.contiguous(), vh.contiguous(), grid)
    else:
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=dense_mask(grid, q.device))
    return out.transpose(1, 2)


def _runs(ranges: list[tuple[int, int]]) -> list[tuple[int, int, tuple[int, int]]]:
    """Group consecutive query tiles with the same key range: (first, stop, key range)."""
    runs: list[tuple[int, int, tuple[int, int]]] = []
    for index, key_range in enumerate(ranges):
        if runs and runs[-1][2] == key_range:
            runs[-1] = (runs[-1][0], index + 1, key_range)
        else:
            runs.append((index, index + 1, key_range))
    return runs


def _tiles_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: TileGrid) -> torch.Tensor:
    # Softmax attention does not depend on the order of the keys, so gathering a neighbour box in
    # grid order gives exactly the masked result, without building the mask. Only the gathered box
    # (at most the window's tiles) is copied; queries of one spatial tile are attended together.
    batch, _, heads, dim = q.shape
    nt, nh, nw = grid.tiles
    shape = (batch, nt, nh, nw, grid.tokens, heads, dim)
    q6, k6, v6 = q.view(shape), k.view(shape), v.view(shape)
    out = torch.empty_like(q)
    o6 = out.view(shape)
    t_runs = _runs([grid.neighbours(0, i) for i in range(nt)])
    for ih in range(nh):
        h0, h1 = grid.neighbours(1, ih)
        for iw in range(nw):
            w0, w1 = grid.neighbours(2, iw)
            for first, stop, (t0, t1) in t_runs:
                keys = k6[:, t0:t1, h0:h1, w0:w1].reshape(batch, -1, heads, dim).transpose(1, 2)
                values = v6[:, t0:t1, h0:h1, w0:w1].reshape(batch, -1, heads, dim).transpose(1, 2)
                queries = q6[:, first:stop, ih, iw].reshape(batch, -1, heads, dim).transpose(1, 2)
                result = F.scaled_dot_product_attention(queries, keys, values)
                o6[:, first:stop, ih, iw] = result.transpose(1, 2).reshape(batch, stop - first, grid.tokens,
                                                                            heads, dim)
    return out


# ---------------------------------------------------------------------------------------------
# flex attention


@functools.lru_cache(maxsize=1)
def _flex_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch.nn.attention.flex_attention") is not None


@functools.lru_cache(maxsize=1)
def _flex_function() -> Callable[..., torch.Tensor]:
    from torch.nn.attention.flex_attention import flex_attention

    if torch.cuda.is_available():
        # Compiled only where it pays off; on CPU the eager path is used (tests, small shapes).
        return torch.compile(flex_attention, dynamic=False)
    return flex_attention


@functools.lru_cache(maxsize=16)
def _block_mask(grid: TileGrid, device: str):  # -> BlockMask
    from torch.nn.attention.flex_attention import create_block_mask

    coords = tile_coordinates(grid, device)
    ct, ch, cw = coords[:, 0].contiguous(), coords[:, 1].contiguous(), coords[:, 2].contiguous()
    wt, wh, ww = grid.window if grid.window is not None else (10**9,) * 3

    def near(b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        return (((ct[q_idx] - ct[kv_idx]).abs() <= wt)
                & ((ch[q_idx] - ch[kv_idx]).abs() <= wh)
                & ((cw[q_idx] - cw[kv_idx]).abs() <= ww))

    return create_block_mask(near, B=None, H=None, Q_LEN=grid.seq_len, KV_LEN=grid.seq_len, device=device)


def _flex_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: TileGrid) -> torch.Tensor:
    import warnings

    mask = _block_mask(grid, str(q.device))
    with warnings.catch_warnings():
        # The eager (CPU) path warns that it is unfused; that is expected where we use it.
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        return _flex_function()(q, k, v, block_mask=mask)
