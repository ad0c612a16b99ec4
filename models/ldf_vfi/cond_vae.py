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


def decoder_stage_shapes(dim: int, dim_mult: Sequence[int], num_res_blocks: int) -> list[tuple[int, int]]:
    """(channels, upscale) after each injection point of the Wan decoder: conv_in, the three middle
    layers, then every residual block and up-sampler of the up blocks, in execution order."""
    dims = [dim * u for u in [dim_mult[-1], *dim_mult[::-1]]]
    shapes = [(dims[0], 1)] * 4
    scale = 1
    for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
        shapes += [(out_dim, scale)] * (num_res_blocks + 1)
        if i != len(dim_mult) - 1:
            scale *= 2
            shapes.append((out_dim // 2, scale))
    return shapes


def injection_points(decoder: nn.Module) -> list[nn.Module]:
    """The modules of diffusers' WanDecoder3d whose outputs receive a condition feature, in the
    order LDF-VFI adds them (after conv_in, each middle layer, each up-block layer)."""
    mid = decoder.mid_block
    points: list[nn.Module] = [decoder.conv_in, mid.resnets[0]]
    for attn, resnet in zip(mid.attentions, mid.resnets[1:]):
        points += [attn, resnet]
    for block in decoder.up_blocks:
        points += list(block.resnets)
        if block.upsamplers is not None:
            points.append(block.upsamplers[0])
    return points


class WanCondVAE(nn.Module):
    """The conditional VAE: diffusers' `AutoencoderKLWan` (as `wan`) + the condition encoder and
    zero convs. Inputs/outputs are in [-1, 1]; latents are normalised (Wan mean/std).

    The checkpoint (`Wan2.1_VAE_cond_v2.pth`) keeps the original Wan names; `load_checkpoint` maps
    the Wan part with diffusers' own converter (`convert_wan_vae_to_diffusers`) and
    `checkpoint_state_dict` gives the file layout back (the tiny kit writes it)."""

    def __init__(self, dim: int = 96, z_dim: int = 16, dim_mult: Sequence[int] = (1, 2, 4, 4),
                 num_res_blocks: int = 2, attn_scales: Sequence[float] = (),
                 temperal_downsample: Sequence[bool] = (False, True, True), dropout: float = 0.0,
                 cond_encoder_in_channels: int = 4) -> None:
        super().__init__()
        from diffusers import AutoencoderKLWan

        if list(attn_scales):
            raise NotImplementedError("attention inside the VAE stages is not used by LDF-VFI")
        if z_dim != len(LATENT_MEAN):
            raise ValueError(f"z_dim must be {len(LATENT_MEAN)} (the Wan2.1 latent statistics)")
        self.config = {"dim": dim, "z_dim": z_dim, "dim_mult": list(dim_mult), "num_res_blocks": num_res_blocks,
                       "attn_scales": [], "temperal_downsample": list(temperal_downsample),
                       "dropout": dropout, "cond_encoder_in_channels": cond_encoder_in_channels}
        self.z_dim = z_dim
        self.wan = AutoencoderKLWan(base_dim=dim, z_dim=z_dim, dim_mult=list(dim_mult), num_res_blocks=num_res_blocks,
                                    attn_scales=[], temperal_downsample=list(temperal_downsample), dropout=dropout,
                                    latents_mean=list(LATENT_MEAN), latents_std=list(LATENT_STD))
        self.cond_encoder = ConditionEncoder(cond_encoder_in_channels, dim, dim_mult, num_res_blocks,
                                             temperal_downsample, dropout)
        sources = self.cond_encoder.feature_shapes
        targets = decoder_stage_shapes(dim, dim_mult, num_res_blocks)
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

    # -- the checkpoint's layout -------------------------------------------------------------

    def checkpoint_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict in the released file's names (original Wan VAE naming for the Wan part)."""
        wan = self.wan.state_dict()
        names = _original_names(list(wan))
        out = {names[k]: v for k, v in wan.items()}
        for prefix in ("cond_encoder", "zero_convs"):
            out.update({f"{prefix}.{k}": v for k, v in getattr(self, prefix).state_dict().items()})
        return out

    def load_checkpoint(self, state: dict[str, torch.Tensor], assign: bool = False) -> None:
        """Load a state dict in the released file's names (strict: every key, every shape)."""
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        own = ("cond_encoder.", "zero_convs.")
        wan = convert_wan_vae_to_diffusers({k: v for k, v in state.items() if not k.startswith(own)})
        self.wan.load_state_dict(wan, strict=True, assign=assign)
        for prefix in ("cond_encoder", "zero_convs"):
            part = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
            getattr(self, prefix).load_state_dict(part, strict=True, assign=assign)

    # -- encoding ---------------------------------------------------------------------------

    def encode_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, 1+4k, H, W) -> (mu, logvar), each (B, z, 1+k, H/8, W/8), unnormalised."""
        posterior = self.wan.encode(x).latent_dist
        return posterior.mean, posterior.logvar

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

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised latent (B, z, t, h, w) -> video (B, 3, 1+4(t-1), 8h, 8w) in [-1, 1].

        `cond` (B, 3, 1+4(t-1), 8h, 8w) in [-1, 1] and `mask` (B, 1, same) are the low-frame-rate
        frames and the 0/1 frame mask; without them this is the plain Wan2.1 decoder. diffusers
        decodes one latent frame per decoder call; a pre-hook computes that frame's condition
        features (one chunk alive at once) and forward hooks add them at the injection points."""
        shape = (1, -1, 1, 1, 1)
        z = z * self.latent_std.view(shape).to(z.dtype) + self.latent_mean.view(shape).to(z.dtype)
        if cond is None or mask is None:
            return self.wan.decode(z).sample
        chunks = _causal_chunks(torch.cat([cond, mask.to(cond.dtype)], dim=1))
        if len(chunks) != z.shape[2]:
            raise ValueError(f"{z.shape[2]} latent frames but {len(chunks)} condition chunks")
        pending: list[torch.Tensor] = []
        frame = iter(chunks)

        def next_frame(module: nn.Module, args: tuple) -> None:
            pending[:] = self.chunk_features(next(frame))

        def inject(module: nn.Module, args: tuple, h: torch.Tensor) -> torch.Tensor:
            f = pending.pop(0)
            if h.shape[2] > f.shape[2]:
                f = f.repeat(1, 1, h.shape[2] // f.shape[2], 1, 1)
            return h + f[:, :, : h.shape[2]]

        decoder = self.wan.decoder
        handles = [decoder.register_forward_pre_hook(next_frame)]
        handles += [m.register_forward_hook(inject) for m in injection_points(decoder)]
        try:
            return self.wan.decode(z).sample
        finally:
            for handle in handles:
                handle.remove()


def _original_names(diffusers_keys: list[str]) -> dict[str, str]:
    """diffusers name -> original Wan VAE name: each guess is run through diffusers' own converter,
    so the two directions cannot disagree."""
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    back = {}
    for key in diffusers_keys:
        original = _guess_original(key)
        converted = list(convert_wan_vae_to_diffusers({original: torch.empty(0)}))
        if converted != [key]:
            raise ValueError(f"cannot map AutoencoderKLWan key {key!r} back to the checkpoint's names")
        back[key] = original
    return back


_RESIDUAL = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3", "conv2": "residual.6",
             "conv_shortcut": "shortcut"}


def _guess_original(key: str) -> str:
    """The original Wan VAE name of a diffusers AutoencoderKLWan key (checked by `_original_names`)."""
    parts = key.split(".")
    if parts[0] == "quant_conv":
        return ".".join(["conv1", *parts[1:]])
    if parts[0] == "post_quant_conv":
        return ".".join(["conv2", *parts[1:]])
    side, rest = parts[0], parts[1:]
    head = {"conv_in": ["conv1"], "norm_out": ["head", "0"], "conv_out": ["head", "2"]}
    if rest[0] in head:
        return ".".join([side, *head[rest[0]], *rest[1:]])
    if rest[0] == "mid_block":
        index = {"resnets.0": "0", "attentions.0": "1", "resnets.1": "2"}[f"{rest[1]}.{rest[2]}"]
        tail = rest[3:]
        if rest[1] == "resnets":
            tail = [*_RESIDUAL[tail[0]].split("."), *tail[1:]]
        return ".".join([side, "middle", index, *tail])
    if rest[0] == "down_blocks":  # the encoder's blocks are already one flat list
        tail = rest[2:]
        if tail[0] in _RESIDUAL:
            tail = [*_RESIDUAL[tail[0]].split("."), *tail[1:]]
        return ".".join([side, "downsamples", rest[1], *tail])
    if rest[0] == "up_blocks":
        return ".".join([side, "upsamples", *_flat_up_index(rest)])
    raise ValueError(f"unexpected AutoencoderKLWan key {key!r}")


_UP_LAYERS = 4  # per up block: num_res_blocks + 1 = 3 residual blocks + 1 up-sampler (Wan2.1 VAE)


def _flat_up_index(rest: list[str]) -> list[str]:
    block = int(rest[1])
    if rest[2] == "resnets":
        tail = rest[4:]
        tail = [*_RESIDUAL[tail[0]].split("."), *tail[1:]] if tail[0] in _RESIDUAL else tail
        return [str(block * _UP_LAYERS + int(rest[3])), *tail]
    return [str(block * _UP_LAYERS + 3), *rest[4:]]  # upsamplers.0.<resample|time_conv>...


def _causal_chunks(x: torch.Tensor) -> list[torch.Tensor]:
    """Frames 0 | 1..4 | 5..8 | ... (Wan's causal chunking; the length must be 1 + 4k)."""
    t = x.shape[2]
    if (t - 1) % 4:
        raise ValueError(f"{t} frames: Wan's causal VAE needs 1 + 4k frames")
    return [x[:, :, :1]] + [x[:, :, i:i + 4] for i in range(1, t, 4)]
