"""Exact parameter bytes per component and per block, from the real configs built on `meta`.

The real configs are data files under `presets/configs/<owner>/<repo>/<subfolder>/config.json`
(sources in presets/configs/README.md). Building the model class on the `meta` device allocates
nothing, so the 13B FramePack transformer is counted in well under a second on any machine.

Blocks follow diffusers' block-level group offloading rule: the `nn.ModuleList`/`nn.Sequential`
children of the top module are the streamable blocks (or, when there are none, the first lists
below its wrapper modules, reached with `block_modules`); everything else ("other") travels with
its wrappers' groups. A `frame_studio.json` next to a config records what the config alone cannot say
(modules a checkpoint's own class does not build, the dtype the checkpoint is stored in).
"""
from __future__ import annotations

import functools
import importlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from core.dtypes import itemsize, parse_dtype

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "presets" / "configs"

# Classes with no weights (tokenizers, processors): planned as 0 bytes.
_NO_WEIGHT_SUFFIXES = ("Tokenizer", "TokenizerFast", "Processor", "ImageProcessor", "FeatureExtractor", "Scheduler")


def dtype_of(name: str | torch.dtype | None, default: torch.dtype = torch.float32) -> torch.dtype:
    """A preset/config dtype name as a torch dtype (`core.dtypes.parse_dtype`, float32 when unset)."""
    return parse_dtype(name, default)


@dataclass(frozen=True)
class BlockList:
    """One streamable list of blocks (`path` is the attribute name, e.g. "single_transformer_blocks")."""

    path: str
    block_params: tuple[int, ...]
    block_bytes: tuple[int, ...]


@dataclass(frozen=True)
class ComponentSize:
    name: str
    cls: str
    dtype: str
    params: int
    bytes: int
    block_lists: tuple[BlockList, ...] = ()
    file_bytes: int | None = None  # bytes read from disk when the checkpoint's dtype differs
    source: str = ""
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def block_params(self) -> int:
        return sum(sum(b.block_params) for b in self.block_lists)

    @property
    def other_params(self) -> int:
        return self.params - self.block_params

    @property
    def other_bytes(self) -> int:
        return self.bytes - sum(sum(b.block_bytes) for b in self.block_lists)

    def blocks_in_order(self) -> list[tuple[str, int]]:
        """(name, bytes) of every block in execution order, e.g. ("transformer_blocks.0", 679662592)."""
        return [(f"{bl.path}.{i}", b) for bl in self.block_lists for i, b in enumerate(bl.block_bytes)]


def config_dir(repo: str, subfolder: str = "", root: Path | None = None) -> Path:
    """`root` defaults to presets/configs; a tiny kit's build folder has the same <owner>/<repo> layout."""
    base = Path(root) if root is not None else CONFIGS_DIR
    return base / repo / subfolder if subfolder else base / repo


def load_config(repo: str, subfolder: str = "", filename: str = "config.json", root: Path | None = None) -> dict:
    path = config_dir(repo, subfolder, root) / filename
    if not path.is_file():
        raise FileNotFoundError(f"no stored config for {repo}/{subfolder or '.'}: {path} (see presets/configs/README.md)")
    return json.loads(path.read_text())


def _extras(repo: str, subfolder: str, root: Path | None = None) -> dict:
    path = config_dir(repo, subfolder, root) / "frame_studio.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def is_weightless(cls_name: str) -> bool:
    return cls_name.endswith(_NO_WEIGHT_SUFFIXES)


