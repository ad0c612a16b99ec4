"""Load a LoRA file into a diffusers model through diffusers' own converters and peft, and say what loaded.

Family-agnostic: the caller picks the converter — a `lora_state_dict`-like callable (e.g.
`diffusers.loaders.WanLoraLoaderMixin.lora_state_dict`, which turns the original-Wan
`diffusion_model.*` and musubi `lora_unet_*` formats into diffusers names) — and the prefix its
output carries ("transformer"). The LoRA then goes in through the model's `load_lora_adapter`
(peft), and is fused by default: the weights end up as a full fine-tune would leave them, so the
memory plan, streaming and fp8 storage see the model they planned for.

Every key is accounted for. diffusers' converters refuse a whole file when one key is unknown, so
conversion runs first on shape-only stand-ins (meta tensors, tagged with their file keys) to find
the keys the converter places and where each one goes; the real tensors are converted once, for
the keys that were placed. A placed key is matched when its target module exists in the model
with fitting shapes. The report names every unmatched key; a LoRA matching nothing is an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from core.errors import InputError

Converter = Callable[[dict[str, torch.Tensor]], Mapping[str, torch.Tensor]]

# What follows a module name in the LoRA formats diffusers reads (kohya/original, peft, diffusers).
_SUFFIX = re.compile(r"\.(lora_down|lora_up|lora_A|lora_B|lora_mid)(\.[^.]+)?\.(weight|bias)$"
                     r"|\.(alpha|diff|diff_b|dora_scale)$")
_BLOCK = re.compile(r"blocks[._](\d+)[._]")


@dataclass(frozen=True)
class LoraReport:
    path: str
    matched: tuple[str, ...]        # file keys whose weights went into the model
    unmatched: tuple[str, ...]      # file keys that went nowhere, by name
    modules: tuple[str, ...]        # model modules that received an adapter
    share: float                    # matched keys / keys in the file
    strength: float
    fused: bool

    def summary(self) -> str:
        shown = ", ".join(self.unmatched[:8]) + (" ..." if len(self.unmatched) > 8 else "")
        text = f"LoRA {Path(self.path).name}: {len(self.matched)} of {len(self.matched) + len(self.unmatched)} keys " \
               f"loaded ({self.share:.0%}) into {len(self.modules)} layers at strength {self.strength:g}"
        return text + (f"; unmatched: {shown}" if self.unmatched else "")


def read_lora_file(path: str | Path, field: str = "lora") -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors LoRA (a folder: its one .safetensors file)."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise InputError(field, f"{path} holds {len(files)} .safetensors files",
                             "point at the LoRA file itself")
        path = files[0]
    if not path.is_file():
        raise InputError(field, f"{path} does not exist", "give the path of a local LoRA .safetensors file")
    return load_file(str(path))


def load_lora(model: torch.nn.Module, path: str | Path, convert: Converter, *, prefix: str = "transformer",
              strength: float = 1.0, fuse: bool = True, adapter_name: str = "lora",
              field: str = "lora") -> LoraReport:
    """Apply the LoRA at `path` to `model` (in place) at `strength`; raise if it matches nothing."""
    raw = read_lora_file(path, field)
    placed, homes = _placeable(raw, convert)
    converted = dict(convert({k: raw[k] for k in sorted(placed)})) if placed else {}
    modules = dict(model.named_modules())
    fitting = {key: key.removeprefix(f"{prefix}.") for key, tensor in converted.items()
               if _fits(modules, key.removeprefix(f"{prefix}."), tensor)}
    # A module loads only with both of its factors: a lone lora_A or lora_B is unmatched.
    complete = ({_module_of(n) for n in fitting.values() if ".lora_A." in n}
                & {_module_of(n) for n in fitting.values() if ".lora_B." in n})
    chosen = {key: name for key, name in fitting.items() if _module_of(name) in complete}
    # delta = B A: the strength scales B (and its bias) only
    ours = {name: converted[key] * strength if _is_up(name) else converted[key] for key, name in chosen.items()}
    matched = set().union(*(homes.get(key, set()) for key in chosen))
    stems = {_stem(k) for k in matched}
    matched |= {k for k in raw if _is_alpha(k) and _stem(k) in stems}
    unmatched = tuple(sorted(set(raw) - matched))
    if not ours:
        raise InputError(field, f"{Path(path).name} matches none of the model's layers "
                                f"({len(raw)} keys, e.g. {', '.join(sorted(raw)[:3])})",
                         "use a LoRA trained for this model (its layer names and sizes)")
    model.load_lora_adapter(ours, prefix=None, adapter_name=adapter_name)
    if fuse:
        model.fuse_lora(lora_scale=1.0, adapter_names=[adapter_name])
        model.unload_lora()
    return LoraReport(str(path), tuple(sorted(matched)), unmatched, tuple(sorted(complete)),
                      len(matched) / max(len(raw), 1), float(strength), fuse)


# ------------------------------------------------------------------------------------------ pieces


def _stem(key: str) -> str:
    return _SUFFIX.sub("", key)


def _is_alpha(key: str) -> bool:
    return key.endswith(".alpha")


def _is_up(name: str) -> bool:
    return ".lora_B." in name


def _module_of(name: str) -> str:
    return name.split(".lora_")[0]


def _fits(modules: Mapping[str, torch.nn.Module], name: str, tensor: torch.Tensor) -> bool:
    """`name` is `<module>.lora_A.weight` / `.lora_B.weight` / `.lora_B.bias` of a Linear that fits."""
    module = modules.get(_module_of(name))
    if not isinstance(module, torch.nn.Linear):
        return False
    if name.endswith(".lora_A.weight"):
        return tensor.ndim == 2 and tensor.shape[1] == module.in_features
    if name.endswith(".lora_B.weight"):
        return tensor.ndim == 2 and tensor.shape[0] == module.out_features
    if name.endswith(".lora_B.bias"):
        return tensor.ndim == 1 and tensor.shape[0] == module.out_features
    return False


class _Tagged(torch.Tensor):
    """A meta tensor remembering which file keys it came from (through renames, scaling, concat)."""

    sources: frozenset[str]

    @classmethod
    def make(cls, like: torch.Tensor, key: str) -> "_Tagged":
        t = torch.Tensor._make_subclass(cls, torch.empty(like.shape, dtype=like.dtype, device="meta"))
        t.sources = frozenset({key})
        return t

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        sources: set[str] = set()

        def collect(x: Any) -> None:
            if isinstance(x, _Tagged):
                sources.update(getattr(x, "sources", ()))
            elif isinstance(x, (list, tuple)):
                for item in x:
                    collect(item)

        collect(args)
        collect(list((kwargs or {}).values()))
        out = super().__torch_function__(func, types, args, kwargs or {})
        for item in out if isinstance(out, (list, tuple)) else (out,):
            if isinstance(item, _Tagged):
                item.sources = frozenset(sources)
        return out


def _stand_ins(raw: Mapping[str, torch.Tensor], keys: set[str]) -> dict[str, torch.Tensor]:
    # Scalars (alphas) stay real: converters read them with .item().
    return {k: raw[k] if raw[k].numel() == 1 else _Tagged.make(raw[k], k) for k in sorted(keys)}


def _try(raw: Mapping[str, torch.Tensor], keys: set[str], convert: Converter) -> dict[str, set[str]] | None:
    """{converted key: the file keys it came from}, or None when the converter refuses `keys`."""
    try:
        out = convert(_stand_ins(raw, keys))
    except Exception:  # the converter's refusal (unknown keys) is an answer here, not an error
        return None
    return {k: set(getattr(v, "sources", ())) for k, v in out.items()}


def _placeable(raw: Mapping[str, torch.Tensor], convert: Converter) -> tuple[set[str], dict[str, set[str]]]:
    """The largest set of file keys the converter accepts (found block by block), and where they go."""
    everything = set(raw)
    homes = _try(raw, everything, convert)
    if homes is not None:
        return everything, homes
    # Units: all keys of one block together (converters pair keys within a block), in block order
    # (some count blocks from 0); then every other module on its own.
    by_block: dict[int, set[str]] = {}
    rest: dict[str, set[str]] = {}
    for key in raw:
        found = _BLOCK.search(key)
        if found:
            by_block.setdefault(int(found.group(1)), set()).add(key)
        else:
            rest.setdefault(_stem(key), set()).add(key)
    accepted: set[str] = set()
    homes = {}
    for unit in [by_block[b] for b in sorted(by_block)] + list(rest.values()):
        accepted, homes = _accept(raw, accepted, homes, unit, convert)
    return accepted, homes


def _accept(raw: Mapping[str, torch.Tensor], accepted: set[str], homes: dict[str, set[str]], unit: set[str],
            convert: Converter) -> tuple[set[str], dict[str, set[str]]]:
    """`accepted` grown by `unit` if the converter takes it; else by the unit minus one module; else by
    each of its modules the converter takes alone."""
    modules: dict[str, set[str]] = {}
    for key in unit:
        modules.setdefault(_stem(key), set()).add(key)
    for candidate in [unit] + ([unit - keys for keys in modules.values()] if len(modules) > 1 else []):
        result = _try(raw, accepted | candidate, convert)
        if result is not None:
            return accepted | candidate, result
    for keys in modules.values() if len(modules) > 1 else ():
        result = _try(raw, accepted | keys, convert)
        if result is not None:
            accepted, homes = accepted | keys, result
    return accepted, homes
