"""Block streaming of a model whose layers sit below a wrapper (UMT5's `encoder.block`): the tied
embedding is counted once, the budget holds exactly, and the output equals the resident model."""
from __future__ import annotations

import pytest
import torch

from memory.budget import GIB
from memory.executor import DeviceByteCounter, apply_plan
from memory.plan import make_plan
from models.registry import get_family

pytestmark = pytest.mark.usefixtures("one_thread")


@torch.no_grad()
def test_umt5_streams_its_nested_blocks_within_the_planned_budget() -> None:
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    model = UMT5EncoderModel(UMT5Config(vocab_size=300, d_model=32, d_kv=8, d_ff=64, num_layers=4, num_heads=4,
                                        dropout_rate=0.0)).eval()
    ids, mask = torch.randint(0, 300, (1, 12)), torch.ones(1, 12, dtype=torch.long)
    reference = model(ids, mask).last_hidden_state
    total = sum(p.numel() * 4 for p in model.parameters())
    plan = make_plan(get_family("wan").profile, {"text_encoder": model}, 64, 48, frames=9,
                     vram_gb=total * 0.6 / GIB, ram_gb=8, reserve_gb=0, gpu_memory_preservation_gb=0)
    cp = plan.components["text_encoder"]
    assert cp.placement == "streamed" and cp.blocks == 4
    counter = DeviceByteCounter(plan.phases["text"].weights_bytes)
    placement = apply_plan(plan, {"text_encoder": model}, "cpu", counter=counter)
    with placement.phase("text_encoder"):
        out = placement.get("text_encoder")(ids, mask).last_hidden_state
    assert torch.equal(out, reference)
    assert counter.peak == counter.budget < total  # the plan's bytes, reached exactly, below the whole model
    loads = [key for kind, key in counter.order(("load", "prefetch"))]
    assert loads[:3] == ["text_encoder.other", "text_encoder.encoder.embed_tokens-dropout",
                         "text_encoder.encoder.block.0"]
    placement.release()
    assert counter.live == 0 and torch.equal(model(ids, mask).last_hidden_state, reference)
