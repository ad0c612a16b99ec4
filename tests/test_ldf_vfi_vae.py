"""The conditional Wan VAE, the mask encoder and the tiling helpers on tiny shapes."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED, require_shared

from models.ldf_vfi.cond_vae import WanCondVAE
from models.ldf_vfi.tiling import (
    TileSpec,
    blend_grid,
    decode_rows,
    encode_mask_piece,
    encode_tiled,
    join_pieces,
    split_pieces,
)

MANIFESTS = SHARED / "manifests"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vae() -> WanCondVAE:
    torch.manual_seed(0)
    model = WanCondVAE(dim=4).eval()
    with torch.no_grad():  # the released zero convs are trained (non-zero); make the condition matter here too
        for p in model.zero_convs.parameters():
            p.normal_(0, 0.3)
    return model


def test_wan_part_equals_diffusers_autoencoder_kl_wan(vae: WanCondVAE) -> None:
    """Encoder/decoder follow Wan2.1 exactly: same numbers as diffusers' AutoencoderKLWan loaded
    through the manifest's key map (the map is the only renaming, and it is only for this check)."""
    from diffusers import AutoencoderKLWan

    key_map = json.loads(require_shared(MANIFESTS / "ldf_vfi_cond_vae.json").read_text())["key_map_to_diffusers_AutoencoderKLWan"]
    stock = AutoencoderKLWan(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                             temperal_downsample=[False, True, True]).eval()
    stock.load_state_dict({key_map[k]: v for k, v in vae.checkpoint_state_dict().items() if key_map.get(k)}, strict=True)
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    z = torch.randn(1, 16, 3, 4, 6)
    with torch.no_grad():
        mu, logvar = vae.encode_moments(x)
        posterior = stock.encode(x).latent_dist
        ours = vae.decode(vae.normalize(z))  # no condition: the plain Wan decoder
        theirs = stock.decode(z).sample
    torch.testing.assert_close(mu, posterior.mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logvar, posterior.logvar, atol=1e-5, rtol=1e-5)
    assert ours.shape == (1, 3, 9, 32, 48)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_condition_reaches_the_decoder(vae: WanCondVAE) -> None:
    z = torch.randn(2, 16, 2, 4, 4)
    cond = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 5, 32, 32)
    mask[:, :, 0] = 1
    with torch.no_grad():
        feats = vae.condition_features(cond, mask)
        plain, with_cond = vae.decode(z), vae.decode(z, cond, mask)
        other = vae.decode(z, cond.flip(-1), mask)
    # Two causal chunks (frame 0 | frames 1-4), 19 features each, decoder channel counts.
    assert len(feats) == 2 and all(len(f) == 19 for f in feats)
    assert [f.shape[2] for f in feats[0]] == [1] * 19 and [f.shape[2] for f in feats[1]] == [4] * 19
    assert feats[0][0].shape[1] == 16 and feats[0][-1].shape[1] == 4 and feats[0][-1].shape[-1] == 32
    assert with_cond.shape == plain.shape == (2, 3, 5, 32, 32)
    assert (with_cond - plain).abs().max() > 1e-3 and (with_cond - other).abs().max() > 1e-3
    assert with_cond.abs().max() <= 1.0


def test_posterior_sampling_is_seeded(vae: WanCondVAE) -> None:
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        a = vae.encode(x, torch.Generator().manual_seed(3))
        b = vae.encode(x, torch.Generator().manual_seed(3))
        c = vae.encode(x, torch.Generator().manual_seed(4))
        mean = vae.encode(x, sample=False)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == mean.shape == (1, 16, 2, 2, 2)
    # Batching pieces does not change the draws (so `vae_batch` does not change the output).
    pair = torch.cat([x, x.flip(-1)])
    with torch.no_grad():
        together = vae.encode(pair, torch.Generator().manual_seed(3))
        gen = torch.Generator().manual_seed(3)
        apart = torch.cat([vae.encode(pair[:1], gen), vae.encode(pair[1:], gen)])
    torch.testing.assert_close(together, apart)


