"""LDF-VFI's conditional Wan2.1 VAE (`Wan2.1_VAE_cond_v2.pth`).

The Wan2.1 video VAE (causal 3D convs, 8x spatial / 4x temporal compression, 16 latent channels)
plus a *condition encoder* that reads the low-frame-rate frames (3 RGB channels + 1 frame-mask
channel) and *zero convolutions* that add its multi-scale features into the decoder. Parameter
names follow the original Wan VAE (`encoder.downsamples.N.residual.K...`), so the released .pth
loads with no renaming; tests/test_ldf_vfi_manifest.py checks every key and shape against
../shared/manifests/ldf_vfi_cond_vae.json, and tests/test_ldf_vfi_vae.py checks the Wan part
against diffusers' `AutoencoderKLWan` through the manifest's key map.

Behaviour (facts from xypeng9903/LDF-VFI training/models/vae2_1_cond_v2.py and precond.py):
- Encoding runs in temporal chunks of 1, 4, 4, ... frames with a causal cache (Wan's scheme); the
  LQ latents are a *sample* of the posterior (mu + exp(logvar/2) * eps), then normalised with the
  Wan2.1 latent mean/std (hard-coded constants, not stored in the file).
- Decoding runs one latent frame at a time with a causal cache. For latent frame i the condition
  encoder sees chunk i of the condition video (chunk 0 = frame 0, chunk i = frames 4i-3..4i),
  *without* a cache (so its temporal down-sampling convs never run: their weights exist in the file
  but are unused), giving 19 feature maps. Zero conv j maps feature j to the channels of decoder
  stage j and the result is added after the decoder's conv1, after each middle layer and after each
  up-sampling layer. When the decoder has fewer frames than the feature (the first frames of an
  up-sampling chain), the feature is cut to the first frames; when it has more, it is repeated.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Cache = dict  # module -> cached tensor / marker; one dict per causal pass

# Wan2.1 latent normalisation (per channel), as hard-coded in LDF-VFI's precond.py and Wan2.1.
LATENT_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
               0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
LATENT_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
              3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)

REAL_CONFIG: dict[str, Any] = {
    "dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
    "temperal_downsample": [False, True, True], "dropout": 0.0, "cond_encoder_in_channels": 4,
}


class CausalConv3d(nn.Conv3d):
    """Conv3d whose temporal padding is all on the past side (zeros), spatial padding symmetric.

    With a `cache`, the last frames of earlier inputs replace the zero padding, so running chunks
    one after another equals one causal pass over the whole sequence.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int] = 1, padding: int | tuple[int, int, int] = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)
        pt, ph, pw = (padding,) * 3 if isinstance(padding, int) else padding
        self.time_pad = 2 * pt
        self.space_pad = (pw, pw, ph, ph)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:  # type: ignore[override]
        past = None
        if cache is not None and self.time_pad > 0:
            past = cache.get(self)
            history = x if past is None else torch.cat([past, x], dim=2)
            cache[self] = history[:, :, -self.time_pad:]
        if past is not None:
            x = torch.cat([past, x], dim=2)
        pad_t = self.time_pad - (0 if past is None else past.shape[2])
        return super().forward(F.pad(x, (*self.space_pad, pad_t, 0)))


class RMSNormC(nn.Module):
    """Channel-first RMS norm: normalize(x, dim=1) * sqrt(C) * gamma (Wan's RMS_norm)."""

    def __init__(self, dim: int, images: bool) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # = F.normalize(x, dim=1) (x / max(|x|, 1e-12)) written as one rsqrt: much faster on CPU.
        inv = torch.rsqrt((x * x).sum(dim=1, keepdim=True).clamp_min(1e-24))
        return x * (inv * self.scale) * self.gamma


class NearestUp2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 because nearest interpolation has no bfloat16 kernel on some devices.
        return F.interpolate(x.float(), scale_factor=2.0, mode="nearest-exact").to(x.dtype)


