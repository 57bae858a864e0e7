"""The documentation site builds, in strict mode and offline, and documents what the code has.

The site is built once per run (about 5 s): every public name of the four public modules has its
entry in the API reference, every configuration key is in the configuration reference and in
`config.example.toml`, every command and option in the CLI reference, every metric on the metrics
page; the troubleshooting page quotes messages the code still prints; no page loads anything from
another host. The tutorial's plugin and the `new-plugin` template are type-checked (mypy
--strict), and the README stays a short tour whose links lead somewhere.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
import time
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIAL_PLUGIN = DOCS / "tutorial" / "collector-lyrebird"
TEMPLATE = ROOT / "collector" / "_scaffold" / "template"


def _hook() -> ModuleType:
    """The build hook that generates the reference pages (it knows what they must document)."""
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "_hooks" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


hook = _hook()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built by `mkdocs build --strict` into a temporary folder."""
    target = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    started = time.monotonic()
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}\n{built.stderr}"
    print(f"the documentation site built in {took:.1f} s")
    return target


def _page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize("module", hook.API_MODULES)
def test_the_api_reference_documents_every_name_in_all(site: Path, module: str) -> None:
    page = _page(site, f"reference/api/{module.removeprefix('collector.') if module != 'collector' else module}")
    ids = set(re.findall(r'id="([^"]+)"', page))
    names = hook.public_names(module)
    missing = [name for name in names if f"{module}.{name}" not in ids]
    assert not missing, f"{module}: no entry in the API reference for {missing}"


def test_the_api_reference_documents_every_hook(site: Path) -> None:
    page = _page(site, "reference/api/collector")
    missing = [name for name in hook.hook_names() if f'id="{name}"' not in page]
    assert not missing, f"hooks missing from the API reference: {missing}"


def _config_keys() -> dict[str, list[str]]:
    """Every configuration key, by the section of config.example.toml that must hold it."""
    keys: dict[str, list[str]] = {}
    for table, model in hook.tables().items():
        nested = {name.split(".", 1)[1] for name in hook.tables() if name.startswith(f"{table}.")}
        keys[table] = [key.path for key in hook.keys_of(model) if key.path.split(".")[0] not in nested]
    keys["sources"] = [key.path for key in hook.keys_of(hook.source_settings())]
    for plugin, settings in hook.shipped_plugins().items():
        keys[f"plugin = {plugin}"] = [key.path for key in hook.plugin_keys(settings)]
    return keys


def _example_sections() -> dict[str, str]:
    """config.example.toml cut into the sections `_config_keys` names (commented-out tables included)."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    current = "top"
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[(\[)?([a-z0-9_.]+)\]", line)
        plugin = re.match(r'^plugin = "([a-z_]+)"', line)
        if header and not line.startswith("#   "):
            current = "sources" if header.group(1) else header.group(2)
            if current == "sources":
                continue
        if plugin:
            current = f"plugin = {plugin.group(1)}"
        sections[current] = sections.get(current, "") + line + "\n"
    # The keys every source accepts are documented in the comment block before the first entry.
    sections["sources"] = sections.get("metrics", "") + sections.get("sources", "")
    return sections


def test_config_example_has_every_key() -> None:
    sections = _example_sections()
    missing = []
    for section, keys in _config_keys().items():
        text = sections.get(section, "")
        for key in keys:
            if not re.search(rf"\b{re.escape(key.split('.')[-1])}\s*=", text):
                missing.append(f"{section}: {key}")
    assert not missing, f"config.example.toml does not show these keys: {missing}"


def test_the_configuration_reference_has_every_key(site: Path) -> None:
    page = _page(site, "reference/configuration")
    prefixes = {"sources": "sources."} | {f"plugin = {p}": f"{p}." for p in hook.shipped_plugins()}
    missing = []
    for section, keys in _config_keys().items():
        prefix = prefixes.get(section, f"{section}.")
        missing += [f"{prefix}{key}" for key in keys if f'id="{prefix}{key}"' not in page]
    assert not missing, f"the configuration reference lacks {missing}"


def test_the_cli_reference_has_every_command_and_option(site: Path) -> None:
    text = _text(_page(site, "reference/cli"))
    commands = hook.commands()
    assert {"run", "verify", "config check", "new-plugin", "migrate-store"} <= set(commands)
    missing = []
    for name, command in commands.items():
        if f"collector {name}" not in text:
            missing.append(name)
        for action in hook.options(command):
            for flag in action.option_strings:
                if flag not in text:
                    missing.append(f"{name} {flag}")
    for flag in ("--config", "--log-format", "--log-level", "--version"):
        if flag not in text:
            missing.append(flag)
    assert not missing, f"the CLI reference lacks {missing}"


def test_every_metric_is_named(site: Path) -> None:
    text = _text(_page(site, "operations/metrics"))
    names = [name for name, _, _ in hook.metrics()]
    assert len(names) == 11
    assert [name for name in names if name not in text] == []


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    """Offline: no web fonts, scripts, styles or images from elsewhere (links to read on are fine)."""
    external = re.compile(r'<(?:link|script|img|iframe|source)\b[^>]*\b(?:href|src)="(?:https?:)?//', re.IGNORECASE)
    offenders = [str(page.relative_to(site)) for page in site.rglob("*.html")
                 if external.search(page.read_text(encoding="utf-8"))]
    assert offenders == []
    css = "".join(path.read_text(encoding="utf-8") for path in site.rglob("*.css"))
    assert "fonts.googleapis" not in css and "@import url(http" not in css


def test_every_tutorial_file_is_shown_in_the_tutorial() -> None:
    """The tutorial's pages include the tested files (snippets), not copies of them."""
    pages = "".join(path.read_text(encoding="utf-8") for path in (DOCS / "tutorial").glob("*.md"))
    for path in _files(TUTORIAL_PLUGIN):
        include = f'--8<-- "docs/tutorial/collector-lyrebird/{path}"'
        assert include in pages, f"the tutorial does not include {path}"
    assert "```python file=" not in pages


