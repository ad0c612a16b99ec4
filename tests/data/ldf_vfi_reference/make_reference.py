"""One-off: record today's LDF-VFI outputs on the tiny twin (seed 0) before the Wan-layer refactor."""
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")
torch.set_num_threads(1)
from memory.placement import Placement
from models.ldf_vfi.loading import load_components
from models.ldf_vfi.pipeline import interpolate
from models.ldf_vfi.tiny import build_tiny_repos, tiny_component_paths

out = Path("tests/data/ldf_vfi_reference")
preset = tomllib.loads(Path("presets/ldf-vfi.toml").read_text())
root = Path("/tmp/ldf_ref_kit"); shutil.rmtree(root, ignore_errors=True)
build_tiny_repos(root, preset, seed=0)
paths = tiny_component_paths(root, preset)
shutil.copy(paths["transformer"] / "config.json", out / "transformer_config.json")
shutil.copy(paths["transformer"] / "diffusion_pytorch_model.safetensors", out / "transformer.safetensors")
shutil.copy(paths["cond_vae"] / "Wan2.1_VAE_cond_v2.pth", out / "Wan2.1_VAE_cond_v2.pth")
comps = load_components(paths, {"transformer": "float32", "cond_vae": "float32"})
g = torch.Generator().manual_seed(1)
res = {}
with torch.no_grad():
    x = torch.randn(1, 3, 2, 3, 36, 2, 4, 4, generator=g)
    t = torch.randint(0, 1000, (1, 3, 2, 3), generator=g).float()
    res["dit_x"], res["dit_t"] = x.numpy(), t.numpy()
    res["dit_out"] = comps["transformer"](x, t, window=(2, 1, 1), attention_backend="tiles").numpy()
    vae = comps["cond_vae"]
    pix = torch.rand(1, 3, 5, 32, 48, generator=g) * 2 - 1
    res["vae_pix"] = pix.numpy()
    res["vae_mu"] = vae.encode(pix, sample=False).numpy()
    z = torch.randn(1, 16, 2, 4, 6, generator=g)
    mask = (torch.rand(1, 1, 5, 32, 48, generator=g) > 0.5).float()
    res["vae_z"], res["vae_mask"] = z.numpy(), mask.numpy()
    res["vae_dec"] = vae.decode(z, pix, mask).numpy()
    res["vae_dec_plain"] = vae.decode(z).numpy()
rng = np.random.default_rng(0)
frames = [(rng.random((40, 56, 3)) * 255).astype(np.uint8) for _ in range(5)]
pl = Placement(torch.device("cpu"), comps)
made = list(interpolate(pl, frames, 3, steps=2, tile_px=64, vae_batch=4, seed=7))
res["frames_in"] = np.stack(frames); res["frames_out"] = np.stack(made)
np.savez_compressed(out / "outputs.npz", **res)
print({k: v.shape for k, v in res.items()})
