"""`collector report` on a Xima store: each settled day counted once by a second listing of the whole day,
equal to what the emulator holds, and a recording the sweep missed named."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
from collector.engine import cli as run_cli
from collector.testing import collect, query_catalog, write_config
from collector_xima.emulator import XimaEmulator, XimaTenant

MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
FULL_DAYS = [(MIDNIGHT - timedelta(days=n)).date().isoformat() for n in (2, 1)]


@contextmanager
def tenant(tmp_path: Path, endpoint: str = "call-recording-info") -> Iterator[tuple[XimaEmulator, Path]]:
    """Forty recordings over the two days before today, collected from noon three days ago (a partial
    first day); the emulator lists none late, so days are counted as soon as they end."""
    data = XimaTenant(name="acme-ns", token="tok-" + os.urandom(8).hex(), recordings=40,
                      anchor=MIDNIGHT - timedelta(minutes=7), span=timedelta(hours=47))
    with XimaEmulator(data, rate_limit=None) as emulator:
        os.environ["TEST_XIMA_REPORT_TOKEN"] = data.token
        try:
            yield emulator, write_config(tmp_path, [{
                "plugin": "xima", "tenant": "reno", "base_url": emulator.url, "endpoint": endpoint,
                "token": {"env": "TEST_XIMA_REPORT_TOKEN"}, "window": 3600, "lookback": 3600, "settle_delay": 1,
                "start": (MIDNIGHT - timedelta(days=3) + timedelta(hours=12)).isoformat(),
                "rate_limit": {"requests": 1000, "per_seconds": 1}, "count_after_hours": 0.0}])
        finally:
            del os.environ["TEST_XIMA_REPORT_TOKEN"]


def day_listings(emulator: XimaEmulator) -> list[tuple[str, str]]:
    """The emulator's listing requests that span half a day or more: the second listings (the sweep's
    windows are an hour long)."""
    return [(start, end) for start, end in emulator.requested
            if datetime.fromisoformat(end) - datetime.fromisoformat(start) >= timedelta(hours=12)]


def report(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run_cli(["--config", str(config), "report", *args], Plugins()) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


@pytest.mark.parametrize("endpoint", ["call-recording-info", "recordings"])
def test_each_settled_day_is_counted_once_and_reconciles_with_the_vendors_truth(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str) -> None:
    with tenant(tmp_path, endpoint) as (emulator, config):
        assert collect(config).exit_code == EXIT_OK
        counted = day_listings(emulator)
        assert len(counted) == 3  # the partial first day and two full days, one request each
        assert collect(config).exit_code == EXIT_OK
        assert day_listings(emulator) == counted  # a second run asks nothing again
        truth = collections.Counter(datetime.fromtimestamp(item["startTime"] / 1000, UTC).date().isoformat()
                                    for item in emulator.recording_items())
    document = report(config, capsys, "--json")
    days = {line["day"]: line for line in document["days"]}
    for day in FULL_DAYS:
        line = days[day]
        assert line["state"] == "reconciled" and line["count_method"] == "second listing", line
        assert line["vendor_count"] == line["listed"] == line["stored"] == line["proven"] == truth[day], line
    first = days[(MIDNIGHT - timedelta(days=3)).date().isoformat()]
    assert first["state"] == "reconciled" and first["count_start"].endswith("T12:00:00.000000Z"), first
    (total,) = document["totals"]
    assert total["listed"] == total["stored"] == sum(truth.values()) and total["difference"] == 0
    text = report(config, capsys)
    assert "xima/reno" in text and "counted from 12:00, where the collection starts" in text


def test_a_recording_the_sweep_missed_is_named_and_a_removed_file_reads_short(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tenant(tmp_path) as (emulator, config):
        items = sorted(emulator.recording_items(), key=lambda item: item["startTime"])
        day = FULL_DAYS[0]
        on_day = [item["recordingKey"] for item in items
                  if datetime.fromtimestamp(item["startTime"] / 1000, UTC).date().isoformat() == day]
        missed, removed = on_day[0], on_day[1]
        emulator.hide(missed)  # one listing leaves it out: the sweep's window, not the second listing
        assert collect(config).exit_code == EXIT_OK
    store = tmp_path / "store"
    (path,) = query_catalog(store, "SELECT path FROM audio WHERE vendor_id=?", (removed,))[0]
    (store / path).unlink()
    capsys.readouterr()
    assert run_cli(["--config", str(config), "verify"], Plugins()) == EXIT_PARTIAL
    line = next(line for line in report(config, capsys, "--json")["days"] if line["day"] == day)
    assert line["state"] == "short" and line["vendor_count"] == len(on_day) == line["listed"] + 1, line
    assert line["never_listed"] == [missed] and line["not_stored"] == [removed], line
    text = report(config, capsys)
    assert f"short: vendor counts {len(on_day)}, {len(on_day) - 1} listed (never listed: {missed})" in text
    assert f"1 listed recording not stored (1 queued): {removed}" in text
