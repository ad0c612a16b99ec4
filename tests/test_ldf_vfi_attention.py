"""Local tile attention: the mask equals a brute-force reference, and every backend (our tile
fallback, flex attention, dense masked SDPA) gives the same result on tiny shapes. Also: with full
attention our tile-grid DiT equals diffusers' Wan DiT on the assembled latent."""
from __future__ import annotations

import itertools

import pytest
import torch

from models.ldf_vfi.attention import (
    TileGrid,
    dense_mask,
    local_attention,
    tile_coordinates,
)

GRIDS = [
    TileGrid((3, 2, 3), 4, (2, 1, 1)),   # inference window: every temporal tile, 3x3 spatial
    TileGrid((3, 3, 4), 2, (1, 1, 1)),   # training default
    TileGrid((4, 2, 2), 3, (1, 0, 0)),
    TileGrid((2, 3, 3), 5, (2, 0, 0)),
    TileGrid((1, 4, 5), 2, (2, 1, 1)),
    TileGrid((2, 2, 2), 3, None),        # full attention
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _brute_force_mask(grid: TileGrid) -> torch.Tensor:
    nt, nh, nw = grid.tiles
    tiles = list(itertools.product(range(nt), range(nh), range(nw)))  # tile-major order
    size = grid.seq_len
    mask = torch.zeros(size, size, dtype=torch.bool)
    for q in range(size):
        a = tiles[q // grid.tokens]
        for k in range(size):
            b = tiles[k // grid.tokens]
            mask[q, k] = grid.window is None or all(abs(x - y) <= r for x, y, r in zip(a, b, grid.window))
    return mask


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_mask_equals_brute_force(grid: TileGrid) -> None:
    assert torch.equal(dense_mask(grid), _brute_force_mask(grid))


def test_tile_coordinates_are_tile_major() -> None:
    grid = TileGrid((2, 2, 3), 2, (1, 1, 1))
    coords = tile_coordinates(grid)
    assert coords[:2].tolist() == [[0, 0, 0]] * 2 and coords[2].tolist() == [0, 0, 1]
    assert coords[-1].tolist() == [1, 1, 2]


def test_keys_per_query_are_bounded_by_the_window() -> None:
    # Inference window on a 1080p-like grid (3 x 6 x 10 tiles of 1152 tokens): 3*3*3 tiles per query,
    # and it stays 27 tiles for a 4K grid.
    assert TileGrid((3, 6, 10), 1152, (2, 1, 1)).max_keys() == 27 * 1152
    assert TileGrid((3, 12, 20), 1152, (2, 1, 1)).max_keys() == 27 * 1152
    assert TileGrid((3, 6, 10), 8, None).max_keys() == 180 * 8


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_backends_agree(grid: TileGrid) -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, grid.seq_len, 3, 8, generator=gen) for _ in range(3))  # (B, S, heads, d)
    dense = local_attention(q, k, v, grid, backend="dense")
    tiles = local_attention(q, k, v, grid, backend="tiles")
    flex = local_attention(q, k, v, grid, backend="flex")
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))
    scores = (qh @ kh.transpose(-1, -2) / 8**0.5).masked_fill(~_brute_force_mask(grid), float("-inf"))
    manual = (torch.softmax(scores, dim=-1) @ vh).transpose(1, 2)
    torch.testing.assert_close(dense, manual, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tiles, dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(flex, dense, atol=1e-5, rtol=1e-5)
    assert local_attention(q, k, v, grid).shape == q.shape  # "auto" picks the tile fallback on CPU


def test_model_backends_agree_and_window_matters() -> None:
    from models.ldf_vfi.transformer import LDFVFITransformer3DModel

    torch.manual_seed(0)
    model = LDFVFITransformer3DModel(num_attention_heads=2, attention_head_dim=12, text_dim=8, freq_dim=16,
                                     ffn_dim=32, num_layers=2).eval()
    x = torch.randn(1, 3, 2, 3, 36, 2, 4, 4)
    t = torch.randint(0, 1000, (1, 3, 2, 3)).float()  # one timestep per tile
    with torch.no_grad():
        outs = {b: model(x, t, window=(2, 1, 1), attention_backend=b) for b in ("tiles", "flex", "dense")}
        full = model(x, t, window=None)
    torch.testing.assert_close(outs["tiles"], outs["dense"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs["flex"], outs["dense"], atol=1e-5, rtol=1e-5)
    assert (outs["tiles"] - full).abs().max() > 1e-3  # tiles two columns apart do not see each other


def test_token_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import models.ldf_vfi.transformer as module

    torch.manual_seed(0)
    model = module.LDFVFITransformer3DModel(num_attention_heads=2, attention_head_dim=12, text_dim=8,
                                            freq_dim=16, ffn_dim=32, num_layers=1).eval()
    x = torch.randn(1, 3, 3, 2, 36, 2, 4, 4)  # 18 tiles
    t = torch.randint(0, 1000, (1, 3, 3, 2)).float()
    results = []
    for chunk in (1, 5, 64):
        monkeypatch.setattr(module, "CHUNK_TILES", chunk)
        with torch.no_grad():
            results.append(model(x, t))
    torch.testing.assert_close(results[0], results[1])
    torch.testing.assert_close(results[0], results[2])


def test_window_layout_for_the_memory_plan() -> None:
    from models.ldf_vfi.tiling import window_layout

    hd = window_layout(1080, 1920)
    assert hd["tiles"] == (3, 6, 10) and hd["tokens_per_tile"] == 8 * 12 * 12 == 1152
    assert hd["tokens_per_window"] == 180 * 1152 == 207_360
    assert hd["max_keys_per_query"] == 27 * 1152 and hd["queries_per_attention_call"] == 3 * 1152
    assert hd["latent_window"] == (24, 144, 240) and hd["padded_frame"] == (1152, 1920)
    uhd = window_layout(2160, 3840)
    assert uhd["tiles"] == (3, 12, 20) and uhd["max_keys_per_query"] == hd["max_keys_per_query"]


def test_full_attention_equals_diffusers_wan() -> None:
    """Tile-wise patch embedding, global RoPE positions, adaLN and unpatchify are Wan's: with the
    window open and attn2 silenced (it is text cross-attention in diffusers, self-attention here),
    our model on a 2x2x3 tile grid equals diffusers' WanTransformer3DModel on the whole latent."""
    from diffusers import WanTransformer3DModel

    from models.ldf_vfi.transformer import LDFVFITransformer3DModel

    config = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
                  out_channels=16, text_dim=8, freq_dim=16, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                  qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
    torch.manual_seed(0)
    ours = LDFVFITransformer3DModel(**config).eval()
    state = ours.state_dict()
    for i in range(2):
        state[f"blocks.{i}.attn2.to_out.0.weight"].zero_()
        state[f"blocks.{i}.attn2.to_out.0.bias"].zero_()
    ours.load_state_dict(state)
    stock = WanTransformer3DModel(**config).eval()
    result = stock.load_state_dict(state, strict=False)
    assert set(result.missing_keys) == {f"condition_embedder.text_embedder.linear_{i}.{p}"
                                        for i in (1, 2) for p in ("weight", "bias")}
    nt, nh, nw, t, h, w = 2, 2, 3, 4, 6, 4
    x = torch.randn(1, nt, nh, nw, 36, t, h, w)
    with torch.no_grad():
        tiled = ours(x, torch.full((1, nt, nh, nw), 700.0), window=None)
        whole = x.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(1, 36, nt * t, nh * h, nw * w)
        expected = stock(whole, torch.tensor([700.0]), encoder_hidden_states=torch.randn(1, 5, 8),
                         return_dict=False)[0]
    got = tiled.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(1, 16, nt * t, nh * h, nw * w)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
