"""One pass lifecycle for every command, with what follows a pass as plugins on its hooks.

A plugin sees `collector_pass_started`, `collector_tenant_finished` and `collector_pass_finished`
whatever runs the pass; the collector's own metrics are such a plugin, read from the catalog, so a
`run --tenant` keeps the other tenants' series and `/metrics` answers before any pass of `schedule`.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collector import PassEvent, TenantEvent, hookimpl
from collector._cli._main import run_cli
from collector._runner._config import Config
from collector.engine import Plugins, load_config
from collector.testing import write_config


class Recorder:
    """A plugin that keeps every lifecycle event, and pages the operator about stopped tenants."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.alerts: list[str] = []

    @hookimpl
    def collector_service_started(self, config: Config, kind: str) -> None:
        self.events.append(("service", kind))

    @hookimpl
    def collector_pass_started(self, event: PassEvent) -> None:
        self.events.append(("started", event.kind))

    @hookimpl
    def collector_tenant_finished(self, event: TenantEvent) -> None:
        self.events.append(("tenant", (event.kind, event.summary.label, event.summary.status.value)))
        if event.summary.status.value in ("stopped", "failed"):
            self.alerts.append(f"{event.summary.label}: {'; '.join(event.summary.messages)}")

    @hookimpl
    def collector_pass_finished(self, event: PassEvent) -> None:
        self.events.append(("finished", (event.kind, event.exit_code, len(event.summaries))))


class Broken:
    """A plugin whose lifecycle hooks fail: the pass's outcome never changes."""

    @hookimpl
    def collector_tenant_finished(self, event: TenantEvent) -> None:
        raise RuntimeError("the pager is down")

    @hookimpl
    def collector_pass_finished(self, event: PassEvent) -> None:
        raise RuntimeError("so is the mail server")


@pytest.fixture
def two_tenants(tmp_path: Path, Toy: Any, toy_source: Callable[..., Any]) -> Any:
    with Toy(4) as alpha, Toy(3) as beta:
        config = write_config(tmp_path, [toy_source(alpha), toy_source(beta, tenant="beta")],
                              metrics={"textfile": str(tmp_path / "metrics" / "collector.prom")})
        yield config, alpha, beta


def test_plugins_see_every_pass_and_tenant_and_can_alert_on_a_stopped_one(
        two_tenants: Any, toy_plugin: Any, caplog: pytest.LogCaptureFixture) -> None:
    config, _alpha, beta = two_tenants
    recorder = Recorder()
    plugins = Plugins(entry_points_group=None, extra=[toy_plugin, recorder, Broken()])
    beta.token = "revoked"  # beta's credentials are refused: its tenant stops
    assert run_cli(["--config", str(config), "run"], plugins) == 1
    assert recorder.events[0] == ("started", "run") and recorder.events[-1] == ("finished", ("run", 1, 2))
    tenants = sorted(event for kind, event in recorder.events if kind == "tenant")
    assert tenants == [("run", "toy/alpha", "ok"), ("run", "toy/beta", "stopped")]
    assert len(recorder.alerts) == 1 and recorder.alerts[0].startswith("toy/beta: ")
    failures = [r.getMessage() for r in caplog.records if "hook of plugin" in r.getMessage()]
    assert len(failures) == 3 and all("failed; the collector carries on" in m for m in failures)


def test_metrics_come_from_the_catalog_so_a_partial_pass_keeps_every_tenants_series(
        two_tenants: Any, toy_plugins: Plugins, tmp_path: Path) -> None:
    config, alpha, _beta = two_tenants
    assert run_cli(["--config", str(config), "run"], toy_plugins) == 0
    textfile = tmp_path / "metrics" / "collector.prom"
    first = textfile.read_text()
    assert 'collector_recordings_stored{source="toy",tenant="alpha"} 4.0' in first
    assert 'collector_recordings_stored{source="toy",tenant="beta"} 3.0' in first
    alpha.add(2)
    assert run_cli(["--config", str(config), "run", "--tenant", "toy/alpha"], toy_plugins) == 0
    second = textfile.read_text()
    assert 'collector_recordings_stored{source="toy",tenant="alpha"} 2.0' in second
    assert 'collector_recordings_stored{source="toy",tenant="beta"} 3.0' in second  # beta's series survive
    assert 'collector_last_success_timestamp_seconds{source="toy",tenant="beta"}' in second


def test_metrics_are_served_from_the_catalog_as_soon_as_a_service_starts(
        two_tenants: Any, toy_plugins: Plugins, tmp_path: Path) -> None:
    """`schedule` (and `worker`) serve `/metrics` from their start, not after their first pass."""
    import socket

    config_path, _alpha, _beta = two_tenants
    assert run_cli(["--config", str(config_path), "run"], toy_plugins) == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config_path.write_text(config_path.read_text().replace("[metrics]", f"[metrics]\nport = {port}"))
    config = load_config(config_path, toy_plugins)
    toy_plugins.service_started(config, "schedule")  # what `collector schedule` does first
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert 'collector_recordings_stored{source="toy",tenant="beta"} 3.0' in text
    assert "collector_run_exit_code 0.0" in text
