"""The shape every plugin follows, and the boundary between the core and everything else.

Our plugins are the examples a newcomer copies, so they share one module layout with one job per
module (written down in the plugin tutorial, docs/tutorial/), and nothing outside `collector/` (plugins,
their tests, benchmarks) imports a private `collector._*` module: a plugin uses exactly the API a
third-party plugin has.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())

LAYOUT = {
    "__init__.py": "the hook implementations (sources, demo) and nothing else",
    "_settings.py": "the settings model",
    "_api.py": "the raw HTTP calls and what the vendor's answers and errors mean",
    "_mapping.py": "vendor JSON to the normalized model (pure functions)",
    "_source.py": "the Source",
    "_emudata.py": "the emulator's deterministic data",
    "emulator.py": "the emulator of the vendor's API",
    "_demo.py": "the demo tenants for `collector demo`",
    "testing.py": "the emulation as the conformance suite drives it",
}


@pytest.mark.parametrize("plugin", PLUGINS, ids=[p.name for p in PLUGINS])
def test_every_plugin_has_the_same_modules_with_the_same_jobs(plugin: Path) -> None:
    package = plugin / f"collector_{plugin.name}"
    assert sorted(p.name for p in package.glob("*.py")) == sorted(LAYOUT)
    for name in LAYOUT:
        tree = ast.parse((package / name).read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{package.name}/{name} has no module docstring"
    hooks = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    functions = [node.name for node in hooks.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert functions and all(name.startswith("collector_") for name in functions), functions
    assert (plugin / "tests" / "test_conformance.py").is_file()


def test_the_plugin_tutorial_documents_the_layout() -> None:
    tutorial = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "docs" / "tutorial").glob("*.md"))
    for name in LAYOUT:
        assert f"`{name}`" in tutorial, f"the plugin tutorial (docs/tutorial/) does not describe {name}"


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("collector._")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("collector._"):
                found.append(node.module)
            elif node.module == "collector":
                found += [f"collector.{alias.name}" for alias in node.names if alias.name.startswith("_")]
    return found


def test_nothing_outside_the_core_imports_a_private_core_module() -> None:
    outside = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    offenders = {str(path.relative_to(ROOT)): names for path in outside if (names := _private_imports(path))}
    assert offenders == {}