def test_mask_encoder_layout() -> None:
    """Frame 0 is repeated into the 4 channels; each later group of 4 frames becomes 4 channels."""
    values = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0])
    mask = values.view(1, 1, 5, 1, 1).expand(2, 1, 5, 16, 24).clone()
    encoded = encode_mask_piece(mask, 8)
    assert encoded.shape == (2, 4, 2, 2, 3)
    assert encoded[0, :, 0, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert encoded[0, :, 1, 0, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    spatial = torch.zeros(1, 1, 5, 16, 16)
    spatial[..., 0, 0] = 1  # nearest neighbour picks the top-left pixel of each 8x8 block
    assert encode_mask_piece(spatial, 8)[0, 0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_pieces_round_trip() -> None:
    x = torch.randn(2, 3, 20, 4, 4)
    pieces = split_pieces(x, 5)
    assert pieces.shape == (8, 3, 5, 4, 4)
    assert torch.equal(pieces[1], x[1, :, :5]) and torch.equal(pieces[2], x[0, :, 5:10])  # piece-major
    assert torch.equal(join_pieces(pieces, 2), x)


def test_blend_is_linear_and_in_raster_order() -> None:
    a, b = torch.zeros(1, 4, 4), torch.ones(1, 4, 4)
    blend_grid([[a, b]], overlap=2)
    assert b[0, 0].tolist() == [0.0, 0.5, 1.0, 1.0]
    # Corner tile: blended with the (already blended) tile above, then with the left one.
    tiles = [[torch.zeros(1, 4, 4), torch.full((1, 4, 4), 2.0)], [torch.full((1, 4, 4), 4.0), torch.full((1, 4, 4), 8.0)]]
    blend_grid(tiles, overlap=2)
    assert tiles[0][1][0, 3, 0].item() == 0.0            # right tile's first column took the left tile's
    # (1,1)[1,1]: above (0,1) row 3 col 1 is 1 after its own left blend (raw: 2) -> 0.5*1 + 0.5*8 = 4.5;
    # left (1,0) row 1 col 3 is 2 after its own upper blend (raw: 4) -> 0.5*2 + 0.5*4.5 = 3.25.
    assert tiles[1][1][0, 1, 1].item() == 3.25


def test_tiled_encode_decode_cover_the_frame() -> None:
    spec = TileSpec(tile_px=32, stride_px=16, tile_frames=5)
    height, width = 40, 50  # 3 x 4 tiles; the border tiles reach past the image

    def pixels(y0: int, x0: int) -> torch.Tensor:
        return torch.ones(1, 1, 5, 32, 32)

    def encode(tile: torch.Tensor) -> torch.Tensor:  # stand-in "VAE": 8x average pooling
        return torch.nn.functional.avg_pool3d(tile, (1, 8, 8))

    grid = encode_tiled(pixels, height, width, spec, encode)
    assert grid.shape == (1, 3, 4, 1, 5, 2, 2) and torch.allclose(grid, torch.ones_like(grid))
    latent = grid.permute(0, 3, 4, 1, 5, 2, 6).reshape(1, 1, 5, 6, 8)
    boxes = []

    def decode(z: torch.Tensor, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        boxes.append((y0, y1, x0, x1))
        assert (y1 - y0, x1 - x0) == (z.shape[-2] * 8, z.shape[-1] * 8)
        return torch.nn.functional.interpolate(z, scale_factor=(1, 8, 8))

    strips = list(decode_rows(latent, spec, decode))
    assert [s.shape[-2] for s in strips] == [16, 16, 16] and strips[0].shape[-1] == 64
    assert torch.allclose(torch.cat(strips, dim=-2), torch.ones(1, 1, 5, 48, 64))
    assert boxes[0] == (0, 32, 0, 32) and boxes[-1] == (32, 48, 48, 64)