def model_class(cls_name: str) -> type[nn.Module]:
    """The model class of that name from diffusers, else from transformers; "package.module:Class"
    names a class of its own (a diffusers class customised by a family, e.g. with added modules)."""
    if ":" in cls_name:
        module, _, attr = cls_name.partition(":")
        cls = getattr(importlib.import_module(module), attr, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            return cls
        raise ValueError(f"{cls_name!r} is not an importable model class")
    for library in ("diffusers", "transformers"):
        cls = getattr(importlib.import_module(library), cls_name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            return cls
    raise ValueError(f"{cls_name!r} is neither a diffusers nor a transformers model class")


def build_on_meta(cls_name: str, config: dict) -> nn.Module:
    """The real architecture with no storage behind its parameters."""
    from diffusers.utils import logging as dlogging

    cls = model_class(cls_name)
    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()  # unknown keys such as LDF-VFI's "attention_type" are expected
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            if hasattr(cls, "from_config"):  # diffusers ModelMixin
                return cls.from_config(config)
            return cls(cls.config_class.from_dict(config))  # transformers PreTrainedModel
    finally:
        dlogging.set_verbosity(level)


def _is_list(module: nn.Module) -> bool:
    return isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) > 0


def list_paths(module: nn.Module) -> list[str]:
    """Dotted paths of the module lists diffusers' block-level offloading would stream: the
    top-level ones; or, for a model that keeps its one stack of layers below wrappers (a text
    encoder's `encoder.block`, a vision tower's `vision_model.encoder.layers`), that list. Models
    with several nested lists (VAEs: down, mid and up blocks interleaved in execution) are not
    streamed: their groups would not run in definition order, so prefetching would go wrong."""
    top = [name for name, child in module.named_children() if _is_list(child)]
    if top:
        return top
    found: list[str] = []

    def visit(prefix: str, parent: nn.Module) -> None:
        for name, child in parent.named_children():
            path = f"{prefix}{name}"
            if _is_list(child):
                found.append(path)
            else:
                visit(path + ".", child)

    visit("", module)
    return found if len(found) == 1 else []


def block_containers(module: nn.Module) -> list[str]:
    """Child names diffusers must recurse into (`apply_group_offloading(block_modules=...)`) to
    reach nested block lists; empty when the lists are top-level."""
    names: list[str] = []
    for path in list_paths(module):
        for part in path.split(".")[:-1]:
            if part not in names:
                names.append(part)
    return names


def block_lists(module: nn.Module, dtype: torch.dtype | None = None) -> tuple[BlockList, ...]:
    """The streamable module lists (`list_paths`); bytes at `dtype`, or as stored when None (mixed
    fp8 storage)."""
    out = []
    for path in list_paths(module):
        child = module.get_submodule(path)
        params = tuple(_nparams(b) for b in child)
        out.append(BlockList(path, params, tuple(_nbytes(b, dtype) for b in child)))
    return tuple(out)


def _nparams(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _nbytes(module: nn.Module, dtype: torch.dtype | None = None) -> int:
    """Bytes that move with the module: parameters (at `dtype` when given) and buffers (as they are;
    RoPE tables, position ids: a few KB)."""
    size = itemsize(dtype) if dtype is not None else None
    params = sum(p.numel() * (size or p.element_size()) for p in module.parameters())
    return params + sum(b.numel() * b.element_size() for b in module.buffers())


def _drop(module: nn.Module, dotted: str) -> None:
    parent_path, _, leaf = dotted.rpartition(".")
    parent = module.get_submodule(parent_path) if parent_path else module
    delattr(parent, leaf)


def module_size(name: str, module: nn.Module, cls: str | None = None, dtype: str | torch.dtype | None = None,
                source: str = "module") -> ComponentSize:
    """Sizes of a live (or meta) module; used for tiny presets and for what the executor moves.
    With `dtype=None` the bytes are the module's own (mixed dtypes, e.g. fp8 storage, counted exactly)."""
    if dtype is None:
        nbytes = _nbytes(module)
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in module.parameters()}) or ["float32"]
        label = "+".join(dtypes)
        blocks = block_lists(module, None)
    else:
        dt = dtype_of(dtype)
        nbytes = _nbytes(module, dt)
        label = str(dt).removeprefix("torch.")
        blocks = block_lists(module, dt)
    return ComponentSize(name=name, cls=cls or type(module).__name__, dtype=label, params=_nparams(module),
                         bytes=nbytes, block_lists=blocks, source=source, config=_config_of(module))


def _config_of(module: nn.Module) -> dict:
    config = getattr(module, "config", None)
    if config is None:
        return {}
    if hasattr(config, "to_dict"):  # transformers PretrainedConfig
        return config.to_dict()
    return dict(config)  # diffusers FrozenDict


@functools.lru_cache(maxsize=64)
def _meta_size(cls_name: str, repo: str, subfolder: str, dtype: str, root: Path | None) -> ComponentSize:
    extras = _extras(repo, subfolder, root)
    config = load_config(repo, subfolder, root=root)
    module = build_on_meta(cls_name, config)
    for dotted in extras.get("absent_modules", ()):
        _drop(module, dotted)
    where = f"presets/configs/{repo}/{subfolder + '/' if subfolder else ''}config.json"
    size = module_size("", module, cls_name, dtype, source=f"{cls_name} built on meta from {where}")
    file_bytes = None
    if "checkpoint_dtype" in extras:  # parameters only: that is what the checkpoint file holds
        file_bytes = size.params * itemsize(dtype_of(extras["checkpoint_dtype"]))
    return ComponentSize(name="", cls=cls_name.rpartition(":")[2], dtype=size.dtype, params=size.params,
                         bytes=size.bytes, block_lists=size.block_lists, file_bytes=file_bytes, source=size.source,
                         config=config)


def _counted_size(cls_name: str, repo: str, subfolder: str, dtype: str, root: Path | None) -> ComponentSize:
    """Components whose class is not in diffusers/transformers (LDF-VFI's conditional VAE): counts
    come from a stored parameter manifest instead of a meta build."""
    path = config_dir(repo, subfolder, root) / f"{cls_name}.params.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config or parameter manifest for {cls_name} in {config_dir(repo, subfolder, root)}")
    data = json.loads(path.read_text())
    params = int(data["total_params"])
    return ComponentSize(name="", cls=cls_name, dtype=dtype, params=params, bytes=params * itemsize(dtype_of(dtype)),
                         source=f"parameter manifest {path.name} ({data.get('source', '')})")


def component_size(name: str, cls_name: str, repo: str, subfolder: str = "", dtype: str | None = None,
                   root: Path | None = None) -> ComponentSize:
    """Exact parameter bytes of one preset component at the dtype it is loaded in."""
    dt = str(dtype_of(dtype)).removeprefix("torch.")
    if is_weightless(cls_name):
        return ComponentSize(name=name, cls=cls_name, dtype=dt, params=0, bytes=0, source="no weights")
    if (config_dir(repo, subfolder, root) / "config.json").is_file():
        size = _meta_size(cls_name, repo, subfolder, dt, root)
    else:
        size = _counted_size(cls_name, repo, subfolder, dt, root)
    return ComponentSize(name=name, cls=size.cls, dtype=size.dtype, params=size.params, bytes=size.bytes,
                         block_lists=size.block_lists, file_bytes=size.file_bytes, source=size.source,
                         config=size.config)
