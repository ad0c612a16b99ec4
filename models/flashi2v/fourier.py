"""FlashI2V's Fourier guidance: the high-frequency magnitude of the image latent.

Per sample, on the (Wan-normalised) image latent c of shape (C, H, W), in float32:
1. X = fftshift(fft2(c)) over (H, W); DC sits at (H//2, W//2);
2. r = distance of each bin from DC, in bins (not normalised by H or W);
3. the spectrum magnitude |X|, averaged over channels, summed over bins in order of increasing r:
   the cutoff r_cut is the radius where that running sum first reaches `ratio` of the total
   (0.1 at inference) — an energy fraction, not a fixed radius;
4. M = [r >= r_cut] (one mask for all channels), and the output is the *spatial* magnitude
   |ifft2(ifftshift(M X))|, i.e. |high-pass(c)| elementwise (M is conjugate-symmetric, so the
   inverse is real up to rounding; sqrt(re^2 + im^2 + 1e-12) as the reference computes it).

(PKU-YuanGroup/FlashI2V flashi2v/utils/filter.py, `HighFrequencyExtractor` with its inference
arguments; tests/test_flashi2v.py checks this against a direct NumPy reading of the steps above.)
"""
from __future__ import annotations

import torch

LOW_FREQ_ENERGY_RATIO = 0.1
_EPS = 1e-12


def _magnitude(z: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(z.real ** 2 + z.imag ** 2 + _EPS)


def radius_grid(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(H, W) distance of every fftshift-ed bin from DC, in bins."""
    y = torch.arange(height, device=device, dtype=torch.float32) - height // 2
    x = torch.arange(width, device=device, dtype=torch.float32) - width // 2
    return torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2)


def cutoff_radius(spectrum: torch.Tensor, radius: torch.Tensor, ratio: float) -> torch.Tensor:
    """(B,) radius where the channel-mean magnitude, accumulated from DC outwards, reaches `ratio`."""
    energy = _magnitude(spectrum).mean(dim=1).flatten(1)            # (B, H*W)
    order = torch.argsort(radius.flatten())
    r_sorted = radius.flatten()[order]
    running = torch.cumsum(energy[:, order], dim=1)
    target = running[:, -1:] * ratio
    k = (running < target).sum(dim=1).clamp(max=r_sorted.numel() - 1)
    return r_sorted[k]


def high_frequency(latent: torch.Tensor, ratio: float = LOW_FREQ_ENERGY_RATIO) -> torch.Tensor:
    """(B, C, H, W) image latent -> (B, C, H, W) high-frequency magnitude, in the latent's dtype."""
    if latent.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) latent, got shape {tuple(latent.shape)}")
    _, _, height, width = latent.shape
    spectrum = torch.fft.fftshift(torch.fft.fft2(latent.float(), dim=(-2, -1)), dim=(-2, -1))
    radius = radius_grid(height, width, latent.device)
    r_cut = cutoff_radius(spectrum, radius, ratio)
    mask = (radius[None] >= r_cut[:, None, None]).to(torch.float32)[:, None]   # (B, 1, H, W)
    high = torch.fft.ifft2(torch.fft.ifftshift(spectrum * mask, dim=(-2, -1)), dim=(-2, -1))
    return _magnitude(high).to(latent.dtype)


def fourier_features(image_latent: torch.Tensor, frames: int, ratio: float = LOW_FREQ_ENERGY_RATIO) -> torch.Tensor:
    """(B, C, 1, H, W) image latent -> its high-frequency magnitude repeated over `frames` latent frames."""
    return high_frequency(image_latent[:, :, 0], ratio).unsqueeze(2).expand(-1, -1, frames, -1, -1)
