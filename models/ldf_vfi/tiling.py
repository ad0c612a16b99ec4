"""Space-time tiling of LDF-VFI: how pixels become DiT tiles and latents become pixels again.

Facts (xypeng9903/LDF-VFI training/models/precond.py, quick_start/generate.sh): pixel tiles of
256x256 at a stride of 192 (64 px overlap), temporal tiles of 20 frames, each cut into 5-frame
pieces that the VAE codes independently (5 frames <-> 2 latent frames). Encoding: every 256 px
tile (zero-padded past the image) is encoded to 32x32 latents, blended linearly over the 8-latent
overlap with the tile above and the tile to the left, then cropped to its 24x24 stride: these
24x24 latent tiles are exactly the DiT's spatial tiles (12x12 tokens after 2x2 patches). Decoding:
32x32 latent tiles at a stride of 24 are decoded (with the matching pixels of the low-frame-rate
video as the condition), blended over 64 px and cropped to 192 px.

Blending is done in raster order and in place, so a tile is blended with neighbours that were
themselves already blended (the reference's order; it matters at the corners).

Memory: encoding holds only latents; decoding streams one row of tiles at a time, so pixel
buffers are O(tile rows), not O(frame), besides the uint8 output frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch


@dataclass(frozen=True)
class TileSpec:
    tile_px: int = 256
    stride_px: int = 192
    tile_frames: int = 20
    spatial_ratio: int = 8
    chunk_frames: int = 5       # frames per independent VAE piece
    chunk_latents: int = 2      # latent frames per piece (1 + (5 - 1) / 4)

    def __post_init__(self) -> None:
        r = self.spatial_ratio
        if self.tile_px % r or self.stride_px % (2 * r) or not 0 < self.stride_px <= self.tile_px:
            raise ValueError(f"tile {self.tile_px}/stride {self.stride_px} px: stride must divide into "
                             f"even latent tiles (multiple of {2 * r}) and not exceed the tile")
        if self.tile_frames % self.chunk_frames:
            raise ValueError(f"tile_frames {self.tile_frames} must be a multiple of {self.chunk_frames}")

    @property
    def latent_tile(self) -> int:
        return self.tile_px // self.spatial_ratio

    @property
    def latent_stride(self) -> int:
        return self.stride_px // self.spatial_ratio

    @property
    def latent_frames(self) -> int:
        """Latent frames per temporal tile (8 for 20 frames)."""
        return self.tile_frames // self.chunk_frames * self.chunk_latents

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) of spatial tiles for a frame size."""
        return math.ceil(height / self.stride_px), math.ceil(width / self.stride_px)


def blend_grid(tiles: list[list[torch.Tensor]], overlap: int) -> None:
    """Blend every tile with its upper and left neighbours over `overlap` rows/columns, in place."""
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            if i > 0:
                _blend(tiles[i - 1][j], tile, overlap, dim=-2)
            if j > 0:
                _blend(row[j - 1], tile, overlap, dim=-1)


def _blend(before: torch.Tensor, tile: torch.Tensor, overlap: int, dim: int) -> None:
    extent = min(before.shape[dim], tile.shape[dim], overlap)
    if extent <= 0:
        return
    weight = torch.arange(extent, dtype=torch.float32, device=tile.device) / extent
    shape = [1] * tile.dim()
    shape[dim] = extent
    weight = weight.view(shape).to(tile.dtype)
    head = tile.narrow(dim, 0, extent)
    tail = before.narrow(dim, before.shape[dim] - extent, extent)
    head.copy_(tail * (1 - weight) + head * weight)


