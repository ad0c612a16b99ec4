"""Applying a plan on CPU with a virtual device budget: bytes counted, order asserted, output exact."""
from __future__ import annotations

import pytest
import torch

from core.errors import DeviceOutOfMemory
from memory.budget import GIB
from memory.executor import DeviceByteCounter, apply_plan, choose_pinned
from memory.plan import make_plan
from memory.profile import weightless_profile
from models.registry import get_family
from studio.planning import plan_for

FRAMEPACK = get_family("framepack").profile
C, H, W, WINDOW = 4, 8, 8, 3


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_framepack(seed: int = 0):
    """A tiny HunyuanVideoFramepackTransformer3DModel: 2 dual-stream + 4 single-stream blocks."""
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    torch.manual_seed(seed)
    cfg = dict(in_channels=C, out_channels=C, num_attention_heads=2, attention_head_dim=16, num_layers=2,
               num_single_layers=4, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
               text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(4, 6, 6), has_image_proj=True,
               image_proj_dim=16, has_clean_x_embedder=True)
    return HunyuanVideoFramepackTransformer3DModel.from_config(cfg).eval()


def framepack_inputs() -> tuple[tuple, dict]:
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    kwargs = dict(timestep=torch.tensor([500.0]), encoder_hidden_states=r(1, 8, 16),
                  encoder_attention_mask=torch.ones(1, 8, dtype=torch.long), pooled_projections=r(1, 8),
                  image_embeds=r(1, 4, 16), indices_latents=torch.arange(WINDOW) + 3, guidance=torch.tensor([1e4]),
                  latents_clean=r(1, C, 2, H, W), indices_latents_clean=torch.tensor([0, WINDOW + 3]),
                  latents_history_2x=r(1, C, 2, H, W), indices_latents_history_2x=torch.tensor([WINDOW + 4, WINDOW + 5]),
                  latents_history_4x=r(1, C, 16, H, W), indices_latents_history_4x=torch.arange(WINDOW + 6, WINDOW + 22),
                  return_dict=False)
    return (r(1, C, WINDOW, H, W),), kwargs


def _plan_with_resident_blocks(model, n_resident: int):
    """A virtual device just big enough for the streamed phase plus `n_resident` blocks."""
    streamed = make_plan(FRAMEPACK, {"transformer": model}, 64, 64, 1, vram_gb=1e-6, ram_gb=8, gpu_memory_preservation_gb=0,
                         reserve_gb=0)
    need = streamed.phases["denoise"].device_bytes
    blocks = [sum(p.numel() * 4 for p in b.parameters()) for b in [*model.transformer_blocks,
                                                                   *model.single_transformer_blocks]]
    vram = need + sum(blocks[:n_resident]) + 1
    plan = make_plan(FRAMEPACK, {"transformer": model}, 64, 64, 1, vram_gb=vram / GIB, ram_gb=8, gpu_memory_preservation_gb=0,
                     reserve_gb=0)
    assert plan.components["transformer"].blocks_resident == n_resident and plan.fits
    return plan


@torch.no_grad()
def test_streamed_forward_stays_in_budget_is_bit_exact_and_follows_the_planned_order() -> None:
    model = tiny_framepack()
    args, kwargs = framepack_inputs()
    reference = model(*args, **kwargs)[0]
    plan = _plan_with_resident_blocks(model, 1)
    budget = plan.phases["denoise"].weights_bytes
    counter = DeviceByteCounter(budget)
    placement = apply_plan(plan, {"transformer": model}, "cpu", counter=counter)
    assert "transformer" in placement.managed_by_hooks
    with placement.phase("transformer"):
        first = placement.get("transformer")(*args, **kwargs)[0]
        second = placement.get("transformer")(*args, **kwargs)[0]
    assert torch.equal(first, reference) and torch.equal(second, reference)
    assert max(e.live for e in counter.events) == counter.peak == budget  # the plan's number, reached exactly
    t, s = "transformer.", "transformer.single_transformer_blocks."
    one_pass = [  # the non-block group, then each block prefetched while the one before it runs
        ("load", t + "other"), ("prefetch", t + "transformer_blocks.1"),
        ("prefetch", s + "0"), ("unload", t + "transformer_blocks.1"),
        ("prefetch", s + "1"), ("unload", s + "0"),
        ("prefetch", s + "2"), ("unload", s + "1"),
        ("prefetch", s + "3"), ("unload", s + "2"),
        ("unload", s + "3"), ("unload", t + "other"),
    ]
    assert counter.events[0].kind == "resident" and counter.events[0].key == t + "transformer_blocks.0"
    assert counter.order() == one_pass + one_pass
    assert counter.live == counter.events[0].nbytes  # only the resident block remains after the passes


