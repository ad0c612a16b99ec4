"""Presets: model families as data (presets/*.toml), and the resolver that finds their files.

A preset names, per component, the Hugging Face repo + subfolder, class, dtype, size and the file
patterns that must be present. The resolver looks in `--models-dir` first, then in the Hugging Face
cache (honouring HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE), and says exactly what is missing.
A tiny preset (`tiny_of = "..."`) reuses its parent's components; its builder writes random
weights in the real repo layout into a local folder that is then resolved like any models dir.
"""
from __future__ import annotations

import fnmatch
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from core.errors import InputError, MissingWeightsError
from core.presets import PRESETS_DIR, read_presets

State = Literal["ready", "partial", "missing"]


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    repo: str
    subfolder: str
    cls: str
    dtype: str | None
    size_gb: float
    required: tuple[str, ...]


@dataclass(frozen=True)
class Preset:
    id: str
    family: str
    title: str
    task: str
    licence: str
    variant: str | None
    tiny: str | None
    tiny_of: str | None
    builder: str | None
    vram_note: str
    components: dict[str, ComponentSpec]
    defaults: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def is_tiny(self) -> bool:
        return self.tiny_of is not None

    @property
    def size_gb(self) -> float:
        return round(sum(c.size_gb for c in self.components.values()), 2)

    @property
    def repos(self) -> list[str]:
        return sorted({c.repo for c in self.components.values()})


def _components(table: dict[str, Any]) -> dict[str, ComponentSpec]:
    return {
        name: ComponentSpec(
            name=name,
            repo=spec["repo"],
            subfolder=spec.get("subfolder", ""),
            cls=spec.get("class", ""),
            dtype=spec.get("dtype"),
            size_gb=float(spec.get("size_gb", 0.0)),
            required=tuple(spec.get("required", ())),
        )
        for name, spec in table.items()
    }


def load_presets(directory: Path = PRESETS_DIR) -> dict[str, Preset]:
    """All presets in `directory`; a tiny preset inherits its parent's components and defaults."""
    presets: dict[str, Preset] = {}
    for pid, table in read_presets(directory).items():
        twin = "tiny_of" in table
        presets[pid] = Preset(
            id=table["id"],
            family=table.get("family", ""),
            title=table.get("title", pid) + (" [tiny random weights: output is noise]" if twin else ""),
            task=table.get("task", ""),
            licence=table.get("licence", ""),
            variant=table.get("variant"),
            tiny=table.get("tiny"),
            tiny_of=table.get("tiny_of"),
            builder=table.get("builder"),
            vram_note=table.get("vram_note", ""),
            components=_components(table.get("components", {})),
            defaults=dict(table["defaults"]),
            raw=table,
        )
    return presets


def get_preset(preset_id: str, presets: dict[str, Preset] | None = None) -> Preset:
    presets = presets if presets is not None else load_presets()
    if preset_id not in presets:
        raise InputError("preset", f"unknown preset {preset_id!r}", f"choose one of: {', '.join(sorted(presets))}")
    return presets[preset_id]


# ---------------------------------------------------------------------------------------------
# Finding files


@dataclass(frozen=True)
class ComponentStatus:
    spec: ComponentSpec
    state: State
    path: Path | None  # the component's own folder (snapshot / subfolder) when found
    where: str | None  # "models-dir", "hf-cache" or "tiny"
    missing: tuple[str, ...]


@dataclass(frozen=True)
class PresetStatus:
    preset: Preset
    components: tuple[ComponentStatus, ...]

    @property
    def state(self) -> State:
        states = {c.state for c in self.components}
        if not states or states == {"ready"}:
            return "ready"
        return "missing" if states == {"missing"} else "partial"

    def missing_message(self) -> str:
        lines = [f"Weights for preset {self.preset.id!r} are not all on this machine:"]
        for c in self.components:
            if c.state != "ready":
                where = f"{c.spec.repo}" + (f"/{c.spec.subfolder}" if c.spec.subfolder else "")
                what = ", ".join(c.missing)
                lines.append(f"  - {c.spec.name}: {where} (~{c.spec.size_gb:g} GB) is {c.state}; missing {what}")
        lines.append("Fetch them with the Models tab's Download button, or on a machine with internet:")
        lines += [f"  {cmd}" for cmd in download_commands(self.preset, only=[c.spec.name for c in self.components if c.state != "ready"])]
        lines.append("then copy the Hugging Face cache here, or pass --models-dir DIR holding <owner>/<repo>/ folders.")
        return "\n".join(lines)


def download_patterns(preset: Preset, only: list[str] | None = None) -> dict[str, list[str]]:
    """Per repo, the allow-patterns that fetch just this preset's components (not whole repos)."""
    patterns: dict[str, list[str]] = {}
    for spec in preset.components.values():
        if only is not None and spec.name not in only:
            continue
        prefix = f"{spec.subfolder}/" if spec.subfolder else ""
        # the hub's include patterns are fnmatch over the whole path: "*.pt" already spans folders
        pats = [prefix + "*"] if spec.subfolder else ["*.json", *(p.removeprefix("**/") for p in spec.required)]
        patterns.setdefault(spec.repo, [])
        patterns[spec.repo] += [p for p in pats if p not in patterns[spec.repo]]
    return patterns


