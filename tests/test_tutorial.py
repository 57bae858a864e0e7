"""The plugin tutorial's finished plugin, as the tutorial shows it: real files in
docs/tutorial/collector-lyrebird/ (included into the tutorial's pages when the site is built) that
make a plugin that installs, keeps every promise of the conformance suite, runs a demo, and is as
small as the tutorial says."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "docs" / "tutorial" / "collector-lyrebird"
PAGES = ROOT / "docs" / "tutorial"
EXCLUDED = {"emulator.py", "_emudata.py", "_demo.py", "testing.py"}  # as bench/plugin_lines.py counts
# The tutorial's own .ruff.toml keeps its imports compact (ruff's import order would make it 131).
LIMIT = 120


def tutorial_files() -> dict[str, str]:
    """The finished plugin's files by relative path (caches a tool left there aside)."""
    return {path.relative_to(PLUGIN).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(PLUGIN.rglob("*"))
            if path.is_file() and not any(part == "__pycache__" or part.startswith(".") or part.endswith(".egg-info")
                                          for part in path.relative_to(PLUGIN).parts)}


def tutorial_text() -> str:
    """The tutorial's pages, as written (the snippets they include not expanded)."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(PAGES.glob("*.md")))


def test_the_tutorial_has_a_file_for_every_module_of_the_layout() -> None:
    files = tutorial_files()
    modules = {f"collector_lyrebird/{name}.py" for name in (
        "__init__", "_settings", "_api", "_mapping", "_source", "_emudata", "emulator", "_demo", "testing")}
    assert set(files) == modules | {"pyproject.toml", "README.md", "tests/test_conformance.py"}
    emulation = files["collector_lyrebird/testing.py"]
    for declaration in ("processing = True", "redirects = True", "concurrency_limit = 3"):
        assert declaration in emulation, f"the Lyrebird Emulation must declare {declaration}"
    for name, text in files.items():
        if name.endswith(".py"):
            assert "collector._" not in text and "from collector._" not in text, name


def test_the_plugin_code_is_as_small_as_the_tutorial_says() -> None:
    """Counted as bench/plugin_lines.py counts: the package's .py files but the emulator's and the
    conformance adapter's."""
    files = tutorial_files()
    counted = {name: text for name, text in files.items()
               if name.startswith("collector_lyrebird/") and Path(name).name not in EXCLUDED}
    assert len(counted) == 5, sorted(counted)
    lines = sum(source.count("\n") for source in counted.values())  # what `wc -l` counts
    assert lines <= LIMIT, f"the plugin code is {lines} lines, more than {LIMIT}"
    text = tutorial_text()
    assert f"**{lines} lines**" in text and re.search(rf"^\s*{lines} total$", text, re.MULTILINE), \
        f"the tutorial does not state the measured count ({lines} lines)"
    for name, source in counted.items():
        count = source.count("\n")
        assert re.search(rf"^\s*{count} {re.escape(name)}$", text, re.MULTILINE), \
            f"the tutorial's `wc -l` does not show {name} at {count} lines"
        long = [n for n, line in enumerate(source.splitlines(), 1) if len(line) > 100]
        assert not long, f"{name}: lines over 100 characters: {long}"
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"{name} has no module docstring"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not node.name.startswith("_"):
                assert ast.get_docstring(node), f"{name}: {node.name} has no docstring"


@pytest.mark.slow
def test_the_tutorial_plugin_installs_passes_the_conformance_suite_and_runs_a_demo(
        tmp_path: Path, plugin_venv: Any) -> None:
    project = tmp_path / "collector-lyrebird"
    plugin_venv.run("-m", "collector", "new-plugin", "lyrebird", str(project))  # step 1
    generated = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    files = tutorial_files()
    assert set(files) == generated, "the tutorial must replace every file the skeleton has"
    assert files["pyproject.toml"] == (project / "pyproject.toml").read_text(encoding="utf-8"), \
        "the tutorial says the generated pyproject.toml needs no change"
    for name in files:  # the real files, copied over the skeleton's as the tutorial's reader does
        shutil.copyfile(PLUGIN / name, project / name)
    plugin_venv.install(project)

    tests = plugin_venv.run("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", str(project / "tests"),
                            cwd=tmp_path)
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary), tests.stdout
    assert not re.search(r"failed|error", summary), tests.stdout
    # The only skips: the PostgreSQL + S3 half of the conformance suite, as the tutorial's project
    # defines no `postgres`/`s3` fixtures (the tutorial says how to add them), and the checks of vendor
    # shapes Lyrebird's emulation does not declare: the listing traits (its lateness is bounded, it has
    # no change feed, its page URIs never expire), parents whose children come later, batch downloads,
    # and the others ("the emulation declares no/neither ...").
    absent = ("PostgreSQL + S3", "no back-dated arrivals", "no change feed", "no expiring tokens",
              "the emulation declares", "declares no parents whose children come later", "declares no batch downloads")
    skips = [line for line in tests.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all(any(reason in line for reason in absent) for line in skips), tests.stdout

    demo = tmp_path / "demo"
    first = plugin_venv.run("-m", "collector", "demo", str(demo), cwd=tmp_path)
    assert "lyrebird/harbour [ok]" in first.stderr and "lyrebird/meadow [ok]" in first.stderr, first.stderr
    again = plugin_venv.run("-m", "collector", "demo", str(demo), cwd=tmp_path)
    assert "Nothing new" in again.stdout, again.stdout
