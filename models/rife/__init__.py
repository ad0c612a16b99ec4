"""RIFE (Practical-RIFE 4.25 / 4.26 IFNet, MIT): a learned frame interpolator with any timestep.

Our own implementation written from the published architecture; it loads the released
`flownet.pkl` as it is.
- `network`: `IFNet` (five IFBlocks at scales 16..1, the feature head, the backward warp).
- `loading`: `load_components(paths, dtypes)` reads flownet.pkl (`module.` prefix, training-only
  tensors dropped, strict keys and shapes).
- `interpolator`: padding to 128, tiling with blended overlaps, `interpolate_stream` (factor k)
  and `stream_at_times` (any times per pair).
- `tiny`: the tiny random-weight twin for --tiny.

Importing this package imports nothing heavy; import the submodule you need.
"""
