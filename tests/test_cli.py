"""The command line: exit codes, summaries, status, the store lock, the demo."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector import hookimpl
from collector._store import Store
from collector.engine import Plugins
from collector._cli import run_cli


def test_run_prints_a_json_summary_and_exits_0(toy_config: Path, toy_plugins: Plugins,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--config", str(toy_config), "run", "--json"], toy_plugins) == 0
    summary = json.loads(capsys.readouterr().out)
    (tenant,) = summary["tenants"]
    assert (tenant["tenant"], tenant["status"], tenant["new_recordings"], tenant["audio_files"]) == ("alpha", "ok", 10, 10)


def test_a_second_run_says_nothing_is_new(toy_config: Path, toy_plugins: Plugins,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    capsys.readouterr()
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 0
    assert "Nothing new: the store already holds all 10 recordings" in capsys.readouterr().out


def test_a_partial_run_exits_1(toy_config: Path, toy_plugins: Plugins, toy: Any) -> None:
    toy.audio_status = {"t0002": 503}
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 1


def test_a_busy_store_exits_3(toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(toy_config.parent / "store")
    with store.exclusive():
        assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 3
    store.close()
    assert "Another collector run is using the store" in capsys.readouterr().err


def test_a_config_error_exits_2_and_runs_nothing(tmp_path: Path, toy_plugins: Plugins) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('[[sources]]\nplugin = "toy"\ntenant = "alpha"\n')
    assert run_cli(["--config", str(config), "run"], toy_plugins) == 2
    assert not (tmp_path / "collector-store").exists()


def test_status_reports_what_the_store_holds_without_the_secrets(
        toy_config: Path, toy_plugins: Plugins, toy: Any, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    toy.audio_status = {"t0003": 403}
    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    capsys.readouterr()
    monkeypatch.delenv(f"TOY_TOKEN_{toy.port}")  # a person reading status may not hold the secrets
    assert run_cli(["--config", str(toy_config), "status", "--json"], toy_plugins) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    assert tenant["recordings"] == 10
    assert tenant["audio"] == {"stored": 9, "unavailable": 1}
    assert tenant["last_run"]["status"] == "ok" and tenant["sync_state"] == {"after": 10}
    assert run_cli(["--config", str(toy_config), "status"], toy_plugins) == 0
    text = capsys.readouterr().out
    assert "toy/alpha" in text and "9 stored" in text


def test_plugins_lists_sources(toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["plugins", "--json"], toy_plugins) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["sources"] == ["toy"] and info["error"] is None


class ToyDemo:
    """Offers a toy tenant to `collector demo` through the collector_register_demos hook."""

    def __init__(self, Toy: Any, toy_source: Callable[..., dict[str, Any]]) -> None:
        self.Toy, self.toy_source = Toy, toy_source

    @hookimpl
    def collector_register_demos(self, register: Callable[..., None]) -> None:
        @contextmanager
        def start() -> Iterator[list[dict[str, Any]]]:
            with self.Toy(6, token="demo-token-123456") as emulator:
                yield [self.toy_source(emulator, "demo")]

        register("toy", start)


def test_demo_collects_then_finds_nothing_new(tmp_path: Path, toy_plugin: Any, Toy: Any, toy_source: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    plugins = Plugins(entry_points_group=None, extra=[toy_plugin, ToyDemo(Toy, toy_source)])
    assert run_cli(["demo", str(tmp_path / "demo")], plugins) == 0
    first = capsys.readouterr().out
    assert "Demo: 1 tenants from 1 emulated vendor(s) (toy)" in first
    assert (tmp_path / "demo" / "catalog.sqlite").is_file() and (tmp_path / "demo" / "demo-config.toml").is_file()
    assert "demo-token-123456" not in (tmp_path / "demo" / "demo-config.toml").read_text()
    assert run_cli(["demo", str(tmp_path / "demo")], plugins) == 0
    assert "Nothing new: the store already holds all 6 recordings" in capsys.readouterr().out


SILENT_PLUGIN = """
from collector import Page, Source, hookimpl

class Silent(Source):
    name = "silent"

    async def sync(self, state):
        yield Page([], {"done": True})

    def parse(self, item):
        return []

@hookimpl
def collector_register_sources(register):
    register(Silent)
"""


def test_schedule_waits_for_the_cron_time_and_stops_cleanly_on_sigterm(
        tmp_path: Path, fake_plugin: Callable[..., dict[str, str]]) -> None:
    import signal
    import subprocess
    import sys

    env = fake_plugin("silent", SILENT_PLUGIN)
    config = tmp_path / "collector.toml"
    config.write_text('[scheduler]\ncron = "@yearly"\ntimezone = "UTC"\n[[sources]]\nplugin = "silent"\ntenant = "s"\n')
    process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "schedule"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()  # the scheduler says when it will run, then waits
    assert "Next pass at" in line and "-01-01T00:00:00+00:00" in line, line
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0  # a service manager's stop is not a failure
    assert "Stopped by SIGTERM" in process.stdout.read()
