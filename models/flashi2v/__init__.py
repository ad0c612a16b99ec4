"""FlashI2V (PKU-YuanGroup/FlashI2V, arXiv 2509.25187): first frame + prompt -> video with
latent shifting and Fourier guidance on the Wan2.1-T2V-1.3B DiT, on the Wan layer.

- `transformer`: `FlashI2VTransformer3DModel` — diffusers' Wan DiT + `learnable_proj` + `fourier_embedding`;
- `fourier`: the high-frequency magnitude of the image latent (energy-fraction cutoff);
- `checkpoint`: the release file (npu or GPU-branch names) -> a diffusers folder, once;
- `loading`, `tiny`: the real / tiny repos; `memory`: the profile (Wan's); `pipeline`: the loop.
"""
