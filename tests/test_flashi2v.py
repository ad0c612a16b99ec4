"""FlashI2V on the Wan layer: the released checkpoint's names, the Fourier features, and the loop's
equations checked call by call on the tiny twin (random weights: the frames are noise)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import SHARED, require_shared

W, H, FRAMES = 64, 48, 9
pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------ checkpoint


def _meta_model(conv3x3x3: bool):
    from models.flashi2v.loading import STORED_CONFIG
    from models.flashi2v.transformer import FlashI2VTransformer3DModel

    config = json.loads(STORED_CONFIG.read_text())
    with torch.device("meta"):
        return FlashI2VTransformer3DModel.from_config({**config, "conv3x3x3_proj": conv3x3x3})


@pytest.mark.parametrize("layout", ["npu", "main"])
def test_release_names_map_one_to_one_onto_our_class(layout) -> None:
    """Every tensor of the manifest (released npu layout / GPU-branch layout) lands on a parameter
    of our class with its shape, and every parameter is covered; totals equal the manifest's."""
    from models.flashi2v.checkpoint import layout_of, to_diffusers_names

    manifest = json.loads(require_shared(SHARED / "manifests" / "flashi2v_1.3b.json").read_text())
    if layout == "npu":
        entry = manifest["alternate_checkpoint_layouts"]["npu_mindspeed_mm"]
        params, extra = entry["params"], entry["extra_state_keys"]
    else:
        entry, params, extra = manifest, manifest["params"], []
    model = _meta_model(conv3x3x3=layout == "npu")
    fake = {k: torch.empty(shape, device="meta") for k, shape in params.items()}
    fake.update({k: None for k in extra})  # Megatron's _extra_state entries hold no tensor
    assert layout_of(fake) == layout
    mapped = to_diffusers_names(fake)
    ours = model.state_dict()
    assert set(mapped) == set(ours)
    assert all(tuple(mapped[k].shape) == tuple(v.shape) for k, v in ours.items())
    assert sum(p.numel() for p in model.parameters()) == entry["total_params"]


def test_stored_config_sizes_the_real_transformer_exactly() -> None:
    from memory.sizes import component_size

    size = component_size("transformer", "models.flashi2v.transformer:FlashI2VTransformer3DModel",
                          "yunyangge/FlashI2V-1.3B", "", "bfloat16")
    assert size.cls == "FlashI2VTransformer3DModel" and size.params == 1_421_512_848
    assert [(b.path, len(b.block_bytes)) for b in size.block_lists] == [("blocks", 30)]  # the added heads are not blocks


def _tiny_state():
    from models.flashi2v.transformer import FlashI2VTransformer3DModel

    torch.manual_seed(0)
    model = FlashI2VTransformer3DModel(num_attention_heads=2, attention_head_dim=12, text_dim=16, freq_dim=16,
                                       ffn_dim=32, num_layers=2)
    for last in (model.learnable_proj[2], model.fourier_embedding[1]):
        torch.nn.init.normal_(last.weight, std=0.05)
    return model


@pytest.mark.parametrize("layout", ["npu-wrapped", "main-safetensors"])
def test_a_release_file_loads_into_equal_weights(tmp_path, monkeypatch, layout) -> None:
    """Release layouts -> conversion (once, cached) -> the Wan loader: the same tensors come back."""
    import re

    from safetensors.torch import save_file

    from models.flashi2v import checkpoint
    from models.flashi2v.loading import load_transformer

    monkeypatch.setenv("FRAME_STUDIO_CACHE", str(tmp_path / "cache"))
    model = _tiny_state()
    repo = tmp_path / "repo"
    (repo / "npu").mkdir(parents=True)
    model.save_config(repo)
    release = checkpoint.to_release_layout(model.state_dict())
    if layout == "npu-wrapped":
        release["blocks.0.self_attn.proj_q._extra_state"] = None
        torch.save({"ema_model": release, "args": None}, repo / "npu" / "flashi2v_1_3B.pt")  # one folder down
    else:
        main = {}
        for key, value in release.items():
            for pattern, repl in checkpoint._NPU_TO_MAIN:
                key = re.sub(pattern, repl, key)
            main[key] = value.contiguous()
        save_file(main, str(repo / "model.safetensors"))
    loaded = load_transformer(repo, "float32")
    theirs = loaded.state_dict()
    assert set(theirs) == set(model.state_dict())
    assert all(torch.equal(theirs[k], v) for k, v in model.state_dict().items())
    converted = list((tmp_path / "cache" / "converted").glob("flashi2v--*"))
    load_transformer(repo, "float32")
    assert list((tmp_path / "cache" / "converted").glob("flashi2v--*")) == converted and len(converted) == 1


def test_resolver_finds_the_release_file_one_folder_down(tmp_path) -> None:
    from studio.presets import _missing_patterns, download_commands, get_preset

    (tmp_path / "npu").mkdir()
    assert _missing_patterns(tmp_path, ("**/*.pt",)) == ("**/*.pt",)
    (tmp_path / "npu" / "flashi2v_1_3B.pt").write_bytes(b"x")
    assert _missing_patterns(tmp_path, ("**/*.pt",)) == ()
    command = [c for c in download_commands(get_preset("flashi2v-1.3b")) if "FlashI2V" in c][0]
    assert "--include '*.pt'" in command and "**" not in command  # the hub's fnmatch spans folders


