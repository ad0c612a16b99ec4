"""FramePrompt (models/frameprompt) and models/lora.py on the Wan I2V 14B tiny twin (random weights:
outputs are noise). The sequence is 1 reference + 4 skeleton + 4 target frames = 3 latent frames
[reference | skeleton | target]; 12 tokens per latent frame at 64x48."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InputError, JobStopped, MissingWeightsError
from memory.placement import Placement
from models.frameprompt.attention import (
    GroupCausalAttnProcessor,
    block_mask,
    token_groups,
)
from models.frameprompt.pipeline import FramePromptParams, generate_frameprompt
from models.frameprompt.weights import (
    FramePromptWeights,
    FramePromptWeightsMissing,
    load_components,
)
from models.wan.pipeline import latent_stats, to_pixels

W, H, N, STEPS = 64, 48, 4, 3
TOKENS = (H // 8 // 2) * (W // 8 // 2)  # per latent frame
PID = "wan-i2v-14b-480p"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from core.presets import read_presets
    from models.tiny_layout import tiny_component_paths
    from models.wan.loading import load_components as load_wan
    from models.wan.tiny import build_tiny_repos

    preset = read_presets()[PID]
    root = tmp_path_factory.mktemp("frameprompt")
    build_tiny_repos(root, preset)
    paths = tiny_component_paths(root, preset)
    dtypes = {name: "float32" for name in ("transformer", "vae", "text_encoder", "image_encoder")}
    return {"paths": paths, "dtypes": dtypes, "components": load_wan(paths, dtypes), "root": root}


def _image(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8)


def _params(**kw) -> FramePromptParams:
    base = dict(prompt="a dancer spins", negative_prompt="blurry", reference=_image(1),
                skeleton=np.stack([_image(10 + i) for i in range(N)]), width=W, height=H, steps=STEPS, seed=5,
                guidance=1.0, preview=False)
    return FramePromptParams(**{**base, **kw})


def _run(components: dict, trace=None, **kw):
    return generate_frameprompt(Placement(torch.device("cpu"), dict(components)), _params(**kw), trace=trace)


def _encode(vae, frames: list[np.ndarray], zeros: int = 0) -> torch.Tensor:
    """Latents of `frames` then `zeros` zero frames (0 in [-1, 1], as Wan I2V's placeholders)."""
    mean, inv_std = latent_stats(vae)
    video = torch.stack([to_pixels(f) for f in frames], dim=2)
    video = torch.cat([video, video.new_zeros(1, 3, zeros, H, W)], dim=2)
    with torch.no_grad():
        return (vae.encode(video).latent_dist.mode().float() - mean) * inv_std


def _record_inputs(transformer) -> tuple[list[torch.Tensor], object]:
    seen: list[torch.Tensor] = []
    handle = transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()), with_kwargs=True)
    return seen, handle


def test_sequence_layout_mask_and_only_the_target_changes(kit) -> None:
    c = kit["components"]
    p = _params()
    seen, handle = _record_inputs(c["transformer"])
    steps: list = []
    try:
        out = _run(c, trace=steps.append)
    finally:
        handle.remove()
    # time axis of the model input: 3 latent frames; channels 16 latent + 4 mask + 16 condition
    assert seen[0].shape == (1, 36, 3, H // 8, W // 8)
    mask, cond = seen[0][:, 16:20], seen[0][:, 20:]
    assert bool((mask[:, :, :2] == 1).all()) and bool((mask[:, :, 2] == 0).all())  # preserved | generated
    full = _encode(c["vae"], [p.reference, *p.skeleton], zeros=N)
    assert torch.allclose(cond, full, atol=1e-5)                                  # [reference | skeleton | zeros]
    assert torch.allclose(cond[:, :, :1], _encode(c["vae"], [p.reference]), atol=1e-5)  # frame 0 = the reference
    other = _encode(c["vae"], [p.reference, *[_image(99)] * N], zeros=N)
    assert torch.allclose(other[:, :, 0], cond[:, :, 0], atol=1e-5)                 # the skeleton is frame 1 ...
    assert not torch.allclose(other[:, :, 1], cond[:, :, 1], atol=1e-3)             # ... not frame 0
    # over the steps: the context the model sees and every x0 there are the clean latents; the target moves
    for x in seen:
        assert torch.equal(x[:, :16, :2], cond[:, :, :2])
    for step in steps:
        assert torch.equal(step.denoised[:, :, :2], cond[:, :, :2])
        assert torch.allclose(step.x[:, :, :2], cond[:, :, :2], atol=1e-5)
    assert not torch.allclose(seen[0][:, :16, 2], seen[-1][:, :16, 2])
    assert not torch.allclose(steps[0].denoised[:, :, 2], steps[-1].denoised[:, :, 2])
    assert out.frames.shape == (N, H, W, 3) and out.latents.shape[2] == 1 and out.mode == "frameprompt"


def test_euler_keeps_the_context_latents_exactly(kit) -> None:
    steps: list = []
    _run(kit["components"], trace=steps.append, sampler="euler")
    first = steps[0].x[:, :, :2]
    assert all(torch.equal(s.x[:, :, :2], first) for s in steps)


def test_causal_processor_is_the_block_mask() -> None:
    groups = [0, 0, 1]  # context (reference, skeleton) | target
    mask = block_mask(groups, TOKENS)
    assert not mask[: 2 * TOKENS, 2 * TOKENS:].any()   # context queries never see target keys
    assert mask[2 * TOKENS:].all() and mask[: 2 * TOKENS, : 2 * TOKENS].all()
    q, k, v = (torch.randn(1, 3 * TOKENS, 2, 12, generator=torch.Generator().manual_seed(i)) for i in range(3))
    ours = GroupCausalAttnProcessor(token_groups(groups, TOKENS)).attend(None, q, k, v)
    dense = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                             attn_mask=mask).transpose(1, 2)
    assert torch.allclose(ours, dense, atol=1e-6)


