"""Plugin loading: built-ins through entry points, broken plugins reported by name, hooks documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from collector import Source, hookimpl
from collector._runner import _hookspecs
from collector.engine import Plugins

ROOT = Path(__file__).resolve().parents[1]


def test_a_plugin_that_fails_to_import_is_reported_by_name(tmp_path: Path, fake_plugin: Callable[..., dict[str, str]]
                                                            ) -> None:
    env = fake_plugin("brokenvendor", "raise ImportError('needs libvendor.so, which is missing')\n")
    result = subprocess.run([sys.executable, "-m", "collector", "plugins"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "brokenvendor (brokenvendor 1.0): sources: none" in result.stdout
    assert "BROKEN: failed to import brokenvendor_module: ImportError: needs libvendor.so" in result.stdout
    assert "focus (collector-focus" in result.stdout  # the others still load

    config = tmp_path / "collector.toml"
    config.write_text('[[sources]]\nplugin = "brokenvendor"\ntenant = "x"\n')
    check = subprocess.run([sys.executable, "-m", "collector", "--config", str(config), "config", "check"],
                           capture_output=True, text=True, env=env)
    assert check.returncode == 2
    assert "sources[0].plugin: plugin 'brokenvendor' is installed but broken: failed to import" in check.stderr


def test_a_misspelt_hook_makes_the_plugin_broken_not_the_run() -> None:
    class Misspelt:
        @hookimpl
        def collector_register_source(self, register: Callable[..., None]) -> None:  # missing "s"
            pass

    plugins = Plugins(entry_points_group=None, extra=[Misspelt()])
    assert "unknown hook" in (plugins.infos["Misspelt"].error or "")


def test_two_plugins_registering_one_source_name_is_a_clear_error() -> None:
    from collector._runner._plugins import PluginError

    class One(Source):
        name = "same"

    class Two(Source):
        name = "same"

    class First:
        @hookimpl
        def collector_register_sources(self, register: Callable[..., None]) -> None:
            register(One)

    class Second:
        @hookimpl
        def collector_register_sources(self, register: Callable[..., None]) -> None:
            register(Two)

    with pytest.raises(PluginError, match=r"Two plugins register a source named 'same': .*One.* and .*Two"):
        Plugins(entry_points_group=None, extra=[First(), Second()])


def test_builtin_plugins_register_through_entry_points() -> None:
    plugins = Plugins()
    assert plugins.infos["focus"].distribution == "collector-focus"
    assert plugins.source_plugin["focus"] == "focus"


HOOKS = sorted(name for name, _ in inspect.getmembers(_hookspecs, inspect.isfunction) if name.startswith("collector_"))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_and_tested(hook: str) -> None:
    spec = getattr(_hookspecs, hook)
    assert spec.__doc__ and len(spec.__doc__.split()) > 15, f"{hook} needs a docstring saying when and what"
    guide = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "docs" / "tutorial").glob("*.md"))
    assert f"`{hook}" in guide, f"{hook} is not in the plugin tutorial (docs/tutorial/)"
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("*.py") if p.name != "test_plugins.py")
    assert hook in tests, f"no test implements {hook}"
