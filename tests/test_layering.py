"""The core's layers, and no import cycles between its modules (docs/project/architecture.md).

Every private module of `collector/` belongs to one subpackage, and each subpackage is a layer
that imports only the layers below it; the public modules sit on top, and `archive_check` (stdlib
only: it runs where the collector is not installed) at the bottom. Every import counts: at module
level, inside a function, under `TYPE_CHECKING`. A function-level import that dodges a cycle is
still a cycle, and a type-only one is still a dependency mypy follows.

The module graph (a package's `__init__` is a module of its own) has no cycle at all, within a
layer too: a module that needs one of a module that needs it means one of them does two jobs.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "collector"

LAYERS = [
    ("archive_check", ["archive_check"]),
    ("_base", ["_base"]),
    ("_http", ["_http"]),
    ("_sources", ["_sources"]),
    ("_storage", ["_storage"]),
    ("_runner", ["_runner"]),
    ("_scaffold", ["_scaffold"]),
    ("_cli", ["_cli"]),
    ("public", ["__init__", "__main__", "engine", "testing", "emulator"]),
]
"""Bottom to top: the layer of `collector.<name>...` for each top-level name under `collector/`."""

RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}
LAYER = {name: layer for layer, names in LAYERS for name in names}


def _modules() -> dict[str, Path]:
    found = {}
    for path in CORE.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[:3] == ("collector", "_scaffold", "template"):
            continue  # the new-plugin skeleton: package data, a plugin of its own
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported collector module) for every import in the file, wherever it sits."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "collector" or alias.name.startswith("collector."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != "collector" and not base.startswith("collector."):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else base


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for _, target in _imports(module, path):
            assert target in MODULES, f"{module} imports {target}, which is not a module of collector/"
            if target != module:
                graph[module].add(target)
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(module for module in MODULES if _top(module) not in RANK)
    assert unplaced == [], f"put these in a layer (tests/test_layering.py, docs/project/architecture.md): {unplaced}"


def test_no_layer_imports_a_layer_above_it() -> None:
    upward = []
    for module, path in sorted(MODULES.items()):
        for line, target in _imports(module, path):
            if RANK[_top(target)] > RANK[_top(module)]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {LAYER[_top(module)]} imports "
                              f"{target} ({LAYER[_top(target)]})")
    assert upward == [], "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_module_graph_has_no_cycle() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    described = []
    for component in cycles:
        members = set(component)
        edges = sorted(f"{a} -> {b}" for a in component for b in graph[a] if b in members)
        described.append(f"{', '.join(component)}:\n    " + "\n    ".join(edges))
    assert cycles == [], "import cycles:\n" + "\n".join(described)


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_archive_check_needs_only_the_standard_library() -> None:
    tree = ast.parse((CORE / "archive_check.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "archive_check imports nothing of the collector"
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) - {"__future__"} == set()


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS if name.startswith("_")])
def test_each_layer_says_what_it_owns_and_what_it_may_import(layer: str) -> None:
    """The docstring of a layer's `__init__` ends with the line `May import: ...` naming exactly the
    layers below it, so the rule is read where the code is."""
    doc = ast.get_docstring(ast.parse((CORE / layer / "__init__.py").read_text(encoding="utf-8"))) or ""
    below = [name for name, _ in LAYERS[:RANK[layer]]]
    expected = "May import: " + (", ".join(f"`{name}`" for name in below) if below
                                 else "nothing of the collector") + "."
    assert doc.strip().splitlines()[-1] == expected, \
        f"collector/{layer}/__init__.py's docstring must end with {expected!r}"
    assert len(doc.splitlines()) > 2, f"collector/{layer}/__init__.py: say what the layer owns"


CATALOG = "collector._storage._catalog"
CATALOG_INSIDES = {"_db", "_transaction", "_stream", "_append"}
"""The catalog's connection, its transactions, its cursors and the evidence chain's writer."""


def test_nothing_outside_the_catalog_reaches_into_it() -> None:
    """Everything that reads or writes the catalog's tables is in `_catalog/`, behind typed methods:
    no other module imports one of its private modules, uses its connection, transactions or
    cursors, or runs SQL through `Catalog.query` (kept for tests and `collector.testing`, which read
    what a finished run left)."""
    found = []
    for module, path in sorted(MODULES.items()):
        if module == CATALOG or module.startswith(CATALOG + "."):
            continue
        where = path.relative_to(ROOT)
        for line, target in _imports(module, path):
            if target.startswith(CATALOG + "."):
                found.append(f"{where}:{line}: imports {target} (import from {CATALOG} itself)")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in CATALOG_INSIDES:
                found.append(f"{where}:{node.lineno}: uses .{node.attr}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "query"
                  and not module.startswith("collector.testing")):
                found.append(f"{where}:{node.lineno}: runs SQL with .query()")
    assert found == [], "\n".join(found)
