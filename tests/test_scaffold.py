"""`collector new-plugin`: the skeleton installs, imports only the public API and passes its own tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from collector._cli._main import run_cli

LAYOUT = {
    "pyproject.toml", "README.md", "tests/test_conformance.py",
    *(f"collector_acme_voice/{module}.py" for module in (
        "__init__", "_settings", "_api", "_mapping", "_source", "_emudata", "emulator", "_demo", "testing")),
}


PUBLIC = {"collector", "collector.emulator", "collector.testing"}


def _imported(source: str) -> set[str]:
    """The absolute modules a source imports, other than the standard library and the packages
    the collector depends on."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            if node.module == "collector":
                found.update(f"collector.{alias.name}" for alias in node.names if alias.name.startswith("_"))
    return {name for name in found if name.startswith("collector")}


def new_plugin(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_cli(["new-plugin", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_skeleton_has_the_shared_layout_and_imports_only_the_public_api(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "collector-acme-voice"
    code, out, err = new_plugin("acme_voice", str(target), capsys=capsys)
    assert code == 0, err
    assert "Wrote the plugin 'acme_voice'" in out
    files = {path.relative_to(target).as_posix() for path in target.rglob("*") if path.is_file()}
    assert files == LAYOUT
    for name in files:
        text = (target / name).read_text(encoding="utf-8")
        assert not re.search(r"\{\{\w+\}\}", text), f"{name} keeps a placeholder"
        if name.endswith(".py"):
            assert {m for m in _imported(text) if not m.startswith("collector_acme_voice")} <= PUBLIC, name
    pyproject = (target / "pyproject.toml").read_text(encoding="utf-8")
    assert 'acme_voice = "collector_acme_voice"' in pyproject and 'name = "collector-acme-voice"' in pyproject
    assert "class AcmeVoiceSource(Source)" in (target / "collector_acme_voice/_source.py").read_text()


@pytest.mark.parametrize("name", ["Acme", "acme-voice", "1acme", "acme_", "acme__voice", "_acme", "",
                                  "a" * 41, "acme voice"])
def test_a_bad_name_is_refused_with_a_sentence_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = new_plugin(name, capsys=capsys)
    assert code == 2
    assert err.startswith("collector: ") and "cannot name a plugin" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_refused_unless_it_is_empty(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    code, _, err = new_plugin("acme", str(taken), capsys=capsys)
    assert code == 2 and "already exists and is not empty" in err and "Traceback" not in err
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    code, _, err = new_plugin("acme", str(a_file), capsys=capsys)
    assert code == 2 and "is not a directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = new_plugin("acme", str(empty), capsys=capsys)
    assert code == 0, err
    assert (empty / "collector_acme" / "_source.py").is_file()


def test_the_default_directory_is_collector_dash_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = new_plugin("acme_voice", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "collector-acme-voice" / "collector_acme_voice" / "__init__.py").is_file()


@pytest.mark.slow
def test_the_skeleton_installs_and_passes_the_whole_conformance_suite(
        tmp_path: Path, plugin_venv: Any, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "collector-acme-voice"
    code, _, err = new_plugin("acme_voice", str(project), capsys=capsys)
    assert code == 0, err
    plugin_venv.install(project)
    listed = plugin_venv.run("-m", "collector", "plugins", check=False)
    assert "acme_voice (collector-acme-voice 0.1.0): sources: acme_voice" in listed.stdout, listed.stdout
    tests = plugin_venv.run("-m", "pytest", "-p", "no:cacheprovider", "-q", str(project / "tests"), cwd=tmp_path)
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.search(r"\b1[0-9] passed\b", summary) and "failed" not in summary and "error" not in summary, \
        tests.stdout
    demo = plugin_venv.run("-m", "collector", "demo", str(tmp_path / "demo"), cwd=tmp_path)
    assert "acme_voice/north [ok]" in demo.stderr + demo.stdout


@pytest.mark.parametrize("name", ["focus", "xima", "imagicle"])
def test_the_name_of_an_installed_plugin_is_refused(tmp_path: Path, name: str) -> None:
    """`new-plugin focus` would write a distribution that replaces the shipped Focus plugin on install."""
    from collector._scaffold import ScaffoldError, new_plugin

    with pytest.raises(ScaffoldError, match=f"'{name}' is taken by the installed plugin"):
        new_plugin(name, tmp_path / name)
    assert not (tmp_path / name).exists()
