"""LDF-VFI (onecat-ai/LDF-VFI): video frame interpolation with an auto-regressive latent diffusion
transformer (Wan2.1-1.3B DiT, 36 input channels, no text) and a conditional Wan VAE decoder.

Modules, small and independent (see docs/ldf_vfi.md for the method and the verified facts):
- `transformer`: `LDFVFITransformer3DModel` — the DiT over space-time tiles, per-tile timesteps.
- `attention`: local attention between neighbouring tiles; tile fallback, flex and dense backends.
- `cond_vae`: `WanCondVAE` — Wan2.1 VAE + condition encoder + zero convs (`Wan2.1_VAE_cond_v2.pth`).
- `tiling`: 256 px / 20-frame tiles, blending, the parameter-free mask encoder.
- `schedule`: the skip-then-concatenate chunk schedule (pure functions).
- `sampler`: shifted flow-matching Euler with per-tile noise levels.
- `frames`: lazy input frames and the nearest-frame-filled low-frame-rate condition.
- `pipeline`: `interpolate(placement, frames, factor, ...)`, a frame iterator.
- `loading`, `tiny`: load the real/tiny repo; write the tiny random-weight twin.

Importing this package imports nothing heavy; import the submodule you need.
"""