@torch.no_grad()
def test_a_smaller_virtual_device_raises_device_out_of_memory() -> None:
    model = tiny_framepack()
    args, kwargs = framepack_inputs()
    plan = _plan_with_resident_blocks(model, 0)
    counter = DeviceByteCounter(plan.phases["denoise"].weights_bytes - 1)
    placement = apply_plan(plan, {"transformer": model}, "cpu", counter=counter)
    with pytest.raises(DeviceOutOfMemory, match="budget exceeded"):
        with placement.phase("transformer"):
            placement.get("transformer")(*args, **kwargs)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.uint8)


def _disk_plan(model):
    plan = _plan_with_resident_blocks(model, 1)
    plan.components["transformer"].host = "disk"
    return plan


@torch.no_grad()
def test_disk_backed_streaming_is_bit_exact(tmp_path) -> None:
    """Bit-exact because every layer runs on the original bytes at the allocator's 64-byte alignment:
    diffusers onloads a disk group on CPU as views into the mmap'd file (4/8-byte aligned), and MKL's
    SSE4.2/AVX sgemm sums in an alignment-dependent order (MKL_ENABLE_INSTRUCTIONS=AVX: ~5e-7 off)."""
    model = tiny_framepack()
    args, kwargs = framepack_inputs()
    reference = model(*args, **kwargs)[0]
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    plan = _plan_with_resident_blocks(model, 1)
    plan.components["transformer"].host = "disk"
    counter = DeviceByteCounter(plan.phases["denoise"].weights_bytes)
    placement = apply_plan(plan, {"transformer": model}, "cpu", counter=counter, offload_dir=str(tmp_path))
    files = list((tmp_path / "transformer").glob("group_*.safetensors"))
    # One file per group: other + 6 blocks (diffusers writes every group when hooks are applied,
    # before the resident block is taken out of streaming).
    assert len(files) == 7
    names = {m: n for n, m in model.named_modules()}
    seen: dict[str, list[bool]] = {}  # parameter -> [same bits and 64-byte aligned] at each use

    def check(module, _args) -> None:  # runs inside the onload leader's forward: the group is on
        for key, p in module.named_parameters(recurse=False):
            name = f"{names[module]}.{key}".lstrip(".")
            seen.setdefault(name, []).append(torch.equal(_bits(p), _bits(original[name])) and p.data_ptr() % 64 == 0)

    hooks = [m.register_forward_pre_hook(check) for m in model.modules()]
    with placement.phase("transformer"):
        out = placement.get("transformer")(*args, **kwargs)[0]
    for hook in hooks:
        hook.remove()
    assert set(seen) == set(original)  # every weight is used
    assert all(all(v) for v in seen.values()), [n for n, v in seen.items() if not all(v)]
    assert torch.equal(out, reference) and counter.peak <= counter.budget


@torch.no_grad()
def test_release_after_disk_streaming_gives_back_the_original_weights(tmp_path) -> None:
    """diffusers' disk offload leaves `torch.empty_like` placeholders in the parameters (the values
    are only in the group files): release() reads them back into the same Parameter objects, and the
    original tensors were not kept alive meanwhile (no second copy in RAM)."""
    from torch.multiprocessing.reductions import StorageWeakRef

    model = tiny_framepack()
    args, kwargs = framepack_inputs()
    reference = model(*args, **kwargs)[0]
    params = dict(model.named_parameters())
    original = {n: p.detach().clone() for n, p in params.items()}
    storages = [StorageWeakRef(p.untyped_storage()) for p in params.values()]
    plan = _disk_plan(model)
    counter = DeviceByteCounter(plan.phases["denoise"].weights_bytes)
    placement = apply_plan(plan, {"transformer": model}, "cpu", counter=counter, offload_dir=str(tmp_path))
    assert all(s.expired() for s in storages)  # streaming from the files, not from a kept copy
    with placement.phase("transformer"):
        placement.get("transformer")(*args, **kwargs)
    placement.release()
    placement.release()  # the OOM guard and the job's `finally` may both release
    assert all(p is params[n] for n, p in model.named_parameters())
    for name, p in model.named_parameters():
        assert p.device.type == "cpu" and p.data_ptr() % 64 == 0, name
        assert torch.equal(_bits(p), _bits(original[name])), name
    registries = [m._diffusers_hook for m in model.modules() if hasattr(m, "_diffusers_hook")]
    assert not [r for r in registries if r.get_hook("group_offloading") is not None]  # hooks gone
    assert not list((tmp_path / "transformer").glob("group_*.safetensors"))  # owned copies: the files went
    assert torch.equal(model(*args, **kwargs)[0], reference)
    placement = apply_plan(plan, {"transformer": model}, "cpu", offload_dir=str(tmp_path))  # the next job
    with placement.phase("transformer"):
        assert torch.equal(placement.get("transformer")(*args, **kwargs)[0], reference)
    placement.release()
    assert torch.equal(model(*args, **kwargs)[0], reference)


