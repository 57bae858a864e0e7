"""Collection over real HTTP: arrivals while paging, re-runs, late transcripts, boundaries, mismatches."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.engine import EXIT_WAITING
from collector.testing import collect, inspect_store, sync_state
from collector_imagicle._emudata import Account
from collector_imagicle.testing import ImagicleEmulation

RECONCILE_NOTE = "did not reconcile"


def test_recordings_arriving_inside_the_window_being_paged_are_all_collected_once(
        tmp_path: Path, imagicle: ImagicleEmulation, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for name in ("one", "two"):
        imagicle.emulator.arrive_while_listing(name, every=2, where="inside", limit=5)
    before = {name: len(imagicle.account(name).entries) for name in ("one", "two")}
    result = collect(imagicle.config(tmp_path, page_size=2, reconcile_attempts=8))
    assert result.exit_code == 0, [s.messages for s in result.summaries]
    contents = inspect_store(tmp_path / "store")
    for summary in result.summaries:
        account = imagicle.account(summary.tenant)
        assert len(account.entries) == before[summary.tenant] + 5, "the emulator did not insert during the run"
        assert contents.recordings[summary.tenant] == account.valid_ids()  # nothing missed
        assert summary.new_recordings == len(account.valid_ids()) and summary.updated_recordings == 0  # nor doubled
        assert not any(RECONCILE_NOTE in note for note in summary.notes)
        # every window reconciled
        assert "held" not in (sync_state(tmp_path / "store", "imagicle", summary.tenant) or {})
    assert any("does not reconcile on read 1" in r.getMessage() for r in caplog.records), "no window was re-read"


def test_recordings_arriving_at_the_front_during_a_run_are_collected_by_the_next(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    for name in ("one", "two"):
        imagicle.emulator.arrive_while_listing(name, every=3, where="front", limit=4)
    path = imagicle.config(tmp_path, page_size=3)
    first = collect(path)
    assert first.exit_code == 0
    for name in ("one", "two"):
        imagicle.emulator.arrive_while_listing(name, every=0)
    second = collect(path)
    assert second.exit_code == 0
    contents = inspect_store(tmp_path / "store")
    for first_summary, second_summary in zip(first.summaries, second.summaries, strict=True):
        ids = imagicle.account(first_summary.tenant).valid_ids()
        assert contents.recordings[first_summary.tenant] == ids
        assert first_summary.new_recordings + second_summary.new_recordings == len(ids)


def test_a_rerun_collects_nothing_new_and_fetches_transcripts_that_were_in_progress(tmp_path: Path) -> None:
    imagicle = ImagicleEmulation(in_progress=True)
    try:
        _rerun_fetches_transcripts_that_were_in_progress(tmp_path, imagicle)
    finally:
        imagicle.close()


def _rerun_fetches_transcripts_that_were_in_progress(tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    path = imagicle.config(tmp_path)
    first = collect(path)
    later = {name: imagicle.transcript_ids(name, "later") for name in ("one", "two")}
    assert all(later.values())
    assert first.exit_code == EXIT_WAITING
    assert {s.tenant: s.waiting for s in first.summaries} == {n: len(ids) for n, ids in later.items()}
    again = collect(path)
    assert again.exit_code == EXIT_WAITING
    assert all(s.nothing_new and s.waiting == len(later[s.tenant]) for s in again.summaries)
    imagicle.emulator.make_transcripts_ready()
    third = collect(path)
    assert third.exit_code == 0
    assert {s.tenant: (s.new_recordings, s.transcripts, s.waiting) for s in third.summaries} == \
        {name: (0, len(ids), 0) for name, ids in later.items()}
    contents = inspect_store(tmp_path / "store")
    for name in ("one", "two"):
        assert contents.transcripts[name] == imagicle.transcript_ids(name, "ready", "later")
    assert not contents.problems


@pytest.mark.parametrize("start_inclusive", [True, False])
@pytest.mark.parametrize("end_inclusive", [True, False])
def test_recordings_on_window_boundaries_are_collected_whatever_the_bounds_mean(
        tmp_path: Path, start_inclusive: bool, end_inclusive: bool) -> None:
    emulation = ImagicleEmulation(recordings=0, start_inclusive=start_inclusive, end_inclusive=end_inclusive)
    try:
        hour = emulation.base.replace(minute=0)
        for offset in (timedelta(hours=1), timedelta(hours=2), timedelta(hours=2, seconds=-1),
                       timedelta(hours=2, seconds=1), timedelta(hours=3, seconds=-1), timedelta(hours=3)):
            emulation.emulator.add_recordings("two", 1, at=hour + offset)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        result = collect(emulation.config(tmp_path, "two", window_hours=1.0, start_date=hour.strftime(fmt),
                                          end_date=(hour + timedelta(hours=4)).strftime(fmt)))
        assert result.exit_code == 0
        assert inspect_store(tmp_path / "store").recordings["two"] == emulation.account("two").valid_ids()
        assert len(emulation.account("two").valid_ids()) == 6
    finally:
        emulation.close()


def test_a_window_that_never_reconciles_holds_the_watermark_and_is_accepted_after_some_runs(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    phantom = imagicle.base + timedelta(minutes=30)
    imagicle.emulator.add_phantoms("two", phantom)
    path = imagicle.config(tmp_path, "two", reconcile_attempts=2, accept_mismatch_after_runs=3)
    for run in (1, 2):
        result = collect(path)
        (summary,) = result.summaries
        assert result.exit_code == 1 and summary.status.value == "partial"  # data may be missing: say so
        assert any(RECONCILE_NOTE in m and "next run reads it again" in m for m in summary.messages), summary.messages
        held = sync_state(tmp_path / "store", "imagicle", "two") or {}
        assert held["held"]["runs"] == run and held["watermark"] == held["held"]["start"]
        assert held["watermark"] <= phantom.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert inspect_store(tmp_path / "store").recordings["two"] == imagicle.account("two").valid_ids()
    third = collect(path)
    assert any("accepted as listed" in note for note in third.summaries[0].notes)
    final = sync_state(tmp_path / "store", "imagicle", "two") or {}
    assert "held" not in final and final["watermark"] > phantom.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_filters_are_passed_through_and_collect_exactly_what_the_vendor_selects(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    account = imagicle.account("one")
    filters: dict[str, Any] = {"sentiment": ["NEGATIVE", "NEUTRAL", "POSITIVE"], "users": f"exclude:{account.users[0]}",
               "tagids": ["1efc024d-5c55-456b-9e91-26cd3f57e689", "a2c80f67-7d9d-4c99-9a13-20f2cac40c63"]}
    params: dict[str, str | int] = {"quantity": 1000, "from": 0, "sentiment": "NEGATIVE,NEUTRAL,POSITIVE",
              "users": filters["users"], "tagids": ",".join(filters["tagids"])}
    token = httpx.post(imagicle.emulator.token_url, data={"grant_type": "client_credentials"},
                       auth=("collector-one", account.clients["collector-one"])).json()["access_token"]
    answer = httpx.get(imagicle.emulator.api_url + "/v1/recordings", params=params,
                       headers={"Authorization": f"Bearer {token}"}).json()
    selected = {item["id"] for item in answer["recordings"]}  # what the vendor selects, asked directly
    assert 0 < len(selected) < len(account.valid_ids())
    result = collect(imagicle.config(tmp_path, "one", filters=filters))
    assert result.exit_code == 0
    assert inspect_store(tmp_path / "store").recordings["one"] == selected


def test_a_server_that_sends_shorter_pages_than_asked_is_still_read_completely(tmp_path: Path) -> None:
    emulation = ImagicleEmulation(max_quantity=2)
    try:
        result = collect(emulation.config(tmp_path, page_size=50))
        assert result.exit_code == 0
        contents = inspect_store(tmp_path / "store")
        assert all(contents.recordings[a.name] == a.valid_ids() for a in emulation.accounts)
    finally:
        emulation.close()


def test_a_fixed_date_range_collects_only_that_range(tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    account: Account = imagicle.account("two")
    start, end = imagicle.base + timedelta(hours=1), imagicle.base + timedelta(hours=2, minutes=30)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    result = collect(imagicle.config(tmp_path, "two", start_date=start.strftime(fmt), end_date=end.strftime(fmt)))
    assert result.exit_code == 0
    inside = {e.id for e in account.entries if start <= e.at < end}
    collected = inspect_store(tmp_path / "store").recordings["two"]
    assert inside and inside <= collected
    assert all(start - timedelta(seconds=1) <= e.at <= end for e in account.entries if e.id in collected)
