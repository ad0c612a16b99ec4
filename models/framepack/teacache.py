"""TeaCache for one `HunyuanVideoFramepackTransformer3DModel` instance (FramePack's variant).

At every denoising step the first block's modulated input (norm1 of the packed tokens, driven by
the timestep embedding) is compared with the previous step's: the relative L1 change, passed
through FramePack's polynomial rescale, is accumulated; while the sum stays under `threshold` the
whole block stack is skipped and the previous step's residual (output - input of the stack) is
reused. The first and the last step of a section are always computed. 0.15 gives about 2.1x,
0.1 about 1.6x on the real model (DESIGN §2). Results change, so it is off by default.

How it attaches: the instance's blocks get instance-level `forward` wrappers (the class and other
instances are untouched); `remove()` (or leaving the `with` block) restores them exactly. Attach it
after any memory hooks on the same blocks and remove it before those are removed; on a skipped
step the blocks (and any streaming hooks on them) are not called at all.

Steps are counted per call and per *branch* (the pipeline calls `begin("positive")` /
`begin("negative")` before each transformer call), so real CFG keeps two independent caches instead
of mixing the two predictions as FramePack's single counter would.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

# FramePack's fitted rescale of the raw rel-L1 change (a fact of the model, not tunable).
RESCALE = np.poly1d([7.33226126e02, -4.01131952e02, 6.75869174e01, -3.14987800e00, 9.61237896e-02])


@dataclass
class _Branch:
    calls: int = 0
    accumulated: float = 0.0
    previous_input: torch.Tensor | None = None
    residual: torch.Tensor | None = None
    stack_input: torch.Tensor | None = None
    skipping: bool = False


@dataclass
class TeaCacheStats:
    computed: int = 0
    skipped: int = 0
    per_section: list[tuple[int, int]] = field(default_factory=list)  # (computed, skipped)

    @property
    def skip_ratio(self) -> float:
        total = self.computed + self.skipped
        return self.skipped / total if total else 0.0


class TeaCache:
    """Removable TeaCache on one transformer instance; see the module docstring."""

    def __init__(self, transformer: Any, num_steps: int, threshold: float = 0.15) -> None:
        self.transformer = transformer
        self.num_steps = num_steps
        self.threshold = threshold
        self.stats = TeaCacheStats()
        self._branches: dict[str, _Branch] = {}
        self._branch = self._branches.setdefault("positive", _Branch())
        self._section = [0, 0]
        self._saved: list[tuple[torch.nn.Module, Any]] = []
        self._attach()

    # -- control from the pipeline ----------------------------------------------------------
    def new_section(self, num_steps: int | None = None) -> None:
        """Forget all cached state (a new section starts from pure noise)."""
        if self._section != [0, 0]:
            self.stats.per_section.append((self._section[0], self._section[1]))
        self._section = [0, 0]
        if num_steps is not None:
            self.num_steps = num_steps
        self._branches.clear()
        self._branch = self._branches.setdefault("positive", _Branch())

    def begin(self, branch: str) -> None:
        """The next transformer call belongs to `branch` ("positive" or "negative")."""
        self._branch = self._branches.setdefault(branch, _Branch())

    def remove(self) -> None:
        """Restore the blocks' own forward methods."""
        for block, previous in reversed(self._saved):
            if previous is None:
                block.__dict__.pop("forward", None)
            else:
                block.forward = previous
        self._saved.clear()
        if self._section != [0, 0]:
            self.stats.per_section.append((self._section[0], self._section[1]))
            self._section = [0, 0]

    def __enter__(self) -> "TeaCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- hooks --------------------------------------------------------------------------------
    def _attach(self) -> None:
        blocks = list(self.transformer.transformer_blocks) + list(self.transformer.single_transformer_blocks)
        if not blocks:
            raise ValueError("TeaCache: the transformer has no blocks")
        for position, block in enumerate(blocks):
            self._saved.append((block, block.__dict__.get("forward")))
            block.forward = self._wrap(block, block.forward, first=position == 0, last=position == len(blocks) - 1)

    def _wrap(self, block: torch.nn.Module, original: Any, first: bool, last: bool) -> Any:
        def forward(hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, temb: torch.Tensor,
                    *args: Any, **kwargs: Any) -> Any:
            state = self._branch
            if first:
                if self._should_compute(block, hidden_states, temb, state):
                    state.skipping = False
                    state.stack_input = hidden_states
                    self.stats.computed += 1
                    self._section[0] += 1
                else:
                    state.skipping = True
                    self.stats.skipped += 1
                    self._section[1] += 1
                    return hidden_states + state.residual, encoder_hidden_states
            if state.skipping:
                return hidden_states, encoder_hidden_states
            out = original(hidden_states, encoder_hidden_states, temb, *args, **kwargs)
            if last:
                state.residual = out[0] - state.stack_input
                state.stack_input = None
            return out

        return forward

    def _should_compute(self, block: torch.nn.Module, hidden_states: torch.Tensor, temb: torch.Tensor,
                        state: _Branch) -> bool:
        modulated = block.norm1(hidden_states, emb=temb)[0]
        step = state.calls
        state.calls = (state.calls + 1) % max(self.num_steps, 1)
        previous, state.previous_input = state.previous_input, modulated
        if step == 0 or step == self.num_steps - 1 or previous is None or state.residual is None:
            state.accumulated = 0.0
            return True
        if self.threshold <= 0:  # never skip: identical results to no cache
            return True
        change = ((modulated - previous).abs().mean() / previous.abs().mean()).item()
        state.accumulated += float(RESCALE(change))
        if state.accumulated < self.threshold:
            return False
        state.accumulated = 0.0
        return True
