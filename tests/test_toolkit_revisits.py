"""Parents whose children come later (issue 14): a `Revisit` from `parse`, visits through
`Source.children`, the `revisits` table, `collector status`, and the `late_children` trait.

Chatter (`vendor_chatter`) lists conversations before their recordings exist; its plugin returns
a `Revisit` per conversation. Everything runs over real HTTP against its emulator on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test vendors beside this file (importlib mode)
from toolkit_site import installed_as_plugin
from vendor_chatter import (
    Account,
    ChatterEmulation,
    ChatterEmulator,
    ChatterSource,
    OnceOnlyEmulation,
)

import collector
from collector import Children, Recording, Revisit, hookimpl, now_utc
from collector.engine import Plugins, cli
from collector.testing import (
    Emulation,
    SourceConformance,
    collect,
    inspect_store,
    query_catalog,
    sync_state,
    write_config,
)

FAST_RETRY = {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05}


@pytest.fixture(scope="module", autouse=True)
def chatter_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Chatter plugin, installed through an entry point for this module's tests."""
    with installed_as_plugin(tmp_path_factory.mktemp("chatter"), distribution="collector-test-chatter",
                             name="chatter", module="vendor_chatter"):
        yield


class TestChatterConformance(SourceConformance):
    """The whole conformance suite, `late_children` included, against the Chatter test vendor."""

    source_name = "chatter"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return ChatterEmulation(bad_data=bad_data)


# -- a plugin that only looks at a parent when it is listed fails the trait ------------------------------------

def test_a_plugin_that_never_revisits_fails_the_late_children_check(tmp_path: Path) -> None:
    emulation = OnceOnlyEmulation()
    try:
        with pytest.raises(AssertionError, match="children attached after their parent was listed were not collected"):
            SourceConformance().test_children_attached_later_are_collected(tmp_path, emulation)
        assert emulation.expected().recordings != inspect_store(tmp_path / "store").recordings  # lost, silently
    finally:
        emulation.close()


# -- the core's side, with one Chatter account -------------------------------------------------------------------

@pytest.fixture
def chatter() -> Iterator[tuple[ChatterEmulator, Account]]:
    """A Chatter host with one account, `solo`."""
    with ChatterEmulator(page_size_cap=10) as api:
        yield api, api.add_account(Account("solo"))


def solo_config(directory: Path, api: ChatterEmulator, account: Account, **settings: Any) -> Path:
    variable = f"CHATTER_TOKEN_{api.port}"
    os.environ[variable] = account.token
    return write_config(directory, [{"plugin": "chatter", "tenant": account.name, "base_url": api.url,
                                     "token": {"env": variable}, "retry": FAST_RETRY, "revisit_interval": 0,
                                     "rate_limit": {"requests": 200, "per_seconds": 1}, **settings}])


def visits(api: ChatterEmulator, conversation: str | None = None) -> int:
    """How many visits (recordings requests) the host answered, of one conversation or of all."""
    return sum(1 for r in api.log if r.kind == "children" and (conversation is None or f"/{conversation}/" in r.path))


def revisit_rows(store: Path) -> dict[str, tuple[str, int, str | None]]:
    rows = query_catalog(store, "SELECT item_id, status, visits, reason FROM revisits")
    return {item_id: (status, count, reason) for item_id, status, count, reason in rows}


