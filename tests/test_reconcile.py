"""The vendor's own count of each settled day (`Source.vendor_count`) and what `collector report` makes of it.

A toy vendor that can count: `GET /count?start&end` names every item starting in [start, end),
including those `hidden` from its listing. Its items start on 2026-03-01, long settled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import VendorCount, hookimpl, iso
from collector._cli._main import run_cli
from collector.emulator import Request, Response
from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
from collector.testing import PostgresServer, collect, query_catalog, scale_out, write_config


def counting_plugins(toy_source_class: type[Any], Toy: type[Any]) -> tuple[Plugins, type[Any]]:
    """A plugin manager with a toy source that counts, and the emulator class that answers its counts."""

    class CountingToy(Toy):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.hidden: set[str] = set()
            self.asked: list[tuple[datetime, datetime]] = []
            self.add_route("GET", "/count", "count", self.count_items)

        def list_items(self, request: Request) -> Response:
            answer = super().list_items(request)
            body = json.loads(answer.body)
            body["items"] = [item for item in body["items"] if item["id"] not in self.hidden]
            return Response.json(body)

        def count_items(self, request: Request) -> Response:
            self._auth(request)
            start, end = (datetime.fromisoformat(request.query[k].replace("Z", "+00:00")) for k in ("start", "end"))
            self.asked.append((start, end))
            return Response.json({"ids": [item["id"] for item in self.items
                                          if start <= datetime.fromisoformat(item["start"]) < end]})

    class CountingSource(toy_source_class):  # type: ignore[misc]
        name = "toy"

        async def vendor_count(self, start: datetime, end: datetime) -> VendorCount:
            answer = await self.http.json("GET", "/count", params={"start": iso(start), "end": iso(end)})
            return VendorCount(len(answer["ids"]), frozenset(answer["ids"]), method="toy count")

    class CountingPlugin:
        @hookimpl
        def collector_register_sources(self, register: Callable[[type[Any]], None]) -> None:
            register(CountingSource)

    return Plugins(entry_points_group=None, extra=[CountingPlugin()]), CountingToy


@pytest.fixture
def counting(toy_source_class: type[Any], Toy: type[Any]) -> Any:
    plugins, emulator_class = counting_plugins(toy_source_class, Toy)
    with emulator_class(10) as emulator:
        yield plugins, emulator


def report(config: Path, plugins: Plugins, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert run_cli(["--config", str(config), "report", *args], plugins) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def day_line(document: Any, day: str) -> dict[str, Any]:
    return next(line for line in document["days"] if line["day"] == day)


def test_settled_days_are_counted_once_newest_first_and_reconcile(
        counting: Any, toy_source: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins, toy = counting
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
    assert collect(config, plugins).exit_code == EXIT_OK
    asked = toy.count(kind="count")
    assert 0 < asked <= 31  # the day with recordings, then the empty stretches after it, up to 31 days each
    rows = query_catalog(tmp_path / "store", "SELECT day, zone, vendor_count, missing FROM vendor_counts ORDER BY day")
    assert rows[0] == ("2026-03-01", "UTC", 10, "[]")
    assert all(count == 0 for _, _, count, _ in rows[1:]) and len(rows) > 200  # every settled day to yesterday
    assert collect(config, plugins).exit_code == EXIT_OK
    assert toy.count(kind="count") == asked  # a counted day is not asked again

    with sqlite3.connect(tmp_path / "store" / "catalog.sqlite") as db:  # holds, as the retention code sets them
        db.execute("UPDATE recordings SET legal_hold=1 WHERE vendor_id='t0001'")
        db.execute("UPDATE recordings SET retain_until='2999-01-01T00:00:00.000000Z' WHERE vendor_id='t0002'")
        db.execute("UPDATE recordings SET retain_until='2000-01-01T00:00:00.000000Z' WHERE vendor_id='t0003'")
    document = report(config, plugins, capsys, "--json")
    line = day_line(document, "2026-03-01")
    assert line["vendor_count"] == line["listed"] == line["stored"] == line["proven"] == 10, line
    assert line["held"] == 2 and line["state"] == "reconciled" and line["difference"] == 0
    assert line["count_method"] == "toy count"
    assert all(line["state"] == "reconciled" for line in document["days"])
    text = report(config, plugins, capsys)
    assert "2026-03-02.." in text and "days without recordings" in text  # empty days folded in the table
    assert "not reconciled" not in text


def test_the_latest_settled_days_are_counted_again_so_a_late_insert_reads_short(
        counting: Any, toy_source: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """With `recount_days`, the latest settled days are asked again on every run, once the days
    not counted yet are: a recording the vendor adds to one of them after it was counted (and that
    the listing never brings, as one past its lookback would not) makes that day read short, and
    the change is logged. Older days are not asked again."""
    plugins, toy = counting
    config = write_config(tmp_path, [toy_source(toy, transcripts=False, recount_days=7)])
    assert collect(config, plugins).exit_code == EXIT_OK
    ((latest,),) = query_catalog(tmp_path / "store", "SELECT MAX(day) FROM vendor_counts")
    week = datetime.fromisoformat(f"{latest}T00:00:00+00:00") - timedelta(days=6)
    toy.items.append({**toy.items[0], "id": "late", "start": f"{latest}T12:00:00+00:00"})
    toy.hidden.add("late")  # in the vendor's count of its day, never in its listing
    toy.asked.clear()
    assert collect(config, plugins).exit_code == EXIT_OK
    assert toy.asked and all(start >= week for start, _ in toy.asked), toy.asked  # the last week only
    line = day_line(report(config, plugins, capsys, "--json"), latest)
    assert line["state"] == "short" and line["vendor_count"] == 1 and line["never_listed"] == ["late"], line
    assert any(f"count of {latest} changed" in record.getMessage() and "0 then, 1 now" in record.getMessage()
               for record in caplog.records)
    toy.asked.clear()
    config = write_config(tmp_path, [toy_source(toy, transcripts=False, recount_days=0)])
    assert collect(config, plugins).exit_code == EXIT_OK and toy.asked == []  # 0: each day is counted once


def test_a_recording_hidden_from_the_listing_is_named_and_one_not_stored_too(
        counting: Any, toy_source: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins, toy = counting
    toy.hidden.add("t0003")
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
    assert collect(config, plugins).exit_code == EXIT_OK
    (path,) = query_catalog(tmp_path / "store", "SELECT path FROM audio WHERE vendor_id='t0005'")[0]
    (tmp_path / "store" / path).unlink()
    capsys.readouterr()
    assert run_cli(["--config", str(config), "verify"], plugins) == EXIT_PARTIAL
    line = day_line(report(config, plugins, capsys, "--json"), "2026-03-01")
    assert line["state"] == "short" and line["vendor_count"] == 10 and line["listed"] == 9, line
    assert line["never_listed"] == ["t0003"] and line["not_stored"] == ["t0005"] and line["difference"] == 1
    text = report(config, plugins, capsys)
    assert "short: vendor counts 10, 9 listed (never listed: t0003)" in text
    assert "1 listed recording not stored (1 queued): t0005" in text


def test_a_count_that_fails_is_logged_and_asked_again_next_run(
        counting: Any, toy_source: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plugins, toy = counting
    toy.faults.inject("500", kind="count", count=3)  # every try of the first question
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
    result = collect(config, plugins)
    assert result.exit_code == EXIT_OK, result.summaries[0].messages  # the tenant does not fail
    assert query_catalog(tmp_path / "store", "SELECT COUNT(*) FROM vendor_counts") == [(0,)]
    assert any("asked for again next run" in record.getMessage() for record in caplog.records)
    assert collect(config, plugins).exit_code == EXIT_OK
    assert query_catalog(tmp_path / "store", "SELECT vendor_count FROM vendor_counts WHERE day='2026-03-01'") == [(10,)]


def test_nothing_is_counted_after_a_listing_that_failed(counting: Any, toy_source: Any, tmp_path: Path) -> None:
    plugins, toy = counting
    toy.faults.inject("500", kind="metadata", count=10)
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
    assert collect(config, plugins).exit_code == EXIT_PARTIAL
    assert toy.count(kind="count") == 0


def test_counts_per_run_bounds_the_questions_and_days_follow_the_tenant_zone(
        counting: Any, toy_source: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins, toy = counting
    config = write_config(tmp_path, [toy_source(toy, transcripts=False, counts_per_run=2,
                                                timezone="America/New_York")])
    collect(config, plugins)
    assert toy.count(kind="count") == 2
    newest = query_catalog(tmp_path / "store", "SELECT MIN(day), MAX(day), zone FROM vendor_counts GROUP BY zone")
    assert newest[0][2] == "America/New_York" and newest[0][0] > "2026-03-01"  # newest first: not there yet
    for _ in range(6):
        collect(config, plugins)
    rows = dict(query_catalog(tmp_path / "store", "SELECT day, day_start FROM vendor_counts"))
    assert rows["2026-03-01"] == "2026-03-01T05:00:00.000000Z"  # New York's midnight (EST)
    assert rows["2026-03-09"] == "2026-03-09T04:00:00.000000Z"  # the day after the clock change (EDT)
    document = report(config, plugins, capsys, "--json")
    line = day_line(document, "2026-03-01")
    assert document["timezone"] == "America/New_York" and line["state"] == "reconciled", line
    utc = report(config, plugins, capsys, "--json", "--timezone", "UTC")
    assert day_line(utc, "2026-03-01")["state"] == "counted in America/New_York days"


def test_a_plugin_that_cannot_count_reads_no_vendor_count(
        toy: Any, toy_source: Any, toy_plugins: Plugins, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    line = day_line(report(config, toy_plugins, capsys, "--json"), "2026-03-01")
    assert line["state"] == "no vendor count" and line["vendor_count"] is None and line["stored"] == 10, line
    assert query_catalog(tmp_path / "store", "SELECT COUNT(*) FROM vendor_counts") == [(0,)]


def test_counts_and_the_report_work_the_same_on_postgresql(
        postgres: PostgresServer, counting: Any, toy_source: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    plugins, toy = counting
    hostile = "a\x00b|../\ufffe"
    toy.items.append({**toy.items[0], "id": hostile})  # on the same day, never listed
    toy.hidden.add(hostile)
    with scale_out(postgres=postgres):
        config = write_config(tmp_path, [toy_source(toy, transcripts=False, timezone="Europe/London")])
        assert collect(config, plugins).exit_code == EXIT_OK
        asked = toy.count(kind="count")
        assert collect(config, plugins).exit_code == EXIT_OK and toy.count(kind="count") == asked
        document = report(config, plugins, capsys, "--json")
    line = day_line(document, "2026-03-01")
    assert line["zone"] == "Europe/London" and line["state"] == "short" and line["never_listed"] == [hostile], line
    assert (line["vendor_count"], line["listed"], line["stored"], line["proven"]) == (11, 10, 10, 10)
    assert all(line["state"] == "reconciled" for line in document["days"] if line["day"] != "2026-03-01")
