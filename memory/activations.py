"""Activation memory of one forward pass, from a ledger of the tensors that are alive at once.

This module holds the estimate type and the ledgers that serve any family (text and image
encoders, the causal-conv padding rule); each family's own ledgers (its DiT, its VAE) live with
the family (models/<family>/memory.py) and are handed to the planner through its MemoryProfile.

Why a ledger and not a rule of thumb: the peak of a DiT forward is set by one line of one block
(here: the concat before `proj_out` of a single-stream block, or the fp32 temporaries of RoPE in
half precision), and the VAE peak by one upsampler conv. Counting which tensors are alive at those
lines gives a formula in L (tokens), D (width), r (MLP ratio) and the dtype that holds at any
size; docs/memory.md derives each term and tests/test_memory_activations.py checks the formulas
against peaks measured on CPU (torch.profiler's allocator events) for small configs.

Every estimate is for batch 1: FramePack runs its CFG passes one after the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActivationEstimate:
    """Peak bytes of live activations during one call, with the terms that make it up."""

    what: str
    bytes: int
    terms: dict[str, int] = field(default_factory=dict)
    formula: str = ""

    def to_dict(self) -> dict:
        return {"what": self.what, "bytes": self.bytes, "terms": dict(self.terms), "formula": self.formula}


def fp32_factor(itemsize: int) -> float:
    """Size of an fp32 temporary relative to a compute-dtype tensor (1 for fp32, 2 for bf16/fp16)."""
    return 4 / itemsize


def conv_pad_factor(t: int, h: int, w: int) -> float:
    """A causal 3x3x3 conv pads 2 frames in front and 1 pixel on each side: padded / unpadded size."""
    return (t + 2) * (h + 2) * (w + 2) / (t * h * w)


# --------------------------------------------------------------------------- encoders


def text_encoder_activation(hidden: int, intermediate: int, layers: int, tokens: int, itemsize: int,
                            keep_hidden_states: bool = True, what: str = "text encoder") -> ActivationEstimate:
    """A pre-norm transformer layer peaks in its MLP: x, norm, gate, up, act*up (3 * intermediate)
    plus fp32 RMSNorm temporaries; HunyuanVideo asks for all hidden states (hidden_states[-3])."""
    unit = tokens * itemsize
    terms = {
        "layer_peak": unit * (3 * hidden + 3 * intermediate) + tokens * hidden * 4 * 2,
        "hidden_states_kept": unit * hidden * (layers + 1) if keep_hidden_states else 0,
    }
    return ActivationEstimate(what, sum(terms.values()), terms, "L*s*(3H+3I) + 8LH + (layers+1)*L*H*s")


def vision_encoder_activation(hidden: int, intermediate: int, tokens: int, itemsize: int,
                              what: str = "image encoder") -> ActivationEstimate:
    terms = {"layer_peak": tokens * itemsize * (4 * hidden + 2 * intermediate)}
    return ActivationEstimate(what, sum(terms.values()), terms, "L*s*(4H+2I)")


def generic_activation(weight_bytes: int, what: str) -> ActivationEstimate:
    """For components without a ledger: a quarter of their weights (stated as a guess in the plan)."""
    return ActivationEstimate(what, weight_bytes // 4, {"guess_quarter_of_weights": weight_bytes // 4},
                              "weights/4 (no ledger for this class)")
