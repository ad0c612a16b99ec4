"""IFNet of Practical-RIFE 4.25 / 4.26 (MIT), written from its published architecture.

Five IFBlocks refine a pair of flows (t->0, t->1) coarse to fine at scales 16, 8, 4, 2, 1; a small
conv head gives 4 feature channels per frame that are warped along. Each block sees both frames
(warped by the current flow), both warped features, the timestep plane, the previous block's mask
logit and its 8 feature channels; it returns a flow update, a new mask logit and new features.
The frame at t is `warp(I0, f_t0) * m + warp(I1, f_t1) * (1 - m)`, m = sigmoid(mask logit).

Parameter names follow the released `flownet.pkl` (block0..block4, encode), so its state dict
loads as it is. Block widths are constructor arguments only so a tiny twin can be narrower.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

REAL_WIDTHS = (192, 128, 96, 64, 32)
SCALES = (16.0, 8.0, 4.0, 2.0, 1.0)
PAD_MULTIPLE = 128   # the coarsest block works at 1/64 of a 1/16-scaled frame: keep sides divisible
FEATURES = 4         # channels of the head's features, per frame
BLOCK_EXTRA = 8      # feature channels one block hands to the next
_FIRST_IN = 3 + 3 + FEATURES * 2 + 1                       # frames, features, timestep
_LATER_IN = 3 + 3 + FEATURES * 2 + 1 + 1 + BLOCK_EXTRA + 4  # + mask logit, block features, flow


def _conv_act(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: output(x) = image(x + flow(x)), bilinear, border-clamped (flow in pixels).

    Always sampled in float32: in float16 the normalised grid's step near +-1 is ~0.5 px on a
    2048 px tile, and the CPU's half grid sampler returns NaNs; the result keeps `image`'s dtype."""
    dtype = image.dtype
    image, flow = image.float(), flow.float()
    _, _, h, w = flow.shape
    # align_corners=True: pixel 0 -> -1 and pixel n-1 -> +1; a flow of (n-1)/2 px spans 1 unit
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    gx = xs + flow[:, 0] / ((w - 1.0) / 2.0)
    gy = ys + flow[:, 1] / ((h - 1.0) / 2.0)
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True).to(dtype)


class ResConv(nn.Module):
    """3x3 conv with a learned per-channel gain, added to its input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class Head(nn.Module):
    """Per-frame features at full resolution (stride-2 conv, two convs, transposed conv back)."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, FEATURES, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


class IFBlock(nn.Module):
    """One refinement level: works at 1/scale, 4x further down inside, returns at full size."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_act(in_channels, width // 2, 2), _conv_act(width // 2, width, 2))
        self.convblock = nn.Sequential(*[ResConv(width) for _ in range(8)])
        # 4 flow + 1 mask + 8 features, x4 for the pixel shuffle
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, 4 * (4 + 1 + BLOCK_EXTRA), 4, 2, 1),
                                      nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            # flows are in pixels: a smaller frame has proportionally smaller ones
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class IFNet(nn.Module):
    def __init__(self, widths: Sequence[int] = REAL_WIDTHS) -> None:
        super().__init__()
        if len(widths) != len(SCALES):
            raise ValueError(f"IFNet has {len(SCALES)} blocks, got {len(widths)} widths")
        for i, width in enumerate(widths):
            self.add_module(f"block{i}", IFBlock(_FIRST_IN if i == 0 else _LATER_IN, int(width)))
        self.encode = Head()

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(SCALES))]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float | torch.Tensor,
                scales: Sequence[float] = SCALES) -> torch.Tensor:
        """The frame at `timestep` (a float, or one value per batch item) between two (B, 3, H, W)
        frames in [0, 1]; H and W must be multiples of PAD_MULTIPLE (see interpolator.pad)."""
        b, _, h, w = img0.shape
        t = torch.as_tensor(timestep, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        t = t.expand(b, 1, h, w)
        f0, f1 = self.encode(img0), self.encode(img1)
        flow = mask = feat = None
        warped0, warped1 = img0, img1
        for block, scale in zip(self.blocks, scales):
            if flow is None:
                flow, mask, feat = block(torch.cat((img0, img1, f0, f1, t), 1), None, scale)
            else:
                wf0, wf1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])
                inputs = torch.cat((warped0, warped1, wf0, wf1, t, mask, feat), 1)
                delta, mask, feat = block(inputs, flow, scale)
                flow = flow + delta
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)
