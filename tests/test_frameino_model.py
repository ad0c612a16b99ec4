"""FrameINO on the Wan layer: the 96-channel transformer against its manifest, the release layouts
through the loader, and the loop's inputs checked call by call on the tiny twin (random weights:
the frames are noise)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import SHARED, require_shared

W, H, FRAMES = 96, 64, 9          # latent 6 x 4 x 3 frames; tokens 3 x 2 per latent frame
T_LAT, TOKENS_PER_FRAME = 3, 6
pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------ checkpoint


def test_stored_config_builds_the_manifest_keys_and_shapes_exactly() -> None:
    from diffusers import WanTransformer3DModel

    from models.frameino.loading import STORED_CONFIG

    manifest = json.loads(require_shared(SHARED / "manifests" / "frameino_wan2.2_ti2v_5b_in96_diffusers.json")
                          .read_text())
    config = json.loads(STORED_CONFIG.read_text())
    assert {k: config[k] for k in manifest["config"]} == {k: (list(v) if isinstance(v, tuple) else v)
                                                          for k, v in manifest["config"].items()}
    with torch.device("meta"):
        model = WanTransformer3DModel.from_config(config)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == manifest["params"]
    assert len(ours) == manifest["num_tensors"]
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"] == 5_000_377_536


def test_memory_sizes_count_the_real_transformer() -> None:
    from memory.sizes import component_size
    from models.frameino.loading import RELEASE_REPO

    size = component_size("transformer", "WanTransformer3DModel", RELEASE_REPO, "", "bfloat16")
    assert size.params == 5_000_377_536 and size.config["in_channels"] == 96
    assert [(b.path, len(b.block_bytes)) for b in size.block_lists] == [("blocks", 30)]


def _tiny_kwargs(in_channels: int = 96) -> dict:
    return dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
                out_channels=48, text_dim=16, freq_dim=16, ffn_dim=32, num_layers=2)


@pytest.mark.parametrize("layout", ["root-sharded", "training-transformer-subfolder", "weights-without-config"])
def test_release_layouts_load_into_equal_weights(tmp_path, monkeypatch, layout) -> None:
    from diffusers import WanTransformer3DModel

    from models.frameino import loading

    monkeypatch.setenv("FRAME_STUDIO_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = WanTransformer3DModel(**_tiny_kwargs()).eval()
    repo = tmp_path / "repo"
    target = repo / "transformer" if layout == "training-transformer-subfolder" else repo
    model.save_pretrained(target, safe_serialization=True, max_shard_size="40KB")
    assert len(list(target.glob("diffusion_pytorch_model*.safetensors"))) > 1
    if layout == "weights-without-config":
        stored = tmp_path / "stored.json"
        stored.write_text((target / "config.json").read_text())
        (target / "config.json").unlink()
        monkeypatch.setattr(loading, "STORED_CONFIG", stored)
    loaded = loading.load_transformer(repo, "float32")
    theirs, mine = loaded.state_dict(), model.state_dict()
    assert set(theirs) == set(mine) and all(torch.equal(theirs[k], v) for k, v in mine.items())
    if layout == "weights-without-config":  # linked once into the cache, then reused
        made = sorted((tmp_path / "cache" / "converted").glob("frameino--*"))
        loading.load_transformer(repo, "float32")
        assert len(made) == 1 and sorted((tmp_path / "cache" / "converted").glob("frameino--*")) == made


def test_a_stock_48_channel_transformer_is_refused(tmp_path) -> None:
    from diffusers import WanTransformer3DModel

    from models.frameino.loading import load_transformer

    WanTransformer3DModel(**_tiny_kwargs(48)).save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(ValueError, match="in_channels 48"):
        load_transformer(tmp_path, "float32")


# ------------------------------------------------------------------------------------------ the loop


def _inputs(seed: int = 1, identity: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    region = np.zeros((H, W), bool)
    region[16:48, 32:80] = True
    canvas = np.zeros((H, W, 3), np.uint8)
    canvas[region] = (rng.random((int(region.sum()), 3)) * 255).astype(np.uint8)
    trajectory = np.full((FRAMES, H, W, 3), 255, np.uint8)
    for f in range(FRAMES):  # a red square moving right
        trajectory[f, 20:32, 8 + 8 * f:20 + 8 * f] = (255, 0, 0)
    ident = (rng.random((H, W, 3)) * 255).astype(np.uint8) if identity else None
    return {"canvas_image": canvas, "region": region, "trajectory_video": trajectory, "identity": ident}


def _run(tmp_path, record=None, should_stop=None, check=None, **kw):
    from models.frameino.loading import load_components
    from models.frameino.memory import run_options
    from models.frameino.pipeline import FrameInoParams, generate_frameino
    from studio.env import StudioEnv
    from studio.tasks.base import JobContext
    from studio.tasks.placed import placed

    env = StudioEnv(outputs=tmp_path / "out", tiny=True)
    ctx = JobContext(job_dir=tmp_path, env=env)
    with placed(ctx, "frameino-5b", load_components, width=W, height=H, frames=FRAMES) as job:
        fields = {"prompt": "a dog runs in from the left", "negative_prompt": "", "frames": FRAMES, "steps": 3,
                  "seed": 5, "guidance": 4.0, **_inputs(), **run_options(job.plan), **kw}
        params = FrameInoParams(**fields)
        if check is not None:
            return check(job.placement, params)
        transformer = job.placement.get("transformer")
        original = type(transformer).forward
        if record is not None:
            def spy(self, hidden_states, timestep, encoder_hidden_states, *a, **k):
                out = original(self, hidden_states, timestep, encoder_hidden_states, *a, **k)
                record.append({"x": hidden_states.float().clone(), "t": timestep.float().clone(),
                               "ctx": encoder_hidden_states.clone(), "v": out[0].float().clone(), "kw": dict(k)})
                return out
            transformer.forward = spy.__get__(transformer)
        try:
            extra = {} if should_stop is None else {"should_stop": should_stop}
            out = generate_frameino(job.placement, params, **extra)
            refs = {}
            if record is not None:
                from models.frameino.pipeline import video_pixels
                from models.wan.pipeline import (
                    encode_video,
                    initial_noise,
                    latent_stats,
                    to_pixels,
                )

                vae = job.placement.get("vae")
                mean, inv_std = latent_stats(vae)
                ident = params.identity if params.identity is not None else np.zeros((H, W, 3), np.uint8)
                with job.placement.phase("vae"), torch.no_grad():
                    refs = {k: encode_video(vae, px, mean, inv_std, params.vae_tiling).cpu() for k, px in (
                        ("canvas", to_pixels(params.canvas_image).unsqueeze(2)),
                        ("identity", to_pixels(ident).unsqueeze(2)),
                        ("trajectory", video_pixels(params.trajectory_video)))}
                refs["noise"] = initial_noise(vae, params)
        finally:
            if record is not None:
                del transformer.forward
    return out, refs


@pytest.mark.parametrize("identity", [True, False])
def test_every_step_sees_96_channels_the_identity_frame_and_per_token_timesteps(tmp_path, identity) -> None:
    from models import sampling

    calls: list[dict] = []
    out, ref = _run(tmp_path, record=calls, sampler="euler", **({} if identity else {"identity": None}))
    steps, guidance = 3, 4.0
    assert len(calls) == 2 * steps  # CFG: a conditional and an unconditional pass per step
    assert float(ref["trajectory"].abs().mean()) > 1e-3 and float(ref["identity"].abs().mean()) > 1e-3
    sigmas = sampling.flow_schedule_like_diffusers(steps, 5.0, 1000)
    z = ref["noise"]
    for i in range(steps):
        cond, uncond = calls[2 * i], calls[2 * i + 1]
        x = cond["x"]
        assert x.shape == (1, 96, T_LAT + 1, H // 16, W // 16)       # 48 + 48 channels, T' + 1 frames
        assert torch.allclose(x[:, :48, :1], ref["canvas"], atol=1e-6)       # the canvas latent, first frame
        assert torch.allclose(x[:, :48, 1:T_LAT], z[:, :, 1:], atol=1e-5)    # the state elsewhere
        assert torch.allclose(x[:, :48, T_LAT:], ref["identity"], atol=1e-6)  # identity (black when None) last
        assert torch.allclose(x[:, 48:, :T_LAT], ref["trajectory"], atol=1e-6)
        assert float(x[:, 48:, T_LAT:].abs().max()) == 0.0                   # zero trajectory for the identity
        t = cond["t"]
        expected_t = float(sigmas.timestep(sigmas.sigmas[i]))
        assert t.shape == (1, (T_LAT + 1) * TOKENS_PER_FRAME)
        assert float(t[0, :TOKENS_PER_FRAME].abs().max()) == 0.0             # the canvas frame's tokens: 0
        assert torch.allclose(t[0, TOKENS_PER_FRAME:], torch.full_like(t[0, TOKENS_PER_FRAME:], expected_t))
        # the unconditional pass differs in the text only (FrameINO: negative embeddings, same input)
        assert torch.equal(cond["x"], uncond["x"]) and torch.equal(cond["t"], uncond["t"])
        assert not torch.equal(cond["ctx"], uncond["ctx"]) and cond["kw"] == uncond["kw"]
        assert cond["v"].shape[2] == T_LAT + 1
        v = (uncond["v"] + guidance * (cond["v"] - uncond["v"]))[:, :, :T_LAT]  # identity prediction dropped
        z = z + (sigmas.sigmas[i + 1] - sigmas.sigmas[i]) * v
    assert torch.allclose(out.latents[:, :, 1:], z[:, :, 1:], atol=1e-5)
    assert torch.allclose(out.latents[:, :, :1], ref["canvas"], atol=1e-6)   # frame 0 replaced by the canvas
    assert out.frames.shape == (FRAMES, H, W, 3) and out.frames.dtype == np.uint8
    assert out.box == (32, 16, 80, 48)


def test_the_identity_changes_the_video(tmp_path) -> None:
    with_id, _ = _run(tmp_path)
    without, _ = _run(tmp_path, identity=None)
    assert not torch.allclose(with_id.latents[:, :, 1:], without.latents[:, :, 1:], atol=1e-4)


def test_frameino_job_is_seeded_and_stops_with_steps_done(tmp_path) -> None:
    from core.errors import JobStopped

    out, _ = _run(tmp_path)
    again, _ = _run(tmp_path)
    assert np.array_equal(out.frames, again.frames) and torch.equal(out.latents, again.latents)
    other, _ = _run(tmp_path, seed=6)
    assert not np.array_equal(other.frames, out.frames)
    asked: list[int] = []

    def stop_after_two() -> bool:
        asked.append(1)
        return len(asked) >= 2

    with pytest.raises(JobStopped) as err:
        _run(tmp_path, should_stop=stop_after_two)
    assert (err.value.done, err.value.total, err.value.unit) == (2, 3, "steps")


def test_bad_inputs_name_their_field(tmp_path) -> None:
    from core.errors import InputError
    from models.frameino.pipeline import FrameInoParams, generate_frameino

    def bad(placement, params):
        good = _inputs()
        cases = {
            "canvas_image": dict(canvas_image=np.zeros((H, W - 16, 3), np.uint8), region=np.ones((H, W - 16), bool),
                                 trajectory_video=np.zeros((FRAMES, H, W - 16, 3), np.uint8), identity=None),
            "trajectory_video": dict(trajectory_video=good["trajectory_video"][:, :32]),
            "frames": dict(frames=8, trajectory_video=good["trajectory_video"][:8]),
            "region": dict(region=np.ones((H, 32), bool)),
            "identity": dict(identity=np.zeros((32, 32, 3), np.uint8)),
        }
        fields = {k: getattr(params, k) for k in params.__dataclass_fields__}
        for field, change in cases.items():
            with pytest.raises(InputError) as err:
                generate_frameino(placement, FrameInoParams(**{**fields, **change}))
            assert err.value.field == field, (field, err.value)
        with pytest.raises(InputError) as err:  # one trajectory frame short of the frame count
            generate_frameino(placement, FrameInoParams(**{**fields, "trajectory_video": good["trajectory_video"][1:]}))
        assert err.value.field == "trajectory_video"

    _run(tmp_path, check=bad)


# ------------------------------------------------------------------------------------------ memory


def test_family_preset_and_tiny_builder_are_wired() -> None:
    from models.frameino.memory import PROFILE, run_options
    from models.registry import get_family
    from studio.presets import get_preset

    family = get_family("frameino")
    assert family.profile is PROFILE and family.load_components.__module__ == "models.frameino.loading"
    tiny = get_preset("frameino-5b-tiny")
    assert tiny.tiny_of == "frameino-5b" and tiny.builder == "models.frameino.tiny:build_tiny_repos"
    assert "image" not in dict(PROFILE.phases)
    assert run_options  # Wan's: chunk_tokens / vae_tiling fields of FrameInoParams


def test_frameino_plan_counts_the_identity_frame_and_the_trajectory_video() -> None:
    from studio.planning import plan_for

    frameino = plan_for("frameino-5b", 1280, 704, frames=81, vram_gb=24, ram_gb=64)
    ti2v = plan_for("wan-ti2v-5b", 1280, 704, frames=81, vram_gb=24, ram_gb=64)
    # one more latent frame of tokens (22 instead of 21) and a whole-video encode (not one frame);
    # FrameINO's VAE runs in bf16 (2 bytes an element), the TI2V preset's in fp32 (4)
    assert frameino.phases["denoise"].activation_bytes > ti2v.phases["denoise"].activation_bytes
    assert 2 * frameino.phases["encode"].activation_bytes > 4 * ti2v.phases["encode"].activation_bytes
    plain = plan_for("frameino-5b", 1280, 704, frames=81, vram_gb=6, ram_gb=16)
    assert plain.fits and plain.peak_vram_bytes <= 6 * 2**30 and plain.peak_ram_bytes <= 16 * 2**30
    small = plan_for("frameino-5b", 1280, 704, frames=81, vram_gb=6, ram_gb=16, fp8=("vae",))
    assert small.fits and small.peak_vram_bytes <= 6 * 2**30 and small.peak_ram_bytes <= 16 * 2**30
