"""Collecting several Xima tenants over real HTTP: completeness, windows, late arrivals, item errors."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

from collector.engine import EXIT_WAITING
from collector.testing import collect, inspect_store, query_catalog, sync_state
from collector_xima.testing import XimaEmulation, by_tenant

EXIT_OK = 0


def assert_complete(tmp_path: Path, emulation: XimaEmulation) -> None:
    contents = inspect_store(tmp_path / "store")
    expected = emulation.expected()
    assert not contents.problems, contents.problems
    assert dict(contents.recordings) == expected.recordings
    assert dict(contents.audio) == expected.audio


def test_several_tenants_are_collected_at_once_into_one_store(tmp_path: Path, xima: XimaEmulation) -> None:
    result = collect(xima.config(tmp_path))
    assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
    assert_complete(tmp_path, xima)
    for name, summary in by_tenant(result).items():
        listed = xima.emulator(name).recording_items()
        assert summary.new_recordings == len(listed) == summary.audio_files == summary.held_recordings
    stored = query_catalog(tmp_path / "store", "SELECT tenant, COUNT(*) FROM audio WHERE status='stored' GROUP BY 1")
    assert dict(stored) == {name: len(e.recording_items()) for name, e in xima.emulators.items()}
    # The tenants ran side by side: each one's requests began before any other's ended.
    spans = [(min(r.at for r in e.log), max(r.at for r in e.log)) for e in xima.emulators.values()]
    assert max(first for first, _ in spans) < min(last for _, last in spans)


def test_a_run_follows_windows_and_its_watermark_stops_short_of_the_settle_delay(tmp_path: Path,
                                                                                  xima: XimaEmulation) -> None:
    start = datetime.fromisoformat(xima.sources()[0]["start"])
    started = start.replace(microsecond=start.microsecond // 1000 * 1000)  # Xima's precision: milliseconds
    collect(xima.config(tmp_path))
    for name, emulator in xima.emulators.items():
        windows = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in emulator.requested]
        assert windows[0][0] == started
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows)), "windows must be contiguous"
        assert all(end - start <= timedelta(hours=1) for start, end in windows)
        state = sync_state(tmp_path / "store", "xima", name)
        assert state is not None
        watermark = datetime.fromisoformat(state["watermark"].replace("Z", "+00:00"))
        assert watermark <= windows[-1][1] - timedelta(minutes=30) and watermark.minute == 0


def test_requests_carry_iso_times_with_url_encoded_offsets(tmp_path: Path, xima: XimaEmulation) -> None:
    assert collect(xima.config(tmp_path)).exit_code == EXIT_OK
    suffixes = {name: {start[-6:] for start, _ in e.requested} for name, e in xima.emulators.items()}
    assert suffixes["boise"] == {"+05:30"}, "a '+' offset must arrive URL-encoded, not as a space"
    assert suffixes["reno"] <= {"-07:00", "-06:00"} and suffixes["denver"] == {"+00:00"}
    assert all(len(start) == len("2026-01-01T00:00:00.000+00:00") for e in xima.emulators.values()
               for start, _ in e.requested), "milliseconds and a numeric offset, like the docs' example"


def test_a_late_arrival_in_a_collected_window_is_picked_up_next_run(tmp_path: Path, xima: XimaEmulation) -> None:
    config = xima.config(tmp_path)
    collect(config)
    late_start = xima.now - timedelta(hours=2, minutes=20)
    watermark = sync_state(tmp_path / "store", "xima", "reno")["watermark"]  # type: ignore[index]
    assert datetime.fromisoformat(watermark.replace("Z", "+00:00")) > late_start, "the window is already final"
    late = {name: xima.emulator(name).add_late_recording(late_start) for name in ("reno", "boise")}
    requests_before = {name: len(e.requested) for name, e in xima.emulators.items()}
    second = by_tenant(collect(config))
    for name, summary in second.items():
        assert summary.new_recordings == (1 if name in late else 0), name
        assert summary.updated_recordings == 0, "re-swept recordings already held must count as nothing new"
        assert summary.audio_files == (1 if name in late else 0)
        assert len(xima.emulator(name).requested) > requests_before[name], "the lookback was swept again"
    assert second["denver"].nothing_new
    assert_complete(tmp_path, xima)
    keys = query_catalog(tmp_path / "store",
                         "SELECT vendor_id, COUNT(*) FROM recordings GROUP BY 1 HAVING COUNT(*) > 1")
    assert keys == [] and all(late[n] in inspect_store(tmp_path / "store").audio[n] for n in late)


def test_a_recording_saved_late_into_a_known_call_is_added_to_it(tmp_path: Path, xima: XimaEmulation) -> None:
    config = xima.config(tmp_path)
    collect(config)
    emulator = xima.emulator("reno")
    since = (xima.now - timedelta(hours=2, minutes=20)).timestamp() * 1000
    call = next(c for c in emulator.calls if c["startTime"] > since)
    key = emulator.add_late_recording(datetime.fromtimestamp(call["startTime"] / 1000 + 30).astimezone(),
                                      call_key=call["callKey"])
    summary = by_tenant(collect(config))["reno"]
    assert summary.new_recordings == 1 and summary.audio_files == 1
    (call_id,) = query_catalog(tmp_path / "store", "SELECT call_id FROM recordings WHERE vendor_id=?", (key,))[0]
    assert call_id == call["callKey"]
    assert_complete(tmp_path, xima)


def test_a_window_that_fails_is_retried_next_run_not_skipped(tmp_path: Path, xima: XimaEmulation) -> None:
    config = xima.config(tmp_path)
    emulator = xima.emulator("reno")
    emulator.failing_at = xima.now - timedelta(hours=3, minutes=30)
    first = by_tenant(collect(config))
    assert first["reno"].status.value == "stopped"
    assert any("Metadata collection stopped" in m and "503" in m for m in first["reno"].messages)
    assert first["boise"].status.value == first["denver"].status.value == "ok"
    state = sync_state(tmp_path / "store", "xima", "reno")
    assert state is None or state["watermark"] <= emulator.failing_at.isoformat()
    missing = xima.expected().recordings["reno"] - inspect_store(tmp_path / "store").recordings["reno"]
    assert missing, "the windows after the failed one were not collected in this run"
    emulator.failing_at = None
    assert collect(config).exit_code == EXIT_OK
    assert_complete(tmp_path, xima)


def test_a_report_still_being_prepared_is_asked_again(tmp_path: Path, xima: XimaEmulation) -> None:
    xima.emulator("reno").pending_reports = 2
    result = collect(xima.config(tmp_path))
    assert result.exit_code == EXIT_OK
    assert xima.emulator("reno").count(status=202) == 2 and by_tenant(result)["reno"].retried >= 2
    assert_complete(tmp_path, xima)


def test_audio_waits_until_the_recording_is_saved(tmp_path: Path, xima: XimaEmulation) -> None:
    emulator = xima.emulator("boise")
    since = (xima.now - timedelta(hours=2)).timestamp() * 1000
    recent = [r for r in emulator.recording_items() if r["startTime"] > since]
    key = recent[0]["recordingKey"]
    emulator.set_status(key, "PROCESSING")
    config = xima.config(tmp_path, max_attempts=1)
    for _ in range(2):  # waiting for Xima spends no attempts
        assert collect(config).exit_code == EXIT_WAITING
        assert inspect_store(tmp_path / "store").audio_status["boise"][key] == "waiting"
    emulator.set_status(key, "SAVED")
    second = by_tenant(collect(config))["boise"]
    assert second.audio_files == 1 and second.updated_recordings == 1
    assert_complete(tmp_path, xima)


def test_denied_audio_is_unavailable_and_the_rest_goes_on(tmp_path: Path, xima: XimaEmulation) -> None:
    emulator = xima.emulator("denver")
    key = emulator.recording_items()[0]["recordingKey"]
    emulator.tenant.denied.add(key)
    result = collect(xima.config(tmp_path))
    assert result.exit_code == EXIT_OK and by_tenant(result)["denver"].unavailable == 1
    (reason,) = query_catalog(tmp_path / "store", "SELECT reason FROM audio WHERE vendor_id=?", (key,))[0]
    assert reason.startswith("Xima denies the service user access to this recording (HTTP 403")
    assert_complete(tmp_path, xima)