# ------------------------------------------------------------------------------------------ Fourier


def _reference_high_frequency(latent: np.ndarray, ratio: float) -> np.ndarray:
    """The paper's filter read step by step, in NumPy, with explicit loops for the cutoff."""
    c, h, w = latent.shape
    spectrum = np.fft.fftshift(np.fft.fft2(latent.astype(np.float64)), axes=(-2, -1))
    radius = np.array([[np.hypot(y - h // 2, x - w // 2) for x in range(w)] for y in range(h)])
    energy = np.sqrt(spectrum.real ** 2 + spectrum.imag ** 2 + 1e-12).mean(axis=0)
    pairs = sorted(zip(radius.flatten(), energy.flatten()), key=lambda rv: rv[0])
    total = sum(v for _, v in pairs)
    running, cut = 0.0, pairs[-1][0]
    for r, v in pairs:
        running += v
        if running >= ratio * total:
            cut = r
            break
    high = np.fft.ifft2(np.fft.ifftshift(spectrum * (radius >= cut), axes=(-2, -1)))
    return np.sqrt(high.real ** 2 + high.imag ** 2 + 1e-12)


@pytest.mark.parametrize("shape,ratio", [((16, 12, 20), 0.1), ((4, 15, 9), 0.3), ((16, 60, 104), 0.1)])
def test_fourier_features_follow_the_energy_fraction_filter(shape, ratio) -> None:
    from models.flashi2v.fourier import fourier_features, high_frequency

    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.standard_normal(shape), axis=1), axis=2) / 10  # most energy near DC
    latent = torch.from_numpy(smooth + 0.1 * rng.standard_normal(shape)).float()[None]
    ours = high_frequency(latent, ratio)[0].numpy()
    assert np.allclose(ours, _reference_high_frequency(latent[0].numpy(), ratio), atol=2e-5)
    assert not np.allclose(ours, high_frequency(latent, ratio + 0.2)[0].numpy(), atol=1e-3)  # the cutoff moves
    # the reference's edge case: when DC alone holds more than `ratio` of the magnitude, r_cut = 0
    # and nothing is removed (a constant latent comes back as its magnitude)
    flat = high_frequency(torch.full((1, *shape), -3.0), ratio)
    assert torch.allclose(flat, torch.full_like(flat, 3.0), atol=1e-4)
    repeated = fourier_features(latent[:, :, None], 5, ratio)
    assert repeated.shape == (1, shape[0], 5, shape[1], shape[2])
    assert torch.equal(repeated[:, :, 3], repeated[:, :, 0])


# ------------------------------------------------------------------------------------------ model


def test_fresh_added_modules_leave_the_wan_dit_unchanged() -> None:
    """Zero-initialised last layers: p = 0 and no Fourier tokens, i.e. exactly diffusers' Wan DiT."""
    from diffusers import WanTransformer3DModel

    from models.flashi2v.transformer import FlashI2VTransformer3DModel

    kw = dict(num_attention_heads=2, attention_head_dim=12, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=2)
    torch.manual_seed(0)
    ours = FlashI2VTransformer3DModel(**kw).eval()
    wan = WanTransformer3DModel(**kw).eval()
    missing, unexpected = wan.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and all(k.startswith(("learnable_proj", "fourier_embedding")) for k in unexpected)
    x, ctx = torch.randn(1, 16, 3, 6, 8), torch.randn(1, 5, 16)
    with torch.no_grad():
        assert float(ours.latent_shift(x[:, :, :1], 3).abs().max()) == 0.0
        a = ours(x, torch.tensor([500.0]), ctx, fourier_features=torch.randn(1, 16, 3, 6, 8), return_dict=False)[0]
        b = wan(x, torch.tensor([500.0]), ctx, return_dict=False)[0]
    assert torch.equal(a, b)


def test_latent_shift_repeats_then_convolves() -> None:
    """npu order: c is repeated over the frames before the 3x3x3 conv, so the end frames differ."""
    model = _tiny_state().eval()
    c = torch.randn(1, 16, 1, 6, 8)
    p = model.latent_shift(c, 6)
    direct = model.learnable_proj(c.repeat(1, 1, 6, 1, 1))
    assert torch.equal(p, direct) and p.shape == (1, 16, 6, 6, 8)
    # two stacked 3x3x3 convs see 2 frames each way: frames 2 and 3 are interior, 0 and 1 are not
    assert torch.allclose(p[:, :, 2], p[:, :, 3], atol=1e-6) and not torch.allclose(p[:, :, 0], p[:, :, 2])


# ------------------------------------------------------------------------------------------ the loop


def _image(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8)


def _run(tmp_path, vram_gb=None, record=None, **kw):
    from models.flashi2v.loading import load_components
    from models.flashi2v.memory import run_options
    from models.flashi2v.pipeline import generate
    from models.wan.pipeline import WanParams
    from studio.env import StudioEnv
    from studio.tasks.base import JobContext
    from studio.tasks.placed import placed

    env = StudioEnv(outputs=tmp_path / "out", tiny=True, vram_gb=vram_gb)
    ctx = JobContext(job_dir=tmp_path, env=env)
    with placed(ctx, "flashi2v-1.3b", load_components, width=W, height=H, frames=FRAMES) as job:
        params = WanParams(**{"prompt": "a paper boat on a pond", "width": W, "height": H, "frames": FRAMES,
                              "steps": 3, "seed": 5, "image": _image(1), "guidance": 4.0, "shift": 7.0,
                              **run_options(job.plan), **kw})
        transformer = job.placement.get("transformer")
        original = type(transformer).forward
        if record is not None:
            def spy(self, hidden_states, timestep, encoder_hidden_states, *a, fourier_features=None, **k):
                out = original(self, hidden_states, timestep, encoder_hidden_states, *a,
                               fourier_features=fourier_features, **k)
                record.append({"x": hidden_states.clone(), "t": timestep.clone(), "ctx": encoder_hidden_states.clone(),
                               "f": fourier_features.clone(), "v": out[0].clone()})
                return out
            transformer.forward = spy.__get__(transformer)
        try:
            out = generate(job.placement, params)
            extras = {"placement": job.placement, "plan": job.plan}
            if record is not None:
                from models.flashi2v.fourier import fourier_features
                from models.flashi2v.pipeline import encode_image
                from models.wan.pipeline import initial_noise, latent_stats

                vae = job.placement.get("vae")
                mean, inv_std = latent_stats(vae)
                with torch.no_grad():
                    c = encode_image(vae, params.image, mean, inv_std)
                    extras.update(c=c, p=transformer.latent_shift(c, 3).float(), noise=initial_noise(vae, params),
                                  fourier=fourier_features(c, 3))
        finally:
            if record is not None:
                del transformer.forward
    return out, extras


def test_every_step_sees_z_minus_p_and_the_fourier_features_in_both_passes(tmp_path) -> None:
    from models.flashi2v.pipeline import flashi2v_schedule

    calls: list[dict] = []
    out, ex = _run(tmp_path, record=calls)
    steps, guidance = 3, 4.0
    assert len(calls) == 2 * steps  # CFG: a conditional and an unconditional pass per step
    p = ex["p"]
    assert float(p.abs().mean()) > 1e-3  # the tiny twin's projection is not zero: the test can fail
    sigmas = flashi2v_schedule(steps, 7.0).sigmas
    assert torch.allclose(sigmas[1], torch.tensor(7 * (2 / 3) / (1 + 6 * (2 / 3))))
    z = ex["noise"]
    for i in range(steps):
        cond, uncond = calls[2 * i], calls[2 * i + 1]
        assert torch.allclose(cond["x"], z - p, atol=1e-5)          # the DiT input is z - p ...
        assert torch.equal(cond["x"], uncond["x"])                   # ... in both passes
        assert torch.equal(cond["f"], uncond["f"]) and torch.allclose(cond["f"], ex["fourier"])
        assert not torch.equal(cond["ctx"], uncond["ctx"])           # guidance is on the text only
        assert torch.allclose(cond["t"], sigmas[i] * 1000)           # timestep 1000 sigma, not rounded
        v = uncond["v"].float() + guidance * (cond["v"].float() - uncond["v"].float())
        z = z + (sigmas[i + 1] - sigmas[i]) * v                      # Euler on the unshifted state
    assert torch.allclose(out.latents, z, atol=1e-5)                 # decoded as it is: p is not added back
    assert out.frames.shape == (FRAMES, H, W, 3) and out.mode == "flashi2v"


def test_flashi2v_job_is_seeded_streams_and_refuses_a_last_frame(tmp_path) -> None:
    from core.errors import InputError

    out, _ = _run(tmp_path)
    again, _ = _run(tmp_path)
    assert np.array_equal(out.frames, again.frames)
    streamed, ex = _run(tmp_path, vram_gb=5e-5)  # a virtual device far smaller than the tiny DiT
    assert ex["plan"].components["transformer"].placement == "streamed"
    assert float((streamed.latents - out.latents).abs().max()) <= 1e-5
    other, _ = _run(tmp_path, seed=6)
    assert not np.array_equal(other.frames, out.frames)
    with pytest.raises(InputError) as err:
        _run(tmp_path, last_image=_image(2))
    assert err.value.field == "last_image"


def test_flashi2v_plans_fit_small_cards() -> None:
    from studio.planning import plan_for

    six = plan_for("flashi2v-1.3b", 832, 480, frames=49, vram_gb=6, ram_gb=16)
    assert six.fits and six.peak_vram_bytes <= 6 * 2**30 and six.peak_ram_bytes <= 16 * 2**30
    assert "image" not in six.phases  # no CLIP in FlashI2V
    big = plan_for("flashi2v-1.3b", 832, 480, frames=49, vram_gb=24, ram_gb=32)
    assert big.components["transformer"].placement == "resident"