def test_a_listing_page_commits_with_its_parents_before_any_is_visited(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    for number in range(6):
        account.start(now_utc() - timedelta(hours=1, minutes=number), recordings=2)
    seen: list[tuple[int, Any]] = []
    api.after_request("children", lambda request: seen.append(
        (len(revisit_rows(tmp_path / "store")), sync_state(tmp_path / "store", "chatter", "solo"))))
    result = collect(solo_config(tmp_path, api, account))
    assert result.exit_code == 0 and result.summaries[0].new_recordings == 12
    assert result.summaries[0].audio_files == 12  # the children's audio, in the same run
    (parents, state), = seen
    assert parents == 6 and state is not None  # the page (all six parents and its state) had committed
    assert {status for status, _, _ in revisit_rows(tmp_path / "store").values()} == {"settled"}
    assert any(note.startswith("Revisits: 6 parents visited, 6 settled; 12 new recordings")
               for note in result.summaries[0].notes), result.summaries[0].notes


def test_once_its_listing_has_ended_a_run_visits_a_parent_once(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    conversation = account.start(now_utc() - timedelta(hours=1), recordings=1, state="open")
    config = solo_config(tmp_path, api, account)
    for run in (1, 2):
        assert collect(config).exit_code == 0
        assert visits(api, conversation.id) == run
    account.attach(conversation)
    conversation.state = "closed"
    third = collect(config)
    assert third.summaries[0].new_recordings == 1 and visits(api, conversation.id) == 3
    assert revisit_rows(tmp_path / "store")[conversation.id][:2] == ("settled", 3)
    collect(config)
    assert visits(api, conversation.id) == 3  # settled: never visited again


def test_a_long_listing_visits_a_parent_again_after_the_interval(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    api.page_size_cap = 1
    first = account.start(now_utc() - timedelta(hours=1), recordings=1, state="open")
    for _ in range(4):
        account.start(now_utc() - timedelta(hours=1), recordings=1)
    api.faults.slow_seconds = 0.5
    api.faults.set_rate(1.0, ["slow"], kinds=["metadata"])  # five pages: a listing of 2.5 s or more
    collect(solo_config(tmp_path, api, account, revisit_interval=0.3))
    assert visits(api, first.id) >= 2  # while the listing went on, again after the interval


def test_a_parent_still_incomplete_at_its_deadline_expires_and_is_reported(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account], capsys: pytest.CaptureFixture[str]) -> None:
    api, account = chatter
    late = account.start(now_utc() - timedelta(hours=30), recordings=1, state="open")  # deadline: 6 h ago
    config = solo_config(tmp_path, api, account)
    result = collect(config)
    assert result.exit_code == 0 and result.summaries[0].new_recordings == 1  # what it had is collected
    assert any("1 expired at their deadline" in note for note in result.summaries[0].notes)
    status, count, reason = revisit_rows(tmp_path / "store")[late.id]
    assert (status, count) == ("expired", 1)
    assert reason is not None and reason.startswith("The vendor had not attached every child by the deadline (")
    collect(config)
    assert visits(api, late.id) == 1  # expired: not visited again
    assert cli(["--config", str(config), "status", "--json"]) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    assert {k: tenant["revisits"][k] for k in ("pending", "settled", "expired", "children")} == {
        "pending": 0, "settled": 0, "expired": 1, "children": 1}
    assert any(p["kind"] == "revisit" and p["id"] == late.id and p["status"] == "expired" for p in tenant["problems"])
    assert cli(["--config", str(config), "status"]) == 0
    text = capsys.readouterr().out
    assert "parents:     1 expired (1 recordings found by visits)" in text
    assert f"revisit {late.id!r}: expired (visits 1): The vendor had not attached every child" in text


def test_status_counts_parents_by_state_per_tenant(tmp_path: Path, chatter: tuple[ChatterEmulator, Account],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    api, account = chatter
    account.start(now_utc() - timedelta(hours=1), recordings=2)
    waiting = account.start(now_utc() - timedelta(hours=1), recordings=0, state="open")
    gone = account.start(now_utc() - timedelta(hours=1), recordings=0, state="open")
    config = solo_config(tmp_path, api, account)
    collect(config)
    account.listed.remove(gone)  # its owner deleted it: 404
    api.faults.inject("500", kind="children", count=2)  # a bad moment for the next visit of `waiting`
    collect(config)
    assert revisit_rows(tmp_path / "store")[waiting.id][:2] == ("pending", 2)
    collect(config)
    rows = revisit_rows(tmp_path / "store")
    assert rows[gone.id][0] == "unavailable" and "The conversation is gone" in (rows[gone.id][2] or "")
    assert rows[waiting.id][:2] == ("pending", 3)
    assert cli(["--config", str(config), "status", "--json"]) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    revisits = tenant["revisits"]
    assert {k: revisits[k] for k in ("pending", "settled", "expired", "unavailable", "children")} == {
        "pending": 1, "settled": 1, "expired": 0, "unavailable": 1, "children": 2}
    assert revisits["next_due"] is not None
    assert cli(["--config", str(config), "status"]) == 0
    assert "parents:     1 children still to come, 1 settled, 1 unavailable (2 recordings found by visits; " \
           "next visit due " in capsys.readouterr().out


def test_a_failed_visit_is_recorded_and_the_parent_visited_again_next_run(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    conversation = account.start(now_utc() - timedelta(hours=1), recordings=2)
    api.faults.inject("500", kind="children", count=2)  # both attempts of the first visit
    config = solo_config(tmp_path, api, account)
    first = collect(config)
    assert first.exit_code == 0 and first.summaries[0].new_recordings == 0
    assert any("1 failed and wait for a later run" in note for note in first.summaries[0].notes)
    status, _, reason = revisit_rows(tmp_path / "store")[conversation.id]
    assert status == "pending" and reason is not None and "HTTP 500" in reason
    second = collect(config)
    assert second.summaries[0].new_recordings == 2 and second.summaries[0].audio_files == 2
    assert revisit_rows(tmp_path / "store")[conversation.id] == ("settled", 2, None)


# -- what a plugin says -------------------------------------------------------------------------------------------

class LaterSource(ChatterSource):
    """Chatter, first visiting a conversation an hour after it is listed."""

    name = "chatter_later"

    def parse(self, item: Mapping[str, Any]) -> list[Recording | Revisit]:
        return [result if not isinstance(result, Revisit) else
                Revisit(result.item_id, result.payload, result.deadline, not_before=now_utc() + timedelta(hours=1))
                for result in super().parse(item)]


class NoChildrenSource(ChatterSource):
    """Chatter returning `Revisit`s without implementing `children`."""

    name = "chatter_no_children"
    children = collector.Source.children


class _Register:
    def __init__(self, *sources: type[collector.Source]) -> None:
        self.sources = sources

    @hookimpl
    def collector_register_sources(self, register: Any) -> None:
        for source in self.sources:
            register(source)


def test_a_revisit_is_first_visited_from_its_not_before(tmp_path: Path,
                                                       chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    account.start(now_utc() - timedelta(hours=1), recordings=1)
    config = solo_config(tmp_path, api, account, plugin="chatter_later")
    result = collect(config, Plugins(entry_points_group=None, extra=[_Register(LaterSource)]))
    assert result.exit_code == 0 and visits(api) == 0
    (due,) = query_catalog(tmp_path / "store", "SELECT due_at FROM revisits")
    assert due[0] > collector.iso(now_utc() + timedelta(minutes=59))


def test_a_revisit_from_a_plugin_without_children_quarantines_its_item(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account]) -> None:
    api, account = chatter
    account.start(now_utc() - timedelta(hours=1), recordings=1)
    config = solo_config(tmp_path, api, account, plugin="chatter_no_children")
    result = collect(config, Plugins(entry_points_group=None, extra=[_Register(NoChildrenSource)]))
    assert result.summaries[0].quarantined == 1 and result.exit_code == 1
    (reason,) = query_catalog(tmp_path / "store", "SELECT reason FROM quarantine")
    assert "does not implement Source.children" in reason[0]


@pytest.mark.parametrize(("arguments", "message"), [
    (("", {}, datetime(2026, 1, 1, tzinfo=UTC)), "non-empty string"),
    (("c1", {"at": datetime(2026, 1, 1)}, datetime(2026, 1, 1, tzinfo=UTC)), "plain JSON"),
    (("c1", {}, datetime(2026, 1, 1)), "time zone"),
    (("c1", [], datetime(2026, 1, 1, tzinfo=UTC)), "mapping"),
])
def test_a_revisit_says_what_is_wrong_with_it(arguments: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Revisit(*arguments)


def test_a_revisit_keeps_a_copy_of_its_payload_in_utc() -> None:
    payload: dict[str, Any] = {"id": "c1", "legs": [1, 2]}
    revisit = Revisit("c1", payload, datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    payload["legs"].append(3)
    assert revisit.payload == {"id": "c1", "legs": [1, 2]} and revisit.deadline.tzinfo is UTC
    assert Children().items == () and not Children().complete


def test_a_dry_run_lists_parents_without_counting_them_as_recordings(
        tmp_path: Path, chatter: tuple[ChatterEmulator, Account], capsys: pytest.CaptureFixture[str]) -> None:
    api, account = chatter
    account.start(now_utc() - timedelta(hours=1), recordings=2)
    config = solo_config(tmp_path, api, account)
    assert cli(["--config", str(config), "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would list 1 items in 1 page(s): 0 new, 0 changed, 0 to quarantine" in out, out
    assert visits(api) == 0