def test_causal_on_changes_the_output_and_is_installed_only_for_the_job(kit) -> None:
    c = kit["components"]
    stock = [type(b.attn1.processor) for b in c["transformer"].blocks]
    ranges: list = []
    handle = c["transformer"].blocks[0].register_forward_pre_hook(
        lambda m, a: ranges.append(getattr(m.attn1.processor, "ranges", None)))
    try:
        on = _run(c, causal=True).latents
    finally:
        handle.remove()
    assert ranges[0] == [(0, 2 * TOKENS), (2 * TOKENS, 3 * TOKENS)]
    assert [type(b.attn1.processor) for b in c["transformer"].blocks] == stock
    off = _run(c).latents
    assert float((on - off).abs().max()) > 1e-4


def test_causal_off_equals_a_plain_wan_i2v_loop_with_that_condition(kit) -> None:
    """diffusers' own UniPC scheduler and the stock transformer on [latents | mask | condition], the
    context held at its clean latents (velocity 0 there), text guidance 4."""
    from diffusers import UniPCMultistepScheduler

    from models.wan.pipeline import encode_images
    from models.wan.text import encode_prompt

    c = kit["components"]
    seen, handle = _record_inputs(c["transformer"])
    try:
        ours = _run(c, guidance=4.0).latents
    finally:
        handle.remove()
    condition = seen[0][:, 16:]
    z = condition[:, 4:, :2]
    scheduler = UniPCMultistepScheduler.from_config(c["scheduler"].config)
    scheduler.set_timesteps(STEPS)
    p = _params()
    with torch.no_grad():
        pos = encode_prompt(p.prompt, c["tokenizer"], c["text_encoder"], "cpu", 512)
        neg = encode_prompt(p.negative_prompt, c["tokenizer"], c["text_encoder"], "cpu", 512)
        image = encode_images([p.reference], c["image_processor"], c["image_encoder"], "cpu")
        latents = torch.randn((1, 16, 3, H // 8, W // 8), generator=torch.Generator().manual_seed(p.seed))
        latents[:, :, :2] = z
        for t in scheduler.timesteps:
            model_in = torch.cat([latents, condition], dim=1)
            v_pos, v_neg = (c["transformer"](hidden_states=model_in, timestep=t.expand(1), encoder_hidden_states=e,
                                             encoder_hidden_states_image=image, return_dict=False)[0]
                            for e in (pos, neg))
            v = v_neg + 4.0 * (v_pos - v_neg)
            v[:, :, :2] = 0
            latents = scheduler.step(v, t, latents, return_dict=False)[0]
            latents[:, :, :2] = z
    assert float((ours - latents[:, :, 2:]).abs().max()) <= 1e-4


def test_stop_after_a_step_and_previews_of_the_target(kit) -> None:
    reports: list = []
    placement = Placement(torch.device("cpu"), dict(kit["components"]))
    with pytest.raises(JobStopped) as stop:
        generate_frameprompt(placement, _params(preview=True), on_step=reports.append,
                             should_stop=lambda: len(reports) >= 1)
    assert stop.value.done == 2 and len(reports) == 1 and reports[0].preview is not None


def test_skeleton_frames_must_fill_latent_frames(kit) -> None:
    with pytest.raises(InputError, match="skeleton"):
        _run(kit["components"], skeleton=np.stack([_image(i) for i in range(3)]))


# ------------------------------------------------------------------------------------------ weights


def _community_lora(transformer, path: Path, junk: bool = True, real: bool = True) -> set[str]:
    """An original-Wan-named ("diffusion_model.blocks.N.self_attn.q.lora_down") LoRA, rank 4 with
    alpha, on q, k, v, o and the FFN of every block; plus junk keys. Returns the junk keys."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(3)
    state: dict[str, torch.Tensor] = {}

    def add(name: str, module: torch.nn.Linear) -> None:
        state[f"diffusion_model.{name}.lora_down.weight"] = torch.randn(4, module.in_features, generator=g) * 0.5
        state[f"diffusion_model.{name}.lora_up.weight"] = torch.randn(module.out_features, 4, generator=g) * 0.5
        state[f"diffusion_model.{name}.alpha"] = torch.tensor(4.0)

    if real:
        for i, block in enumerate(transformer.blocks):
            for ours, theirs in (("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "o")):
                add(f"blocks.{i}.self_attn.{theirs}", block.attn1.get_submodule(ours))
            add(f"blocks.{i}.ffn.0", block.ffn.net[0].proj)
            add(f"blocks.{i}.ffn.2", block.ffn.net[2])
    junk_keys = {
        "diffusion_model.blocks.0.self_attn.rope.lora_down.weight",  # no such layer: the converter refuses it
        "diffusion_model.blocks.0.self_attn.rope.lora_up.weight",
        "diffusion_model.blocks.9.self_attn.q.lora_down.weight",     # a block this model does not have
        "diffusion_model.blocks.9.self_attn.q.lora_up.weight",
        "text_encoder.layer.0.lora_down.weight",                     # another component
    }
    if junk:
        block = transformer.blocks[0].attn1.to_q
        for key in junk_keys:
            state[key] = torch.randn(4, block.in_features) if "down" in key else torch.randn(block.out_features, 4)
    save_file(state, str(path))
    return junk_keys


def test_lora_file_changes_the_output_and_reports_unmatched_keys(kit, tmp_path: Path) -> None:
    base = _run(kit["components"]).latents
    path = tmp_path / "frameprompt_lora.safetensors"
    junk = _community_lora(kit["components"]["transformer"], path)
    components = load_components(kit["paths"], kit["dtypes"], weights=FramePromptWeights(lora=str(path)))
    report = components["transformer"].frameprompt_lora_report
    assert set(report.unmatched) == junk
    assert len(report.modules) == 2 * 6 and report.share == pytest.approx(36 / (36 + len(junk)))  # 12 layers x (down, up, alpha)
    assert not any(type(m).__name__.startswith("Linear") and hasattr(m, "lora_A")
                   for m in components["transformer"].modules())  # fused: no peft layers left
    with_lora = _run(components).latents
    assert float((with_lora - base).abs().max()) > 1e-3
    half = load_components(kit["paths"], kit["dtypes"], weights=FramePromptWeights(lora=str(path), lora_strength=0.5))
    assert float((_run(half).latents - with_lora).abs().max()) > 1e-4


def test_lora_matching_nothing_is_an_error(kit, tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    _community_lora(kit["components"]["transformer"], path, real=False)
    with pytest.raises(InputError, match="matches none"):
        load_components(kit["paths"], kit["dtypes"], weights=FramePromptWeights(lora=str(path)))


def test_missing_weights_is_a_clear_error(kit) -> None:
    with pytest.raises(FramePromptWeightsMissing) as error:
        load_components(kit["paths"], kit["dtypes"])
    assert isinstance(error.value, InputError) and isinstance(error.value, MissingWeightsError)
    assert error.value.field == "frameprompt_weights"
    assert "checkpoint" in str(error.value) and "LoRA" in str(error.value) and "no public" in str(error.value)


def test_single_file_checkpoint_in_diffusers_names(kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv("FRAME_STUDIO_CACHE", str(tmp_path / "cache"))
    state = {k: v + 0.01 for k, v in kit["components"]["transformer"].state_dict().items()}
    save_file(state, str(tmp_path / "frameprompt.safetensors"))
    components = load_components(kit["paths"], kit["dtypes"],
                                 weights=FramePromptWeights(checkpoint=str(tmp_path / "frameprompt.safetensors")))
    loaded = components["transformer"].state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
