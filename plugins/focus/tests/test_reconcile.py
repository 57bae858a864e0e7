"""The vendor's count of each settled day by `recording.search`'s `total`, and `collector report` on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
from collector.engine import cli as run_cli
from collector.testing import collect, query_catalog, write_config
from collector_focus.testing import FocusEmulation

DAY = "2026-01-05"  # every generated recording starts that day


def config(tmp_path: Path, focus: FocusEmulation) -> Path:
    # WAV: the container's exact self-description proves a stored file complete (MP3 reads "decode only"
    # until an MP3 container check vouches for it).
    return write_config(tmp_path, [{**table, "audio_format": "wav", "transcripts": False} for table in focus.sources()])


def report(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run_cli(["--config", str(path), "report", *args], Plugins()) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def test_settled_days_are_counted_by_search_total_the_last_week_again_and_reconcile(
        tmp_path: Path, focus: FocusEmulation, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, focus)
    assert collect(path).exit_code == EXIT_OK
    asked = focus.emulator.count(kind="count")
    assert 0 < asked <= 2 * 31  # per tenant: the day with recordings, then empty stretches to yesterday
    assert collect(path).exit_code == EXIT_OK
    # A second run asks only for the last week again (late inserts), empty here: one question a tenant.
    assert focus.emulator.count(kind="count") == asked + len(focus.sources())
    document = report(path, capsys, "--json")
    assert all(line["state"] == "reconciled" for line in document["days"]), \
        [line for line in document["days"] if line["state"] != "reconciled"]
    one = next(line for line in document["days"] if (line["tenant"], line["day"]) == ("one", DAY))
    assert one["vendor_count"] == one["listed"] == 24 and one["count_method"] == "recording.search total"
    assert one["stored"] + one["unavailable"] == 24 and one["proven"] == one["stored"]
    assert one["unavailable_why"] == {"no media": 2, "access denied": 1}
    assert "reconciled" in report(path, capsys)


def test_a_recording_hidden_from_the_cursor_and_a_removed_file_make_the_day_short(
        tmp_path: Path, focus: FocusEmulation, capsys: pytest.CaptureFixture[str]) -> None:
    hidden, removed = 7001_000_003, "7001000004"
    focus.emulator.hide(hidden)  # the cursor feed leaves it out; recording.search still counts it
    path = config(tmp_path, focus)
    assert collect(path).exit_code == EXIT_OK
    store = tmp_path / "store"
    (file,) = query_catalog(store, "SELECT path FROM audio WHERE tenant='one' AND vendor_id=?", (removed,))[0]
    (store / file).unlink()
    capsys.readouterr()
    assert run_cli(["--config", str(path), "verify"], Plugins()) == EXIT_PARTIAL
    one = next(line for line in report(path, capsys, "--json")["days"] if (line["tenant"], line["day"]) == ("one", DAY))
    assert one["state"] == "short" and (one["vendor_count"], one["listed"], one["difference"]) == (24, 23, 1), one
    assert one["never_listed"] == [] and one["not_stored"] == [removed]  # a search total names no recording
    text = report(path, capsys)
    assert f"short: vendor counts 24, 23 listed; 1 listed recording not stored (1 queued): {removed}" in text
