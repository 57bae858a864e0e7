"""The newcomer's Heron plugin (tests/newcomer/collector-heron/, written from the documentation
alone) against the independent reference server tests/heron/heron_server.py, over real HTTP.

The plugin is registered the way an installed distribution is: a dist-info folder holding its
entry point, on the path of this process and of the `collector run` subprocess that is killed.
The slow test installs it into a throwaway virtualenv, as tests/test_tutorial.py does the
tutorial's plugin, and runs its own conformance suite there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.testing import collect, inspect_store, query_catalog, wait_until_committed, write_config

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "newcomer" / "collector-heron"
PACKAGE = PLUGIN / "collector_heron"
COUNTED = ("__init__.py", "_settings.py", "_mapping.py", "_source.py")  # as bench/plugin_lines.py counts
TENANTS = ("north", "south")
EXIT_OK, EXIT_PARTIAL, EXIT_WAITING = 0, 1, 4

_spec = importlib.util.spec_from_file_location("heron_server", ROOT / "tests" / "heron" / "heron_server.py")
assert _spec is not None and _spec.loader is not None
heron_server = importlib.util.module_from_spec(_spec)
sys.modules["heron_server"] = heron_server  # its dataclasses look their module up
_spec.loader.exec_module(heron_server)
HeronServer = heron_server.HeronServer


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`collector_heron` importable and registered by its entry point, here and in subprocesses."""
    site = tmp_path / "site"
    dist = site / "collector_heron-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: collector-heron\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[recording_collector]\nheron = collector_heron\n")
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    return os.pathsep.join([str(site), str(PLUGIN)])  # PYTHONPATH for subprocesses