def download_commands(preset: Preset, only: list[str] | None = None) -> list[str]:
    return [
        f"hf download {repo} " + " ".join(f"--include '{p}'" for p in pats)
        for repo, pats in sorted(download_patterns(preset, only).items())
    ]


def hf_cache_dir() -> Path:
    """The hub cache huggingface_hub would use (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _cache_snapshot(cache: Path, repo: str) -> Path | None:
    """The snapshot folder that refs/main points to (or the newest one) in the hub cache layout."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    if snapshots.is_dir():
        dirs = sorted((d for d in snapshots.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
        return dirs[-1] if dirs else None
    return None


def _models_dir_repo(models_dir: Path, repo: str) -> Path | None:
    owner, _, name = repo.partition("/")
    for candidate in (models_dir / owner / name, models_dir / repo.replace("/", "--"), models_dir / name):
        if candidate.is_dir():
            return candidate
    return None


def _missing_patterns(folder: Path, patterns: tuple[str, ...]) -> tuple[str, ...]:
    if not folder.is_dir():
        return patterns or ("(folder)",)
    names = [p.name for p in folder.iterdir()]
    # "**/x" also looks in subfolders (a file whose place in the repo is not fixed)
    missing = [pat for pat in patterns if not (fnmatch.filter(names, pat.removeprefix("**/"))
                                               or (pat.startswith("**/") and any(folder.glob(pat))))]
    # A sharded checkpoint is only complete when every shard its index lists is there.
    for index in folder.glob("*.safetensors.index.json"):
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        missing += sorted(s for s in shards if not (folder / s).exists())
    return tuple(missing)


class Resolver:
    """Finds each component's folder; never touches the network."""

    def __init__(self, models_dir: Path | None = None, tiny_dir: Path | None = None,
                 presets: dict[str, Preset] | None = None) -> None:
        self.models_dir = Path(models_dir) if models_dir else None
        self.tiny_dir = Path(tiny_dir) if tiny_dir else default_tiny_dir()
        self.presets = presets if presets is not None else load_presets()

    def _roots(self, preset: Preset) -> list[tuple[str, Callable[[str], Path | None]]]:
        if preset.is_tiny:
            root = self.tiny_dir / preset.id
            return [("tiny", lambda repo: _models_dir_repo(root, repo))]
        roots: list[tuple[str, Callable[[str], Path | None]]] = []
        if self.models_dir:
            md = self.models_dir
            roots.append(("models-dir", lambda repo: _models_dir_repo(md, repo)))
        cache = hf_cache_dir()
        roots.append(("hf-cache", lambda repo: _cache_snapshot(cache, repo)))
        return roots

    def status(self, preset: Preset | str) -> PresetStatus:
        preset = get_preset(preset, self.presets) if isinstance(preset, str) else preset
        result = []
        for spec in preset.components.values():
            best: ComponentStatus | None = None
            for where, find in self._roots(preset):
                repo_root = find(spec.repo)
                if repo_root is None:
                    continue
                folder = repo_root / spec.subfolder if spec.subfolder else repo_root
                missing = _missing_patterns(folder, spec.required)
                state: State = "ready" if not missing else "partial"
                found = ComponentStatus(spec, state, folder, where, missing)
                if state == "ready":
                    best = found
                    break
                best = best or found
            result.append(best or ComponentStatus(spec, "missing", None, None, spec.required or ("(repo)",)))
        return PresetStatus(preset, tuple(result))

    def ensure_tiny(self, preset: Preset, seed: int = 0) -> None:
        """Build the tiny twin's random weights (once) so the normal resolver can find them."""
        if not preset.is_tiny or not preset.builder:
            return
        module_name, _, fn_name = preset.builder.partition(":")
        builder = getattr(importlib.import_module(module_name), fn_name)
        parent = self.presets[preset.tiny_of] if preset.tiny_of in self.presets else preset
        builder(self.tiny_dir / preset.id, parent.raw, seed=seed)

    def paths(self, preset: Preset | str) -> dict[str, Path]:
        """Each component's folder, or MissingWeightsError naming repos, sizes and the fix."""
        preset = get_preset(preset, self.presets) if isinstance(preset, str) else preset
        self.ensure_tiny(preset)
        status = self.status(preset)
        if status.state != "ready":
            raise MissingWeightsError(status.missing_message())
        return {c.spec.name: c.path for c in status.components if c.path is not None}


def default_tiny_dir() -> Path:
    env = os.environ.get("FRAME_STUDIO_TINY_DIR")
    if env:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".cache" / "frame-studio" / "tiny"
