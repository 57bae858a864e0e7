"""The core's job pipeline end to end, over real HTTP, with the toy vendor."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from collector import Page, hookimpl
from collector.engine import EXIT_WAITING, Plugins
from collector.testing import collect, inspect_store, query_catalog, sync_state, write_config


def test_full_collection_then_nothing_new(toy_config: Path, toy_plugins: Plugins, toy: Any) -> None:
    first = collect(toy_config, toy_plugins)
    assert first.exit_code == 0
    summary = first.summaries[0]
    assert (summary.new_recordings, summary.audio_files, summary.transcripts) == (10, 10, 10)
    contents = inspect_store(toy_config.parent / "store")
    assert not contents.problems
    assert contents.recordings["alpha"] == {i["id"] for i in toy.items}
    again = collect(toy_config, toy_plugins)
    assert again.summaries[0].nothing_new and again.exit_code == 0


def test_state_is_committed_with_the_page(toy_config: Path, toy_plugins: Plugins) -> None:
    collect(toy_config, toy_plugins)
    assert sync_state(toy_config.parent / "store", "toy", "alpha") == {"after": 10}


def test_hooks_hear_about_every_stored_recording(toy_config: Path, toy_plugin: Any, toy_plugins: Plugins,
                                                 toy: Any) -> None:
    collect(toy_config, toy_plugins)
    kinds = sorted(e.kind for e in toy_plugin.events)
    assert kinds.count("metadata") == kinds.count("audio") == kinds.count("transcript") == 10
    audio = next(e for e in toy_plugin.events if e.kind == "audio")
    assert audio.path is not None and (toy_config.parent / "store" / audio.path).is_file()
    toy.add(2)
    with sqlite3.connect(toy_config.parent / "store" / "catalog.sqlite") as db:
        db.execute("""UPDATE sync_state SET state='{"after":8}'""")  # re-list, as re-sweeping sources do
    collect(toy_config, toy_plugins)  # one page: t0008, t0009 (known), t0010, t0011 (new)
    new = [e.recording.vendor_id for e in toy_plugin.events[30:] if e.kind == "metadata"]
    assert new == ["t0010", "t0011"]


class _BrokenHook:
    @hookimpl
    def collector_recording_stored(self, event: object) -> None:
        raise RuntimeError("a plugin bug")


def test_a_failing_hook_does_not_stop_the_run(toy_config: Path, toy_plugin: Any) -> None:
    plugins = Plugins(entry_points_group=None, extra=[toy_plugin, _BrokenHook()])
    result = collect(toy_config, plugins)
    assert result.exit_code == 0 and result.summaries[0].audio_files == 10


def test_transcripts_not_ready_are_asked_again_later(tmp_path: Path, toy_plugins: Plugins, toy: Any,
                                                     toy_source: Any) -> None:
    toy.not_ready = {"t0001", "t0002"}
    config = write_config(tmp_path, [toy_source(toy, transcript_wait_days=365)])
    first = collect(config, toy_plugins)
    assert first.exit_code == EXIT_WAITING  # not a failure, but not complete either
    assert (first.summaries[0].transcripts, first.summaries[0].waiting) == (8, 2)
    assert first.summaries[0].status.value == "waiting" and first.summaries[0].failed == 0
    toy.not_ready = set()
    second = collect(config, toy_plugins)
    assert second.summaries[0].transcripts == 2 and second.exit_code == 0


def test_bandwidth_limit_parks_downloads_until_the_next_run(tmp_path: Path, toy_plugins: Plugins, Toy: Any,
                                                             toy_source: Any) -> None:
    with Toy(10) as blocked, Toy(4) as healthy:
        blocked.audio_status = {"t0003": 509}
        config = write_config(tmp_path, [toy_source(blocked, "blocked", download_workers=1),
                                         toy_source(healthy, "healthy")])
        first = collect(config, toy_plugins)
        by_tenant = {s.tenant: s for s in first.summaries}
        assert first.exit_code == 1
        assert by_tenant["healthy"].status.value == "ok" and by_tenant["healthy"].audio_files == 4
        parked = by_tenant["blocked"]
        assert parked.status.value == "stopped" and parked.deferred > 0
        assert any("bandwidth" in m for m in parked.messages)
        assert parked.new_recordings == 10  # metadata went on
        blocked.audio_status = {}
        second = collect(config, toy_plugins)
        assert second.exit_code == 0
        assert inspect_store(tmp_path / "store").audio["blocked"] == {i["id"] for i in blocked.items}


def test_egress_budget_stops_downloads_before_the_cap(tmp_path: Path, toy_plugins: Plugins, toy: Any,
                                                      toy_source: Any) -> None:
    config = write_config(tmp_path, [toy_source(toy, download_workers=4, egress_budget={"bytes": 100_000, "days": 5})])
    result = collect(config, toy_plugins)
    summary = result.summaries[0]
    assert 0 < summary.audio_files < 10
    assert summary.audio_bytes < 100_000  # four concurrent downloads together stay within the budget
    assert any("egress budget" in m for m in summary.messages)
    assert summary.deferred == 10 - summary.audio_files


def test_revoked_token_stops_only_that_tenant(tmp_path: Path, toy_plugins: Plugins, Toy: Any,
                                             toy_source: Any) -> None:
    with Toy(3) as revoked, Toy(3) as fine:
        sources = [toy_source(revoked, "revoked"), toy_source(fine, "fine")]
        revoked.token = "rotated-in-the-portal"
        result = collect(write_config(tmp_path, sources), toy_plugins)
    by_tenant = {s.tenant: s for s in result.summaries}
    assert by_tenant["revoked"].status.value == "stopped"
    assert "refused the credentials" in by_tenant["revoked"].messages[0]
    assert by_tenant["fine"].status.value == "ok" and by_tenant["fine"].audio_files == 3


def test_items_that_do_not_map_are_quarantined(tmp_path: Path, toy_plugins: Plugins, toy: Any,
                                               toy_source: Any) -> None:
    toy.items.append({"id": "bad-date", "start": "yesterday", "duration": 1})
    toy.items.append({"start": "2026-03-01T00:00:00+00:00", "duration": 1})
    result = collect(write_config(tmp_path, [toy_source(toy)]), toy_plugins)
    summary = result.summaries[0]
    assert summary.quarantined == 2 and summary.new_recordings == 10 and result.exit_code == 1
    rows = query_catalog(tmp_path / "store", "SELECT item_id, reason FROM quarantine ORDER BY item_id")
    assert rows[1][0] == "bad-date" and "start" in rows[1][1]
    again = collect(write_config(tmp_path, [toy_source(toy)]), toy_plugins)
    assert again.summaries[0].quarantined == 0  # the same bad item is not counted twice


def test_missing_audio_is_retried_then_given_up(tmp_path: Path, toy_plugins: Plugins, toy: Any,
                                                toy_source: Any) -> None:
    toy.audio_status = {"t0004": 404, "t0005": 403}
    config = write_config(tmp_path, [toy_source(toy, max_attempts=2)])
    first = collect(config, toy_plugins)
    assert first.summaries[0].unavailable == 1 and first.summaries[0].deferred == 1
    second = collect(config, toy_plugins)
    assert second.summaries[0].failed == 1
    statuses = inspect_store(tmp_path / "store").audio_status["alpha"]
    assert (statuses["t0004"], statuses["t0005"]) == ("failed", "unavailable")
    third = collect(config, toy_plugins)
    assert third.summaries[0].deferred == 0 and third.exit_code == 0


def test_a_source_warning_makes_the_run_partial_without_stopping_it(tmp_path: Path, toy_plugins: Plugins,
                                                                     toy: Any, toy_source: Any) -> None:
    warning = "The window 2026-03-01 did not reconcile; it is read again next run."
    result = collect(write_config(tmp_path, [toy_source(toy, warning=warning)]), toy_plugins)
    (summary,) = result.summaries
    assert result.exit_code == 1 and summary.status.value == "partial"
    assert summary.messages == [warning] and summary.audio_files == 10


def test_page_states_are_snapshotted_when_yielded(tmp_path: Path, toy: Any, toy_source: Any,
                                                  toy_source_class: Any) -> None:
    class MutatingSource(toy_source_class):  # type: ignore[misc]
        """Hands over one dict as every page's state and keeps changing it afterwards (a plugin bug)."""

        name = "mutating"

        async def sync(self, state: dict[str, Any] | None) -> Any:
            shared = {"after": (state or {}).get("after", 0)}
            while True:
                data = await self.http.json("GET", "/items", params={"after": shared["after"], "limit": 3})
                shared["after"] = data["next"]
                yield Page(data["items"], shared)
                shared["after"] = 10**6  # changed after the page was handed over
                if not data["items"]:
                    return
                shared["after"] = data["next"]

    class MutatingPlugin:
        @hookimpl
        def collector_register_sources(self, register: Any) -> None:
            register(MutatingSource)

    config = write_config(tmp_path, [{**toy_source(toy), "plugin": "mutating"}])
    result = collect(config, Plugins(entry_points_group=None, extra=[MutatingPlugin()]))
    assert result.exit_code == 0 and result.summaries[0].new_recordings == 10
    assert sync_state(tmp_path / "store", "mutating", "alpha") == {"after": 10}


def test_the_egress_ledger_counts_every_byte_the_vendor_sent(tmp_path: Path, toy: Any, toy_source: Any,
                                                            toy_plugins: Plugins) -> None:
    for item in toy.items:  # long enough that a body breaking half-way leaves bytes in the client's buffer
        item["duration"], item["size"] = 9.0, 9 * 16000 + 44
    toy.faults.inject("drop_body", kind="audio", count=6)
    config = write_config(tmp_path, [toy_source(toy, transcripts=False,
                                                retry={"attempts": 4, "initial_wait": 0.01, "max_wait": 0.05})])
    result = collect(config, toy_plugins)
    assert result.exit_code == 0 and result.summaries[0].audio_files == 10
    ledger = query_catalog(tmp_path / "store", "SELECT SUM(bytes) FROM egress")[0][0]
    assert ledger == toy.bytes_sent["audio"]
    assert toy.count(kind="audio") == 16  # six transfers broke off and were fetched again
