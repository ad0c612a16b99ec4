import json
from pathlib import Path

import pytest

from core.errors import InputError, MissingWeightsError
from studio.presets import Resolver, download_commands, get_preset, load_presets


def test_every_real_preset_has_a_tiny_twin_with_same_components() -> None:
    presets = load_presets()
    for pid in ("framepack", "framepack-f1", "ldf-vfi"):
        real = presets[pid]
        tiny = presets[real.tiny]
        assert tiny.tiny_of == pid
        assert tiny.components == real.components  # same repos/layout: same loader path
        assert "noise" in tiny.title
    assert presets["interpolation-flow"].components == {}


def test_unknown_preset_names_field() -> None:
    with pytest.raises(InputError) as err:
        get_preset("nope")
    assert err.value.field == "preset" and "framepack" in err.value.fix


def _fake_snapshot(cache: Path, repo: str, files: list[str], rev: str = "abc123") -> Path:
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / rev
    for f in files:
        (snap / f).parent.mkdir(parents=True, exist_ok=True)
        (snap / f).write_text("{}")
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(rev)
    return snap


def test_resolver_finds_hf_cache_and_reports_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    cache = tmp_path / "hf" / "hub"
    resolver = Resolver(presets=load_presets())
    assert resolver.status("ldf-vfi").state == "missing"

    snap = _fake_snapshot(cache, "onecat-ai/LDF-VFI", ["transformer/config.json"])
    status = resolver.status("ldf-vfi")
    by_name = {c.spec.name: c for c in status.components}
    assert by_name["transformer"].state == "partial" and by_name["transformer"].missing == ("*.safetensors",)
    assert by_name["cond_vae"].state == "partial"
    assert status.state == "partial"
    with pytest.raises(MissingWeightsError) as err:
        resolver.paths("ldf-vfi")
    msg = str(err.value)
    assert "onecat-ai/LDF-VFI" in msg and "2.82 GB" in msg and "hf download" in msg

    # A sharded checkpoint whose index lists a shard that is absent is still partial.
    (snap / "transformer" / "diffusion_pytorch_model-00001-of-00002.safetensors").write_text("x")
    (snap / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",
                        "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}))
    (snap / "Wan2.1_VAE_cond_v2.pth").write_text("x")
    comp = {c.spec.name: c for c in resolver.status("ldf-vfi").components}["transformer"]
    assert comp.state == "partial" and "diffusion_pytorch_model-00002-of-00002.safetensors" in comp.missing

    (snap / "transformer" / "diffusion_pytorch_model-00002-of-00002.safetensors").write_text("x")
    paths = resolver.paths("ldf-vfi")
    assert paths["transformer"] == snap / "transformer"
    assert paths["cond_vae"] == snap
    assert {c.where for c in resolver.status("ldf-vfi").components} == {"hf-cache"}


def test_models_dir_takes_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _fake_snapshot(tmp_path / "hf" / "hub", "onecat-ai/LDF-VFI",
                   ["transformer/config.json", "transformer/x.safetensors", "Wan2.1_VAE_cond_v2.pth"])
    md = tmp_path / "models" / "onecat-ai" / "LDF-VFI"
    (md / "transformer").mkdir(parents=True)
    for f in ("transformer/config.json", "transformer/m.safetensors", "Wan2.1_VAE_cond_v2.pth"):
        (md / f).write_text("x")
    resolver = Resolver(models_dir=tmp_path / "models", presets=load_presets())
    status = resolver.status("ldf-vfi")
    assert status.state == "ready"
    assert {c.where for c in status.components} == {"models-dir"}
    assert resolver.paths("ldf-vfi")["transformer"] == md / "transformer"


def test_download_commands_fetch_only_needed_subfolders() -> None:
    cmds = download_commands(get_preset("framepack"))
    hv = next(c for c in cmds if "hunyuanvideo-community/HunyuanVideo" in c)
    assert "'vae/*'" in hv and "'text_encoder/*'" in hv and "transformer" not in hv
