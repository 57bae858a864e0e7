"""The vendor's count of each settled day by the listing's `total`, whatever bounds Imagicle includes, and
`collector report` on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
from collector.engine import cli as run_cli
from collector.testing import collect, query_catalog
from collector_imagicle.testing import ImagicleEmulation


def questions(imagicle: ImagicleEmulation) -> int:
    """How many counts were asked for (each asks its period's total with quantity=1; pages are 5)."""
    return sum(1 for query in imagicle.emulator.queries if query.get("quantity") == "1")


def report(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run_cli(["--config", str(path), "report", *args], Plugins()) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def test_settled_days_are_counted_the_last_week_again_and_reconcile(
        tmp_path: Path, imagicle: ImagicleEmulation, capsys: pytest.CaptureFixture[str]) -> None:
    path = imagicle.config(tmp_path, count_after_hours=0.0)  # the emulator lists nothing late
    assert collect(path).exit_code == EXIT_OK
    asked = questions(imagicle)
    assert asked >= 2  # per account: from start_date (a partial day) to yesterday
    assert collect(path).exit_code == EXIT_OK
    again = questions(imagicle) - asked  # only the last week again (late inserts): a question a day at most
    assert 0 < again <= 7 * len(imagicle.sources()), again
    document = report(path, capsys, "--json")
    assert {line["tenant"] for line in document["days"]} == {"one", "two"}
    assert all(line["state"] == "reconciled" for line in document["days"]), document["days"]
    for total in document["totals"]:
        assert total["vendor_count"] == total["listed"] == len(imagicle.account(total["tenant"]).valid_ids())
    two = [line for line in document["days"] if line["tenant"] == "two" and line["listed"]]
    assert all(line["unavailable_why"] == {"audio not collected": line["listed"]} for line in two)  # no audio route


@pytest.mark.parametrize("start_inclusive, end_inclusive", [(True, True), (True, False), (False, True), (False, False)])
def test_a_recording_on_a_day_boundary_is_counted_on_its_own_day_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], start_inclusive: bool, end_inclusive: bool) -> None:
    imagicle = ImagicleEmulation(start_inclusive=start_inclusive, end_inclusive=end_inclusive)
    try:
        midnight = datetime.combine(imagicle.base.date() + timedelta(days=1), datetime.min.time(), UTC)
        for at in (midnight - timedelta(seconds=1), midnight, midnight + timedelta(seconds=1)):
            imagicle.emulator.add_recordings("two", 1, at=at, transcript="ready")
        path = imagicle.config(tmp_path, "two", count_after_hours=0.0)
        assert collect(path).exit_code == EXIT_OK
    finally:
        imagicle.close()
    days = {line["day"]: line for line in report(path, capsys, "--json")["days"]}
    for day in (midnight - timedelta(days=1), midnight):
        line = days[day.date().isoformat()]
        assert line["state"] == "reconciled" and line["vendor_count"] == line["listed"], line
    assert days[midnight.date().isoformat()]["listed"] >= 2


def test_a_recording_the_listing_never_returns_and_a_removed_file_make_the_day_short(
        tmp_path: Path, imagicle: ImagicleEmulation, capsys: pytest.CaptureFixture[str]) -> None:
    imagicle.emulator.add_phantoms("one", imagicle.base + timedelta(seconds=1))  # counted by `total`, never listed
    path = imagicle.config(tmp_path, "one", count_after_hours=0.0)
    assert collect(path).exit_code == EXIT_PARTIAL  # its window does not reconcile: held for the next run
    store = tmp_path / "store"
    (removed, file), = query_catalog(store, "SELECT a.vendor_id, a.path FROM audio a JOIN recordings r USING (source, "
                                          "tenant, vendor_id) WHERE a.status='stored' ORDER BY r.start_utc LIMIT 1")
    (store / file).unlink()
    capsys.readouterr()
    assert run_cli(["--config", str(path), "verify"], Plugins()) == EXIT_PARTIAL
    day = imagicle.base.date().isoformat()
    line = next(line for line in report(path, capsys, "--json")["days"] if line["day"] == day)
    assert line["state"] == "short" and line["difference"] == 1 and line["not_stored"] == [removed], line
    text = report(path, capsys)
    assert f"short: vendor counts {line['vendor_count']}, {line['listed']} listed; 1 listed recording not stored " \
           f"(1 queued): {removed}" in text