def sources(heron: Any, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> list[dict[str, Any]]:
    """A [[sources]] entry per workspace, its client secret in an environment variable."""
    tables = []
    for name in TENANTS:
        tenant = heron.tenants[name]
        monkeypatch.setenv(f"HERON_SECRET_{name.upper()}", tenant.client_secret)
        tables.append({"plugin": "heron", "tenant": name, "base_url": heron.url,
                       "client_id": tenant.client_id,
                       "client_secret": {"env": f"HERON_SECRET_{name.upper()}"},
                       "revisit_interval": 0, **settings})  # runs are seconds apart here
    return tables


def stored(store: Path, tenant: str) -> dict[str, tuple[str, str]]:
    """vendor id -> (path, sha256) of every stored audio file of a tenant."""
    rows = query_catalog(store, "SELECT vendor_id, path, sha256 FROM audio "
                                "WHERE tenant = ? AND status = 'stored'", (tenant,))
    return {vendor_id: (path, sha256) for vendor_id, path, sha256 in rows}


def check_store(heron: Any, store: Path, expected: dict[str, set[str]]) -> None:
    """Every segment Heron hands out now is stored (with those stored before), exactly once, each
    file byte for byte the server's audio and proven by the checksum Heron sent with it; every
    recording Heron lists is in the catalog."""
    contents = inspect_store(store)
    assert not contents.problems, contents.problems
    for tenant in TENANTS:
        expected[tenant] |= set(heron.segment_ids(tenant, downloadable=True))
        assert contents.audio[tenant] == expected[tenant], (
            tenant, expected[tenant] - contents.audio[tenant], contents.audio[tenant] - expected[tenant])
        assert set(heron.recording_ids(tenant)) <= contents.recordings[tenant], tenant
        files = stored(store, tenant)
        assert set(files) == expected[tenant]
        for segment, (path, sha256) in files.items():
            data = (store / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha256 == hashlib.sha256(heron.audio(segment)).hexdigest()
        on_disk = [p for p in (store / "heron" / tenant).rglob("*") if p.is_file()]
        assert len(on_disk) == len(expected[tenant]), "nothing doubled, nothing left over"
        evidence = query_catalog(store, "SELECT DISTINCT evidence FROM audio WHERE status='stored' AND tenant=?",
                                 [tenant])
        assert evidence == [("checksum",)], evidence  # the media host's X-Heron-Sha256 proved each


def audio_status(store: Path, vendor_ids: list[str]) -> set[str]:
    """The catalog's audio statuses of these segments."""
    marks = ",".join("?" * len(vendor_ids))
    return {row[0] for row in query_catalog(store, f"SELECT status FROM audio WHERE vendor_id IN ({marks})",
                                            vendor_ids)}


def batch_asked(heron: Any, segment_ids: list[str]) -> int:
    """How many media batches asked for any of these segments."""
    return sum(1 for request in heron.requests(path="/v2/media/batch")
               if isinstance(request.body, dict) and set(request.body.get("ids") or ()) & set(segment_ids))


def test_the_heron_plugin_collects_from_the_reference_server(
        tmp_path: Path, plugin_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    store = tmp_path / "store"
    expected: dict[str, set[str]] = {tenant: set() for tenant in TENANTS}
    with HeronServer(seed=7, recordings=30, media_delay=0, settle_after=None) as heron:
        config = write_config(tmp_path, sources(heron, monkeypatch))

        # 1. A full first run: the snapshot, every segment ready, the open recordings followed.
        first = collect(config)
        assert first.exit_code in (EXIT_OK, EXIT_WAITING), [s.messages for s in first.summaries]
        check_store(heron, store, expected)
        opened = [rid for rid in heron.recording_ids("north") if not heron.recording(rid)["settled"]]
        assert len(opened) >= 2, "the seeded data has open recordings"

        # 2. Back-dated imports, a recording whose segments attach later, the open ones settling
        # (no feed change), one of them deleted, one arrival deleted while its media is pending,
        # and every sync token expired.
        back_dated = heron.add_arrivals(3, tenant="north", back_dated_days=40)
        back_dated += heron.add_arrivals(2, tenant="south", back_dated_days=12, settled=False)
        late = heron.add_arrivals(2, tenant="north", settled=False, attached=False)
        pending = heron.add_arrivals(1, tenant="south", media_delay=2)[0]
        gone = opened.pop()
        heron.delete(gone)
        heron.settle(opened)
        heron.expire_sync_tokens()
        second = collect(config)
        assert second.exit_code in (EXIT_OK, EXIT_PARTIAL, EXIT_WAITING), [s.messages for s in second.summaries]
        changes = heron.requests(path="/v2/recordings/changes")
        assert any(r.status == 410 for r in changes), "the expired sync token was sent"
        assert any(r.status == 200 and "sync_token" not in (r.body or {}) for r in changes[2:]), \
            "a 410 is answered by listing everything again"
        pending_segments = [s["id"] for s in heron.recording(pending)["segments"]]
        print("after run 2, the pending arrival's segments:", audio_status(store, pending_segments))
        assert audio_status(store, pending_segments) <= {"deferred", "waiting", "pending"}, "pending: next run"
        heron.delete(pending)
        heron.settle(late + [rid for rid in back_dated if not heron.recording(rid)["settled"]])
        time.sleep(2.1)  # the pending media's delay
        third = collect(config)
        assert third.exit_code in (EXIT_OK, EXIT_PARTIAL), [s.messages for s in third.summaries]
        check_store(heron, store, expected)
        for rid in back_dated + late:  # stored now, whenever their calls were; settled late
            assert {s["id"] for s in heron.recording(rid)["segments"] if s["status"] == "ready"} \
                <= expected["north"] | expected["south"]
        assert audio_status(store, pending_segments) == {"unavailable"}, "recording_deleted is final"
        revisit = query_catalog(store, "SELECT status FROM revisits WHERE item_id = ?", (gone,))
        assert revisit == [("unavailable",)], "a deleted open recording is not followed any more"

        # 3. A run killed with SIGKILL mid-way, then resumed.
        for tenant in TENANTS:
            heron.add_arrivals(40, tenant=tenant, segments=3)
        before = sum(len(stored(store, tenant)) for tenant in TENANTS)
        asked_gone = (batch_asked(heron, pending_segments), len(heron.requests(path=f"/v2/recordings/{gone}")))
        process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                   env={**os.environ, "PYTHONPATH": plugin_path},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_committed(store / "catalog.sqlite", process, audio=before + 10, timeout=30)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        killed_at = sum(len(stored(store, tenant)) for tenant in TENANTS)
        print(f"killed with {killed_at - before} of {80 * 3} new segments stored")
        resumed = collect(config)
        assert resumed.exit_code == EXIT_OK, [s.messages for s in resumed.summaries]
        check_store(heron, store, expected)
        assert killed_at < sum(len(expected[tenant]) for tenant in TENANTS), "killed before the end"
        assert (batch_asked(heron, pending_segments), len(heron.requests(path=f"/v2/recordings/{gone}"))) \
            == asked_gone, "the deleted recording is not asked for again"

        # Errors on HTTP 200: `feed_busy` is asked again; `tenant_suspended` stops that tenant only.
        heron.feed_busy(1, tenant="north")
        heron.add_arrivals(1, tenant="north")
        heron.suspend("south")
        suspended = collect(config)
        summaries = {summary.tenant: summary for summary in suspended.summaries}
        assert summaries["north"].status.value == "ok", summaries["north"].messages
        assert summaries["south"].status.value != "ok" and "tenant_suspended" in " ".join(
            summaries["south"].messages), summaries["south"].messages
        assert any(r.code == "feed_busy" for r in heron.requests(path="/v2/recordings/changes"))
        print("suspended:", summaries["south"].status.value, summaries["south"].messages)
        heron.suspend("south", False)
        check_store(heron, store, expected)

        # Never over Heron's limit: no 429, at most 5 API requests in any of its windows.
        assert heron.rate_limited == 0
        assert all(heron.max_requests_in_window(tenant) <= 5 for tenant in TENANTS)
    print(f"end to end: {time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < 60


def test_the_plugin_code_is_at_most_150_lines() -> None:
    """Counted as bench/plugin_lines.py counts: the package's .py files but the emulator's, its
    data's, the demo's and the conformance adapter's; docstrings and comments count."""
    names = {path.name for path in PACKAGE.glob("*.py")} - {"emulator.py", "_emudata.py", "_demo.py", "testing.py"}
    assert names == set(COUNTED)
    lines = {name: (PACKAGE / name).read_text(encoding="utf-8").count("\n") for name in COUNTED}
    assert sum(lines.values()) <= 150, lines


@pytest.mark.slow
def test_the_plugin_installs_and_passes_its_conformance_suite(tmp_path: Path, plugin_venv: Any) -> None:
    plugin_venv.install(PLUGIN)
    tests = plugin_venv.run("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", str(PLUGIN / "tests"),
                            cwd=tmp_path, timeout=600)
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary) and not re.search(r"failed|error", summary), tests.stdout
