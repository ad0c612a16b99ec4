"""The Wan layer: diffusers' Wan classes (DiT, VACE, Animate, VAE 2.1/2.2, UMT5, CLIP-H) loaded
through memory/, one denoise loop, and the memory options every Wan family shares."""