def _per_frame(x: torch.Tensor, fn: nn.Module) -> torch.Tensor:
    b, c, t, h, w = x.shape
    y = fn(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
    return y.reshape(b, t, *y.shape[1:]).permute(0, 2, 1, 3, 4)


class Resample(nn.Module):
    """2x spatial up/down-sampling, optionally with Wan's causal 2x temporal change.

    Temporal behaviour needs a cache (it never runs without one, as in Wan): down-sampling keeps
    the first chunk as is and then convolves [last frame of the previous chunk, chunk] with
    stride 2; up-sampling leaves the first chunk alone and then doubles every frame with a causal
    conv whose 2C outputs are interleaved as (frame 2i, frame 2i+1).
    """

    def __init__(self, dim: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode in ("upsample2d", "upsample3d"):
            self.resample = nn.Sequential(NearestUp2x(), nn.Conv2d(dim, dim // 2, 3, padding=1))
        elif mode in ("downsample2d", "downsample3d"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=(2, 2)))
        else:
            raise ValueError(mode)
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=0)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        if self.mode == "upsample3d" and cache is not None:
            if self not in cache:
                cache[self] = True  # first chunk: no temporal up-sampling
            else:
                y = self.time_conv(x, cache)
                b, c2, t, h, w = y.shape
                x = y.reshape(b, 2, c2 // 2, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c2 // 2, t * 2, h, w)
        x = _per_frame(x, self.resample)
        if self.mode == "downsample3d" and cache is not None:
            previous = cache.get(self)
            cache[self] = x[:, :, -1:]
            if previous is not None:
                x = self.time_conv(torch.cat([previous, x], dim=2))
        return x


class ResidualBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            RMSNormC(in_dim, images=False), nn.SiLU(), CausalConv3d(in_dim, out_dim, 3, padding=1),
            RMSNormC(out_dim, images=False), nn.SiLU(), nn.Dropout(dropout),
            CausalConv3d(out_dim, out_dim, 3, padding=1))
        self.shortcut = CausalConv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        skip = self.shortcut(x)
        for layer in self.residual:
            x = layer(x, cache) if isinstance(layer, CausalConv3d) else layer(x)
        return x + skip


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNormC(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        del cache  # frame-local: nothing to carry over
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        qkv = self.to_qkv(self.norm(frames)).reshape(b * t, 3, c, h * w).transpose(-1, -2)
        out = F.scaled_dot_product_attention(qkv[:, 0:1], qkv[:, 1:2], qkv[:, 2:3]).squeeze(1)
        frames = frames + self.proj(out.transpose(-1, -2).reshape(b * t, c, h, w))
        return frames.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def _run(layer: nn.Module, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
    if isinstance(layer, (CausalConv3d, ResidualBlock, Resample, AttentionBlock)):
        return layer(x, cache)
    return layer(x)


# ---------------------------------------------------------------------------------------------
# Encoder / decoder / condition encoder. Each builder also returns the output channels and spatial
# scale of every layer, which sizes the zero convolutions without a dummy forward pass.


def _down_stages(dims: list[int], blocks_per_stage: int, temporal: Sequence[bool], dropout: float
                 ) -> tuple[nn.Sequential, list[tuple[int, int]]]:
    layers: list[nn.Module] = []
    shapes: list[tuple[int, int]] = []  # (channels, downscale) after each layer
    scale = 1
    for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(blocks_per_stage):
            layers.append(ResidualBlock(in_dim, out_dim, dropout))
            shapes.append((out_dim, scale))
            in_dim = out_dim
        if i != len(dims) - 2:
            layers.append(Resample(out_dim, "downsample3d" if temporal[i] else "downsample2d"))
            scale *= 2
            shapes.append((out_dim, scale))
    return nn.Sequential(*layers), shapes


def _middle(dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(ResidualBlock(dim, dim, dropout), AttentionBlock(dim), ResidualBlock(dim, dim, dropout))


class Encoder3d(nn.Module):
    def __init__(self, dim: int, z2: int, dim_mult: Sequence[int], num_res_blocks: int,
                 temporal: Sequence[bool], dropout: float) -> None:
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        self.downsamples, _ = _down_stages(dims, num_res_blocks, temporal, dropout)
        self.middle = _middle(dims[-1], dropout)
        self.head = nn.Sequential(RMSNormC(dims[-1], images=False), nn.SiLU(),
                                  CausalConv3d(dims[-1], z2, 3, padding=1))

    def forward(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        x = self.conv1(x, cache)
        for seq in (self.downsamples, self.middle, self.head):
            for layer in seq:
                x = _run(layer, x, cache)
        return x


class Decoder3d(nn.Module):
    def __init__(self, dim: int, z_dim: int, dim_mult: Sequence[int], num_res_blocks: int,
                 temporal_up: Sequence[bool], dropout: float) -> None:
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1], *dim_mult[::-1]]]
        self.conv1 = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.middle = _middle(dims[0], dropout)
        layers: list[nn.Module] = []
        # (channels, upscale) after conv1, each middle layer, then each up-sampling layer.
        self.stage_shapes: list[tuple[int, int]] = [(dims[0], 1)] * 4
        scale = 1
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                in_dim //= 2  # the previous stage's up-sampler halved the channels
            for _ in range(num_res_blocks + 1):
                layers.append(ResidualBlock(in_dim, out_dim, dropout))
                self.stage_shapes.append((out_dim, scale))
                in_dim = out_dim
            if i != len(dim_mult) - 1:
                layers.append(Resample(out_dim, "upsample3d" if temporal_up[i] else "upsample2d"))
                scale *= 2
                self.stage_shapes.append((out_dim // 2, scale))
        self.upsamples = nn.Sequential(*layers)
        self.head = nn.Sequential(RMSNormC(dims[-1], images=False), nn.SiLU(),
                                  CausalConv3d(dims[-1], 3, 3, padding=1))

    def forward(self, x: torch.Tensor, cache: Cache, feats: list[torch.Tensor] | None = None) -> torch.Tensor:
        pending = list(feats) if feats is not None else None

        def inject(h: torch.Tensor) -> torch.Tensor:
            if pending is None:
                return h
            f = pending.pop(0)
            if h.shape[2] > f.shape[2]:
                f = f.repeat(1, 1, h.shape[2] // f.shape[2], 1, 1)
            return h + f[:, :, : h.shape[2]]

        x = inject(self.conv1(x, cache))
        for seq in (self.middle, self.upsamples):
            for layer in seq:
                x = inject(_run(layer, x, cache))
        for layer in self.head:
            x = _run(layer, x, cache)
        return x


class ConditionEncoder(nn.Module):
    """Mirror of the decoder on the encoder side (num_res_blocks + 1 blocks per stage); reads
    [RGB, mask] and returns 19 feature maps in the decoder's injection order."""

    def __init__(self, in_channels: int, dim: int, dim_mult: Sequence[int], num_res_blocks: int,
                 temporal: Sequence[bool], dropout: float) -> None:
        super().__init__()
        dims = [dim * u for u in [1, *dim_mult]]
        self.conv1 = CausalConv3d(in_channels, dims[0], 3, padding=1)
        self.downsamples, down_shapes = _down_stages(dims, num_res_blocks + 1, temporal, dropout)
        self.middle = _middle(dims[-1], dropout)
        # Feature list (before reversal): the input of every down layer, the last down output,
        # then the input of every middle layer; reversed so that it starts at the bottleneck.
        outs = [(dims[0], 1), *down_shapes]
        mid = down_shapes[-1]
        self.feature_shapes: list[tuple[int, int]] = list(reversed(outs[:-1] + [outs[-1]] + [mid, mid, mid]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        h = self.conv1(x)
        for layer in self.downsamples:
            feats.append(h)
            h = layer(h)
        feats.append(h)
        for layer in self.middle:
            feats.append(h)
            h = layer(h)
        feats.reverse()
        return feats


class WanCondVAE(nn.Module):
    """The conditional VAE. Inputs/outputs are in [-1, 1]; latents are normalised (Wan mean/std)."""

    def __init__(self, dim: int = 96, z_dim: int = 16, dim_mult: Sequence[int] = (1, 2, 4, 4),
                 num_res_blocks: int = 2, attn_scales: Sequence[float] = (),
                 temperal_downsample: Sequence[bool] = (False, True, True), dropout: float = 0.0,
                 cond_encoder_in_channels: int = 4) -> None:
        super().__init__()
        if list(attn_scales):
            raise NotImplementedError("attention inside the VAE stages is not used by LDF-VFI")
        if z_dim != len(LATENT_MEAN):
            raise ValueError(f"z_dim must be {len(LATENT_MEAN)} (the Wan2.1 latent statistics)")
        self.config = {"dim": dim, "z_dim": z_dim, "dim_mult": list(dim_mult), "num_res_blocks": num_res_blocks,
                       "attn_scales": [], "temperal_downsample": list(temperal_downsample),
                       "dropout": dropout, "cond_encoder_in_channels": cond_encoder_in_channels}
        self.z_dim = z_dim
        temporal_up = list(temperal_downsample)[::-1]
        self.encoder = Encoder3d(dim, z_dim * 2, dim_mult, num_res_blocks, temperal_downsample, dropout)
        self.conv1 = CausalConv3d(z_dim * 2, z_dim * 2, 1)
        self.conv2 = CausalConv3d(z_dim, z_dim, 1)
        self.decoder = Decoder3d(dim, z_dim, dim_mult, num_res_blocks, temporal_up, dropout)
        self.cond_encoder = ConditionEncoder(cond_encoder_in_channels, dim, dim_mult, num_res_blocks,
                                             temperal_downsample, dropout)
        sources, targets = self.cond_encoder.feature_shapes, self.decoder.stage_shapes
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} condition features for {len(targets)} decoder stages")
        convs = []
        for (s_ch, s_down), (t_ch, t_up) in zip(sources, targets):
            # Spatial sizes agree when downscale * upscale == total compression (no resize needed).
            if s_down * t_up != 2 ** (len(dim_mult) - 1):
                raise NotImplementedError("condition features that need resizing are not supported")
            convs.append(nn.Sequential(CausalConv3d(s_ch, t_ch, 1)))
        self.zero_convs = nn.ModuleList(convs)
        self.init_buffers()

    def init_buffers(self) -> None:
        """(Re)create the latent statistics; they are constants, not in the checkpoint, so after a
        build on `meta` + `load_state_dict(assign=True)` they must be made again."""
        self.register_buffer("latent_mean", torch.tensor(LATENT_MEAN), persistent=False)
        self.register_buffer("latent_std", torch.tensor(LATENT_STD), persistent=False)

    # -- encoding ---------------------------------------------------------------------------

    def encode_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, 1+4k, H, W) -> (mu, logvar), each (B, z, 1+k, H/8, W/8), unnormalised."""
        cache: Cache = {}
        outs = [self.encoder(chunk, cache) for chunk in _causal_chunks(x)]
        mu, logvar = self.conv1(torch.cat(outs, dim=2)).chunk(2, dim=1)
        return mu, logvar

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1, 1)
        return (z - self.latent_mean.view(shape).to(z.dtype)) / self.latent_std.view(shape).to(z.dtype)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True) -> torch.Tensor:
        """Normalised latent of x; a posterior sample (as LDF-VFI does) unless `sample=False`."""
        mu, logvar = self.encode_moments(x)
        if sample:
            # One draw per batch item, so the numbers do not depend on how pieces are batched.
            eps = torch.cat([torch.randn((1, *mu.shape[1:]), generator=generator, dtype=torch.float32)
                             for _ in range(mu.shape[0])]).to(mu.device, mu.dtype)
            mu = mu + torch.exp(0.5 * logvar) * eps
        return self.normalize(mu)

    # -- decoding ---------------------------------------------------------------------------

    def chunk_features(self, chunk: torch.Tensor) -> list[torch.Tensor]:
        """The 19 zero-conv outputs for one causal chunk of [cond, mask] (1 or 4 frames)."""
        return [conv[0](f) for conv, f in zip(self.zero_convs, self.cond_encoder(chunk))]

    def condition_features(self, cond: torch.Tensor, mask: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per causal chunk of [cond, mask] (1, 4, 4, ... frames): the 19 zero-conv outputs."""
        x = torch.cat([cond, mask.to(cond.dtype)], dim=1)
        return [self.chunk_features(chunk) for chunk in _causal_chunks(x)]

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               clamp: bool = True) -> torch.Tensor:
        """Normalised latent (B, z, t, h, w) -> video (B, 3, 1+4(t-1), 8h, 8w).

        `cond` (B, 3, 1+4(t-1), 8h, 8w) in [-1, 1] and `mask` (B, 1, same) are the low-frame-rate
        frames and the 0/1 frame mask; without them this is the plain Wan2.1 decoder. The condition
        features of latent frame i are computed just before it is decoded (one chunk alive at once).
        """
        shape = (1, -1, 1, 1, 1)
        z = z * self.latent_std.view(shape).to(z.dtype) + self.latent_mean.view(shape).to(z.dtype)
        chunks = None
        if cond is not None and mask is not None:
            chunks = _causal_chunks(torch.cat([cond, mask.to(cond.dtype)], dim=1))
            if len(chunks) != z.shape[2]:
                raise ValueError(f"{z.shape[2]} latent frames but {len(chunks)} condition chunks")
        x = self.conv2(z)
        cache: Cache = {}
        frames = []
        for i in range(z.shape[2]):
            feats = self.chunk_features(chunks[i]) if chunks is not None else None
            frames.append(self.decoder(x[:, :, i:i + 1], cache, feats))
        out = torch.cat(frames, dim=2)
        return out.clamp(-1, 1) if clamp else out


def _causal_chunks(x: torch.Tensor) -> list[torch.Tensor]:
    """Frames 0 | 1..4 | 5..8 | ... (Wan's causal chunking; the length must be 1 + 4k)."""
    t = x.shape[2]
    if (t - 1) % 4:
        raise ValueError(f"{t} frames: Wan's causal VAE needs 1 + 4k frames")
    return [x[:, :, :1]] + [x[:, :, i:i + 4] for i in range(1, t, 4)]