def test_the_troubleshooting_page_quotes_what_the_code_prints() -> None:
    """Each `> ` quote is a message of the collector's, `…` standing for what varies."""
    page = (DOCS / "guide" / "troubleshooting.md").read_text(encoding="utf-8")
    quotes = re.findall(r"^> (.+)$", page, re.MULTILINE)
    assert len(quotes) >= 20
    source = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "collector").rglob("*.py"))
    source = re.sub(r"\"\s*\n\s*(?:\+\s*)?f?\"", "", source)  # strings continued on the next line
    source = re.sub(r"\{[^{}\"\n]*\}", "…", source)  # an f-string's fields stand for what varies
    for quote in quotes:
        for fragment in quote.split("…"):
            fragment = fragment.strip()
            if len(fragment) >= 6:
                assert fragment in source, \
                    f"the troubleshooting page quotes {fragment!r}, which the code does not print"


def test_every_exit_code_is_documented() -> None:
    from collector._base import _exits

    page = (DOCS / "guide" / "exit-codes.md").read_text(encoding="utf-8")
    codes = {value for name, value in vars(_exits).items() if name.startswith("EXIT_")}
    assert codes == set(range(8))
    assert [code for code in codes if not re.search(rf"^\| {code} \| ", page, re.MULTILINE)] == []


def test_the_readme_is_a_short_tour_whose_links_lead_somewhere() -> None:
    """Into the repository's files (what GitHub shows), never to a page only the build writes; the
    deployment guide is written on its own branch (the build stands in for it until then)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")) and target != "docs/deploy.md":
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def _files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and not any(part == "__pycache__" or part.startswith(".") for part in path.parts))


def test_the_template_ships_as_package_data() -> None:
    """`pip install .` (not only an editable install) must carry the template's files."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = setuptools["package-data"]["collector._scaffold"]
    for path in _files(TEMPLATE):
        assert any(fnmatch(f"template/{path}", pattern) for pattern in patterns), \
            f"collector/_scaffold/template/{path} is not in pyproject's package-data"


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both checks: the second reuses what the first learnt of `collector`."""
    return tmp_path_factory.mktemp("mypy")


@pytest.mark.parametrize("folder", [TUTORIAL_PLUGIN, TEMPLATE], ids=["tutorial", "template"])
def test_the_plugin_is_typed_strictly(folder: Path, mypy_cache: Path) -> None:
    """They are plugins of their own (tests import them by their package name), checked on their own."""
    files = [str(folder / path) for path in _files(folder) if path.endswith(".py")]
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-namespace-packages",
                              "--cache-dir", str(mypy_cache), *files],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