@torch.no_grad()
def test_disk_streaming_never_reads_group_files_left_by_another_model(tmp_path) -> None:
    """diffusers writes a group file only if none exists at its path, and the name comes from the
    block (`transformer_blocks_0_0`), not the weights: files left by a job that never released
    (crash) or by another checkpoint of the same class must not be read."""
    first, second = tiny_framepack(0), tiny_framepack(1)
    args, kwargs = framepack_inputs()
    reference = second(*args, **kwargs)[0]
    plan = _disk_plan(first)
    apply_plan(plan, {"transformer": first}, "cpu", offload_dir=str(tmp_path))  # never released
    placement = apply_plan(plan, {"transformer": second}, "cpu", offload_dir=str(tmp_path))
    with placement.phase("transformer"):
        assert torch.equal(placement.get("transformer")(*args, **kwargs)[0], reference)


@torch.no_grad()
def test_streamed_text_encoder_and_phase_components_are_counted() -> None:
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    llama = LlamaModel(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                                   num_attention_heads=2, num_key_value_heads=1)).eval()
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=16)).eval()
    ids = torch.randint(0, 64, (1, 7))
    ref = llama(ids, output_hidden_states=True).hidden_states[-3]
    ref_clip = clip(ids[:, :5]).pooler_output
    comps = {"text_encoder": llama, "text_encoder_2": clip}
    # A device with room for the encode activations, CLIP whole and Llama's streaming window only.
    probe = make_plan(FRAMEPACK, comps, 64, 64, 1, vram_gb=1e-6, ram_gb=8, reserve_gb=0,
                      gpu_memory_preservation_gb=0)
    clip_all = sum(t.numel() * t.element_size() for t in [*clip.parameters(), *clip.buffers()])
    vram = probe.activations["encode"].bytes + clip_all + probe.components["text_encoder"].phase_bytes + 1
    plan = make_plan(FRAMEPACK, comps, 64, 64, 1, vram_gb=vram / GIB, ram_gb=8, reserve_gb=0,
                     gpu_memory_preservation_gb=0)
    assert plan.components["text_encoder"].placement == "streamed"
    assert plan.components["text_encoder_2"].placement == "phase"
    counter = DeviceByteCounter(plan.phases["encode"].weights_bytes)
    placement = apply_plan(plan, comps, "cpu", counter=counter)
    with placement.phase("text_encoder", "text_encoder_2"):
        clip_bytes = sum(t.numel() * t.element_size() for t in [*clip.parameters(), *clip.buffers()])
        assert counter.live == clip_bytes  # phase component in, streamed one only on use
        out = placement.get("text_encoder")(ids, output_hidden_states=True).hidden_states[-3]
        out_clip = placement.get("text_encoder_2")(ids[:, :5]).pooler_output
    assert counter.live == 0 and counter.peak <= counter.budget
    assert torch.equal(out, ref) and torch.equal(out_clip, ref_clip)
    assert [k for kind, k in counter.order(("prefetch",))] == [f"text_encoder.layers.{i}" for i in range(3)]


def test_phase_components_are_checked_before_they_move() -> None:
    vae = torch.nn.Linear(64, 64)
    plan = make_plan(weightless_profile("other"), {"vae": vae}, 64, 64, 1, vram_gb=1.0, ram_gb=8, reserve_gb=0)
    plan.components["vae"].placement = "phase"
    placement = apply_plan(plan, {"vae": vae}, "cpu", counter=DeviceByteCounter(100))
    with pytest.raises(DeviceOutOfMemory):
        with placement.phase("vae"):
            pass
    assert placement.counter.live == 0


def test_pinned_memory_is_capped_in_whole_groups() -> None:
    assert choose_pinned([4, 4, 4, 1], 9) == [True, True, False, True]
    assert choose_pinned([10], 9) == [False]
    assert choose_pinned([], 9) == []


def test_phase_exit_puts_the_host_tensors_back_instead_of_copying() -> None:
    """On a real GPU the weights come back without a device->host copy (and stay memory-mapped);
    the meta device plays the GPU here."""
    from memory.executor import PlannedPlacement

    vae = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
    before = {n: p.data_ptr() for n, p in vae.named_parameters()}
    x = torch.randn(2, 8)
    ref = vae(x)
    counter = DeviceByteCounter()
    placement = PlannedPlacement(device=torch.device("meta"), components={"vae": vae}, counter=counter)
    with placement.phase("vae"):
        with placement.phase("vae"):  # nested: stays placed, counted once
            pass
        assert {p.device.type for p in vae.parameters()} == {"meta"}
        assert counter.live == sum(p.numel() * 4 for p in vae.parameters())
    assert counter.live == 0
    assert {n: p.data_ptr() for n, p in vae.named_parameters()} == before
    assert torch.equal(vae(x), ref)


def test_vae_tiles_follow_the_plan() -> None:
    from diffusers import AutoencoderKLHunyuanVideo

    vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                    norm_num_groups=4)
    plan = plan_for("framepack", 640, 640, 60, vram_gb=6, ram_gb=16)
    apply_plan(plan, {"vae": vae}, "cpu")
    assert vae.tile_sample_min_height == plan.vae_tiling["tile_sample_min_height"] == 256
    assert vae.use_tiling is False  # the model code switches tiling on per decode
