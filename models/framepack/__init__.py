"""FramePack (HunyuanVideo 13B with packed frame context): inverted anti-drifting and F1 forward sampling.

Modules, small and independent:
- `tiny`: random-weight twins of the real repos, written in the real repos' layout.
- `loading`: `from_pretrained` of every component (real or tiny, same code path).
- `buckets`, `prompts`, `schedule`: pure functions (resolution buckets, timestamped prompts, section layout).
- `sampler`: flow-matching sigmas, UniPC (bh1) and Euler in the k-diffusion style.
- `encode`, `preview`: text/image/VAE encoders and the cheap latent preview.
- `teacache`: removable per-instance TeaCache for the FramePack transformer.
- `pipeline`: the section loop (`generate`).

Importing this package imports neither torch-heavy submodules nor gradio; import the submodule you need.
"""
