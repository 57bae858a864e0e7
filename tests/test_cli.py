"""The command line: exit codes, summaries, status, the store lock, the demo."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector import hookimpl
from collector._cli._main import run_cli
from collector._storage._store import Store
from collector.engine import Plugins
from collector.testing import write_config


def test_run_prints_a_json_summary_and_exits_0(toy_config: Path, toy_plugins: Plugins,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--config", str(toy_config), "run", "--json"], toy_plugins) == 0
    summary = json.loads(capsys.readouterr().out)
    (tenant,) = summary["tenants"]
    assert (tenant["tenant"], tenant["status"], tenant["new_recordings"], tenant["audio_files"]) \
        == ("alpha", "ok", 10, 10)


def test_a_second_run_says_nothing_is_new(toy_config: Path, toy_plugins: Plugins,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    capsys.readouterr()
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 0
    assert "Nothing new: the store already holds all 10 recordings" in capsys.readouterr().out


def test_a_run_off_a_terminal_prints_a_plain_table_without_rich(toy_config: Path, toy_plugins: Plugins,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Cron's output is a plain table (every column whole, no trailing spaces), and rendering it does
    not import rich: its import and its table cost every nightly pass ~50 ms at 50 tenants."""
    import subprocess
    import sys

    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("tenant")))
    assert lines[header].split() == ["tenant", "status", "new", "trans", "audio", "bytes", "retry", "wait", "quar",
                                     "defer", "fail"]
    assert lines[header + 2].split()[:3] == ["toy/alpha", "ok", "10"], lines
    assert all(line == line.rstrip() for line in lines), lines
    code = ("import io, sys\nfrom collector._cli._output import render_summary\n"
            "from collector._runner._summary import TenantSummary\n"
            "render_summary([TenantSummary('toy', 'alpha', phase='done')], io.StringIO(), as_json=False)\n"
            "print('rich' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", (done.stdout, done.stderr[-2000:])


def test_a_partial_run_exits_1(toy_config: Path, toy_plugins: Plugins, toy: Any) -> None:
    toy.audio_status = {"t0002": 503}
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 1


def test_a_busy_store_exits_3(toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(toy_config.parent / "store")
    with store.exclusive():
        assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 3
    store.close()
    assert "Another collector run (or a cluster worker) is using the store" in capsys.readouterr().err


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


def test_version_and_global_options_after_the_command(toy_config: Path, toy_plugins: Plugins,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run_cli(["--version"], toy_plugins)
    assert done.value.code == 0 and capsys.readouterr().out.startswith("recording-collector ")
    assert run_cli(["run", "--config", str(toy_config), "--log-level", "warning", "--json"], toy_plugins) == 0
    assert json.loads(capsys.readouterr().out)["tenants"][0]["new_recordings"] == 10
    assert run_cli(["status", "-c", str(toy_config)], toy_plugins) == 0


def test_run_tenant_collects_only_the_named_tenants(tmp_path: Path, toy_plugins: Plugins, Toy: Any,
                                                    toy_source: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from collector.testing import write_config

    with Toy(3) as first, Toy(4) as second:
        config = write_config(tmp_path, [toy_source(first, "first"), toy_source(second, "second")])
        assert run_cli(["--config", str(config), "run", "--tenant", "toy/second", "--json"], toy_plugins) == 0
        (summary,) = json.loads(capsys.readouterr().out)["tenants"]
        assert summary["tenant"] == "second" and first.count() == 0
        assert run_cli(["--config", str(config), "run", "--tenant", "toy/third"], toy_plugins) == 2
        assert "--tenant toy/third: no [[sources]] entry" in capsys.readouterr().err


def test_a_dry_run_lists_but_fetches_and_stores_nothing(toy_config: Path, toy_plugins: Plugins, toy: Any,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--config", str(toy_config), "run", "--dry-run"], toy_plugins) == 0
    out = capsys.readouterr().out
    assert "toy/alpha: would list 10 items in 3 page(s): 10 new, 0 changed, 0 to quarantine; would fetch 10 " \
           "audio file(s) (304,440 bytes announced) and 10 transcript(s)." in out
    assert toy.count(kind="audio") == 0 and toy.count(kind="transcript") == 0
    assert not (toy_config.parent / "store").exists()
    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    toy.add(2)
    capsys.readouterr()
    run_cli(["--config", str(toy_config), "run", "--dry-run"], toy_plugins)
    assert "2 new, 0 changed" in capsys.readouterr().out


def test_status_does_not_wait_for_a_runs_write_lock(toy_config: Path, toy_plugins: Plugins,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3
    import time

    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    writer = sqlite3.connect(toy_config.parent / "store" / "catalog.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a run holding the write lock
    writer.execute("UPDATE audio SET reason='in the middle of a write'")
    try:
        started = time.monotonic()
        capsys.readouterr()
        assert run_cli(["--config", str(toy_config), "status", "--json"], toy_plugins) == 0
        assert time.monotonic() - started < 3
        (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
        assert tenant["audio"] == {"stored": 10}  # the last committed state, not the write in progress
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_tables_keep_identity_and_failure_columns_at_80_columns() -> None:
    """A tenant that is not ok used to lose its `fail` values at 80 columns: now the least telling
    columns go first, and the tenant, its status and what it left undone always stay."""
    import io
    import re

    from rich.console import Console

    from collector._cli._output import progress_table
    from collector._runner._summary import TenantStatus, TenantSummary

    summaries = [TenantSummary("imagicle", "a-rather-long-tenant-name", phase="done", new_recordings=123456,
                               audio_files=123456, audio_bytes=9_876_543_210, deferred=12345, failed=12345,
                               status=TenantStatus.PARTIAL),
                 TenantSummary("xima", "initech-denver", phase="done", status=TenantStatus.STOPPED,
                               failed=7, waiting=3)]
    for width in (80, 60, 200):
        out = io.StringIO()
        Console(file=out, width=width).print(progress_table(summaries, width=width))
        text = out.getvalue()
        header = next(line for line in text.splitlines() if "tenant" in line)
        for column in ("status", "wait", "quar", "defer", "fail"):
            assert re.search(rf"\b{column}\b", header), (width, header)
        assert all(len(line) <= width for line in text.splitlines())
        assert "partial" in text and "stopped" in text and "12345" in text and re.search(r"\b7\b", text), text
        assert ("left out" in text) == (width < 200), text


def test_the_report_keeps_tenants_and_states_on_a_narrow_terminal() -> None:
    import io

    from collector._cli._report_output import render_text

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    from collector._cli._report import Line, Report
    from collector._storage._catalog import Scope

    line = Line("xima", "initech-denver-a-long-one", "2026-12-03", "UTC", listed=3, vendor=3)
    total = Line("xima", "initech-denver-a-long-one", "total", "UTC", listed=3, vendor=3)
    report = Report("UTC", Scope(), [line], [total], [], Line("", "", "total", "UTC", listed=3, vendor=3))
    out = Terminal()
    import os

    os.environ["COLUMNS"] = "80"
    try:
        render_text(report, out)
    finally:
        del os.environ["COLUMNS"]
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # a terminal gets colours
    assert "xima/initech-denver-a-long-one" in text and "all tenants" in text
    assert all(len(row) <= 80 for row in text.splitlines()), text


def test_a_closed_pipe_is_not_a_traceback(toy_config: Path, toy_plugins: Plugins) -> None:
    import os
    import subprocess
    import sys

    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    done = subprocess.run(f"'{sys.executable}' -m collector --config '{toy_config}' export | head -c 10",
                          shell=True, capture_output=True, text=True, env={**os.environ, "TOY_TOKEN_X": "y"})
    assert len(done.stdout) == 10 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_catalog_from_a_newer_collector_is_a_clear_store_error(toy_config: Path, toy_plugins: Plugins,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    with sqlite3.connect(toy_config.parent / "store" / "catalog.sqlite") as db:
        db.execute("PRAGMA user_version=99")
    capsys.readouterr()
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 5
    err = capsys.readouterr().err
    assert "written by a newer recording-collector (schema 99" in err and "Traceback" not in err


def test_json_log_lines_carry_fields(toy_config: Path, toy_plugins: Plugins, toy: Any,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    toy.faults.inject("503", kind="metadata", count=1)
    assert run_cli(["--config", str(toy_config), "--log-format", "json", "run"], toy_plugins) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    retry = next(line for line in lines if line.get("event") == "retry")
    assert (retry["source"], retry["tenant"], retry["status"], retry["method"]) == ("toy", "alpha", 503, "GET")
    summary = next(line for line in lines if line.get("event") == "tenant_summary")
    assert (summary["tenant"], summary["new_recordings"], summary["audio_files"]) == ("alpha", 10, 10)


def test_native_decoder_messages_go_through_the_logger(toy_config: Path, toy_plugins: Plugins) -> None:
    """libmpg123 prints to file descriptor 2 from C; a JSON log stream must stay JSON all the same."""
    import hashlib
    import os
    import sqlite3
    import subprocess
    import sys

    import numpy as np
    import soundfile

    run_cli(["--config", str(toy_config), "run"], toy_plugins)
    store = toy_config.parent / "store"
    noise = (0.3 * np.random.default_rng(1).standard_normal((16000 * 3, 1))).astype("float32")
    mp3 = store / "toy" / "alpha" / "noise.mp3"
    soundfile.write(str(mp3), noise, 16000, format="MP3", subtype="MPEG_LAYER_III")  # VBR: mpg123 complains
    data = mp3.read_bytes()
    with sqlite3.connect(store / "catalog.sqlite") as db:
        db.execute("UPDATE audio SET path=?, sha256=?, size=?, container='mp3', codec='mp3', sample_rate=16000, "
                   "channels=1, decoded_duration=3.0 WHERE vendor_id='t0000'",
                   ("toy/alpha/noise.mp3", hashlib.sha256(data).hexdigest(), len(data)))
    done = subprocess.run([sys.executable, "-m", "collector", "--config", str(toy_config), "--log-format", "json",
                           "verify", "--decode", "--tenant", "toy/alpha"], capture_output=True, text=True,
                          env=os.environ.copy())
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), done.stderr
    native = [json.loads(line) for line in lines if '"collector.native"' in line]
    assert native and "part2_3_length" in native[0]["message"], lines


def test_the_interpreters_import_time_report_is_not_relabelled_as_a_native_library(toy_config: Path) -> None:
    """`-X importtime` writes with C's stderr too: its lines pass through as they are."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "collector", "--config", str(toy_config),
                           "config", "check"], capture_output=True, text=True, env=os.environ.copy())
    assert "A native library said" not in done.stderr, done.stderr[-2000:]
    assert any(line.startswith("import time:") and "collector._cli._commands" in line
               for line in done.stderr.splitlines()), done.stderr[-2000:]


def test_each_run_writes_prometheus_metrics(toy_config: Path, toy_plugins: Plugins) -> None:
    metrics = toy_config.parent / "metrics" / "collector.prom"
    toy_config.write_text(f'[metrics]\ntextfile = "{metrics}"\n' + toy_config.read_text())
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 0
    text = metrics.read_text()
    for line in ('collector_recordings_stored{source="toy",tenant="alpha"} 10.0',
                 'collector_throttled_responses{source="toy",tenant="alpha"} 0.0',
                 "collector_run_exit_code 0.0"):
        assert line in text, text
    assert 'collector_last_success_timestamp_seconds{source="toy",tenant="alpha"}' in text
    assert not list(metrics.parent.glob("*.tmp*"))  # replaced atomically


def test_schedule_serves_metrics_on_a_loopback_port(tmp_path: Path, fake_plugin: Callable[..., dict[str, str]]) -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = fake_plugin("silent", SILENT_PLUGIN)
    config = tmp_path / "collector.toml"
    config.write_text(f'[scheduler]\ncron = "@yearly"\ntimezone = "UTC"\n[metrics]\nport = {port}\n'
                      '[[sources]]\nplugin = "silent"\ntenant = "s"\n')
    process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "schedule"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the metrics server never answered"
                time.sleep(0.1)
        assert answer.status_code == 200 and "text/plain" in answer.headers["content-type"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.parametrize("command", [["--help"], ["status"], ["config", "check"], ["plugins"]])
def test_commands_that_do_not_collect_load_no_audio_libraries(toy_config: Path, command: list[str]) -> None:
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom collector._cli._main import run_cli\n"
            "try:\n    run_cli(sys.argv[1:])\nexcept SystemExit:\n"
            "    pass\nprint('LOADED', sorted(m for m in ('numpy', 'soundfile', 'httpx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "--config", str(toy_config), *command], capture_output=True,
                          text=True, env=os.environ.copy())
    loaded = done.stdout.rsplit("LOADED", 1)[1].strip()
    assert "numpy" not in loaded and "soundfile" not in loaded, (loaded, done.stderr[-2000:])
    if command == ["status"]:  # it reads the store only: no plugin, no HTTP stack (start-up time)
        assert "httpx" not in loaded, (loaded, done.stderr[-2000:])


def test_a_pass_loads_the_audio_libraries_only_to_decode_a_file() -> None:
    """A pass with nothing to download, or whose files their containers prove, never needs libsndfile."""
    import os
    import subprocess
    import sys

    code = "import sys, collector._runner._run; print(sorted(m for m in ('numpy', 'soundfile') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert done.stdout.strip() == "[]", (done.stdout, done.stderr[-2000:])


def test_an_unknown_tenant_or_an_empty_date_range_is_refused_not_reported_as_done(
        toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in SOURCE/TENANT used to report nothing, reset nothing and exit 0."""
    assert run_cli(["--config", str(toy_config), "run"], toy_plugins) == 0
    for command in (["reset", "nope/x"], ["verify", "--tenant", "nope/x"], ["report", "--tenant", "nope/x"],
                    ["export", "--tenant", "toy/nope"], ["retry", "--tenant", "nope/x"]):
        capsys.readouterr()
        assert run_cli(["--config", str(toy_config), *command], toy_plugins) == 2, command
        err = capsys.readouterr().err
        assert "no such tenant in the store or in" in err and "(known: toy/alpha)" in err, (command, err)
    for name in ("report", "export", "verify", "retry"):
        capsys.readouterr()
        assert run_cli(["--config", str(toy_config), name, "--from", "2026-03-02", "--to", "2026-03-01"],
                       toy_plugins) == 2, name
        assert "--from 2026-03-02 is not before --to 2026-03-01" in capsys.readouterr().err
    assert run_cli(["--config", str(toy_config), "reset", "toy/alpha"], toy_plugins) == 0  # a known one still works


def test_status_counts_every_unsettled_item_and_says_how_many_it_does_not_list(
        tmp_path: Path, Toy: Any, toy_source: Any, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    with Toy(25) as toy:
        toy.audio_status.update({item["id"]: 500 for item in toy.items})  # every download deferred, with a reason
        config = write_config(tmp_path, [toy_source(toy, transcripts=False, retry={"attempts": 1})])
        run_cli(["--config", str(config), "run"], toy_plugins)
    capsys.readouterr()
    assert run_cli(["--config", str(config), "status", "--json"], toy_plugins) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    assert tenant["problems_total"] == 25 and len(tenant["problems"]) == 20
    assert run_cli(["--config", str(config), "status"], toy_plugins) == 0
    text = capsys.readouterr().out
    assert "unsettled:   25 item(s), worst first:" in text
    assert "... and 5 more (`collector export --tenant toy/alpha`" in text


def test_under_json_logging_everything_the_run_writes_is_json(toy_config: Path, toy_plugins: Plugins,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The README's cron line with `--log-format json`: every line of stdout and stderr is one JSON object."""
    capsys.readouterr()
    assert run_cli(["--config", str(toy_config), "--log-format", "json", "run"], toy_plugins) == 0
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()  # one line, beside the JSON log lines of a cron job's file
    summary = json.loads(line)
    assert summary["tenants"][0]["tenant"] == "alpha" and summary["checkpoint"]["events"] > 0
    assert all(json.loads(line) for line in captured.err.splitlines() if line.strip())


@pytest.mark.slow
def test_demo_serve_keeps_the_emulators_up_for_other_commands(tmp_path: Path) -> None:
    """`collector demo --serve`: after its pass, the emulators stay up and its config works from another
    process (no shared environment: the emulators' tokens are in files), until Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    directory = tmp_path / "demo"
    server = subprocess.Popen([sys.executable, "-m", "collector", "demo", "--serve", str(directory)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if "The emulators stay up" in line or not line:
                break
        assert "The emulators stay up" in lines[-1], "".join(lines)
        config = str(directory / "demo-config.toml")
        secrets = list((directory / "demo-secrets").iterdir())
        assert secrets and all(path.stat().st_mode & 0o077 == 0 for path in secrets)  # the tokens, readable by us only
        text = (directory / "demo-config.toml").read_text()
        assert "env =" not in text and not any(path.read_text() in text for path in secrets)
        env = {key: value for key, value in os.environ.items() if not key.startswith("COLLECTOR_DEMO")}
        for command in (["run", "--tenant", "xima/acme-reno"], ["run", "--dry-run"], ["status"]):
            done = subprocess.run([sys.executable, "-m", "collector", "--config", config, *command], env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