def encode_tiled(pixels: Callable[[int, int], torch.Tensor], height: int, width: int, spec: TileSpec,
                 encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Tiled encoding. `pixels(y0, x0)` gives a zero-padded tile (B, C, T, tile, tile); `encode`
    maps (B, C, T, tile, tile) to latents (B, C', T', tile/8, tile/8). Returns the DiT tile grid
    (B, nH, nW, C', T', stride/8, stride/8)."""
    rows_n, cols_n = spec.grid(height, width)
    tiles = [[encode(pixels(i * spec.stride_px, j * spec.stride_px)) for j in range(cols_n)]
             for i in range(rows_n)]
    blend_grid(tiles, spec.latent_tile - spec.latent_stride)
    s = spec.latent_stride
    return torch.stack([torch.stack([t[..., :s, :s] for t in row], dim=1) for row in tiles], dim=1)


def decode_rows(latent: torch.Tensor, spec: TileSpec,
                decode: Callable[[torch.Tensor, int, int, int, int], torch.Tensor]) -> Iterator[torch.Tensor]:
    """Tiled decoding of a latent plane (B, C, T', h, w), one row strip at a time.

    `decode(z_tile, y0, y1, x0, x1)` decodes a latent tile whose pixels are [y0, y1) x [x0, x1)
    of the padded canvas (so it can cut the matching condition pixels). Yields strips
    (B, 3, T, rows, w*8) of at most `stride_px` rows, top to bottom.
    """
    lt, ls, r = spec.latent_tile, spec.latent_stride, spec.spatial_ratio
    h, w = latent.shape[-2:]
    overlap = spec.tile_px - spec.stride_px
    previous: list[torch.Tensor] | None = None
    for i in range(0, h, ls):
        row = []
        for j in range(0, w, ls):
            z = latent[..., i:i + lt, j:j + lt]
            row.append(decode(z, i * r, (i + z.shape[-2]) * r, j * r, (j + z.shape[-1]) * r))
        for j, tile in enumerate(row):  # the row above was blended in its own pass already
            if previous is not None:
                _blend(previous[j], tile, overlap, dim=-2)
            if j > 0:
                _blend(row[j - 1], tile, overlap, dim=-1)
        yield torch.cat([t[..., : spec.stride_px, : spec.stride_px] for t in row], dim=-1)
        previous = row


def encode_mask_piece(mask: torch.Tensor, spatial_ratio: int) -> torch.Tensor:
    """LDF-VFI's parameter-free mask encoder: (N, 1, 1 + 4k, H, W) -> (N, 4, 1 + k, H/8, W/8).

    Frame 0 is repeated into 4 channels; each later group of 4 frames becomes the 4 channels of one
    latent frame (frame order = channel order). Space is subsampled by nearest neighbour
    (the top-left pixel of each 8x8 block).
    """
    t = mask.shape[2]
    if (t - 1) % 4:
        raise ValueError(f"{t} mask frames: need 1 + 4k")
    small = mask[:, 0, :, ::spatial_ratio, ::spatial_ratio]  # (N, T, h, w)
    first = small[:, :1].expand(-1, 4, -1, -1).unsqueeze(2)
    rest = [small[:, k:k + 4].unsqueeze(2) for k in range(1, t, 4)]
    return torch.cat([first, *rest], dim=2)


def split_pieces(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, C, k*frames, H, W) -> (k*B, C, frames, H, W), piece-major (the reference's order)."""
    b, c, t, h, w = x.shape
    return x.reshape(b, c, t // frames, frames, h, w).permute(2, 0, 1, 3, 4, 5).reshape(-1, c, frames, h, w)


def join_pieces(x: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of `split_pieces` on the output: (k*B, C, f, H, W) -> (B, C, k*f, H, W)."""
    kb, c, f, h, w = x.shape
    k = kb // batch
    return x.reshape(k, batch, c, f, h, w).permute(1, 2, 0, 3, 4, 5).reshape(batch, c, k * f, h, w)


def window_layout(height: int, width: int, spec: TileSpec = TileSpec(), window_frames: int = 60,
                  patch: tuple[int, int, int] = (1, 2, 2), window: tuple[int, int, int] | None = (2, 1, 1)
                  ) -> dict[str, object]:
    """Sizes of one DiT call (one chunk) for a frame size: what a memory plan needs. No torch.

    The DiT sees the whole window as one sequence of `tokens_per_window` tokens (batch 1); the
    tile fallback attends, per spatial tile, the queries of the temporal tiles sharing a key range
    to at most `max_keys_per_query` keys.
    """
    n_h, n_w = spec.grid(height, width)
    n_t = window_frames // spec.tile_frames
    pt, ph, pw = patch
    tile_tokens = (spec.latent_frames // pt) * (spec.latent_stride // ph) * (spec.latent_stride // pw)
    reach = window if window is not None else (n_t, n_h, n_w)
    keys_tiles = min(n_t, 2 * reach[0] + 1) * min(n_h, 2 * reach[1] + 1) * min(n_w, 2 * reach[2] + 1)
    return {
        "tiles": (n_t, n_h, n_w),
        "tokens_per_tile": tile_tokens,
        "tokens_per_window": n_t * n_h * n_w * tile_tokens,
        "max_keys_per_query": keys_tiles * tile_tokens,
        "queries_per_attention_call": (n_t if reach[0] >= n_t - 1 else 1) * tile_tokens,
        "latent_window": (spec.latent_frames * n_t, n_h * spec.latent_stride, n_w * spec.latent_stride),
        "padded_frame": (n_h * spec.stride_px, n_w * spec.stride_px),
        "vae_tile": {"pixels": spec.tile_px, "stride": spec.stride_px, "frames_per_piece": spec.chunk_frames,
                     "tiles_per_frame": n_h * n_w},
    }
