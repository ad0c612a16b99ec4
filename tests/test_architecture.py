"""The shape the code must keep (docs/architecture.md): layers import downwards only, memory/ knows
no family, every parameter is declared once with a label and help, and the UI, the API, the CLI
and the request all use those declarations."""
from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

from studio.fields import declared, flag
from studio.tasks import all_tasks


def _imports(package: str, top_level_only: bool = False) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names)
    return found


@pytest.mark.parametrize("package,forbidden", [
    ("core", {"studio", "models", "memory", "gradio"}),
    ("memory", {"studio", "models", "gradio"}),
    ("models", {"studio", "gradio"}),
])
def test_layers_import_downwards_only(package: str, forbidden: set[str]) -> None:
    bad = sorted((path, module) for path, module in _imports(package) if module in forbidden)
    assert not bad, bad


def test_the_base_package_imports_torch_only_when_used() -> None:
    assert not [m for _, m in _imports("core", top_level_only=True) if m in ("torch", "numpy", "diffusers")]


def _code_words(path: Path) -> str:
    """Identifiers and string constants of a module, without its comments and docstrings: where a
    family name would be logic rather than a note on where a policy came from."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
    return "\n".join(words)


def test_memory_names_no_family_and_no_model_class() -> None:
    from studio.presets import load_presets

    presets = load_presets()
    words = {p.family for p in presets.values() if p.family} | {c.cls for p in presets.values()
                                                                for c in p.components.values()}
    words |= {"framepack", "hunyuan", "ldf", "wan"}
    offenders = []
    for path in (ROOT / "memory").rglob("*.py"):
        code = _code_words(path)
        for word in words:
            if re.search(rf"\b{re.escape(word)}\b", code, flags=re.IGNORECASE):
                offenders.append((path.name, word))
    assert not offenders, offenders


@pytest.mark.parametrize("spec", list(all_tasks().values()), ids=lambda s: s.name)
def test_every_parameter_has_a_label_help_and_a_checked_range(spec) -> None:
    for name, field, default in declared(spec.request_type):
        assert field.label and len(field.help) >= 20, f"{spec.name}.{name}: label and help text"
        if field.kind in ("int", "float"):
            assert field.min is not None and field.max is not None, f"{spec.name}.{name}: a range"
        if field.kind == "choice":
            assert default in field.choices, f"{spec.name}.{name}: default among the choices"


@pytest.mark.parametrize("spec", list(all_tasks().values()), ids=lambda s: s.name)
def test_cli_flags_come_from_the_declarations(spec) -> None:
    from studio.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    task = sub.choices[spec.name.replace("_", "-")]
    options = {s for a in task._actions for s in a.option_strings}
    skip = set(getattr(spec.request_type, "cli_skip", ()))
    for name, field, _ in declared(spec.request_type):
        if name not in skip:
            assert flag(name) in options, f"{spec.name}: no {flag(name)}"
            assert all(alias in options for alias in field.cli)


def test_endpoints_and_controls_come_from_the_declarations(tmp_path: Path) -> None:
    from studio.env import StudioEnv
    from studio.ui.app import build_app

    app = build_app(StudioEnv(tiny=True, outputs=tmp_path))
    endpoints = app.get_api_info()["named_endpoints"]
    for spec in all_tasks().values():
        api = [name for name, field, _ in declared(spec.request_type) if field.api]
        params = endpoints[f"/{spec.name}"]["parameters"]
        assert [p["parameter_name"] for p in params] == api
        defaults = {name: default for name, field, default in declared(spec.request_type)
                    if field.api and not field.preset_default}
        for p in params:
            if p["parameter_name"] in defaults:
                assert p["parameter_default"] == defaults[p["parameter_name"]], p["parameter_name"]
