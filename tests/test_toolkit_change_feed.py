"""No silent loss by following the guide: the conformance suite's listing traits fail a watermark-only
plugin for a vendor that lists late attachments under old times, and `ChangeFeed` passes them all.

Kestrel (tests/kestrel/collector_kestrel) is a fictional vendor with a change feed; its two plugins
use only the public `collector` API and are installed through entry points for these tests (a
dist-info in a temporary folder, on `sys.path` and `PYTHONPATH`, so `collector run` subprocesses
see them too).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.testing import (
    Emulation,
    SourceConformance,
    collect,
    inspect_store,
    query_catalog,
    sync_state,
)

KESTREL = Path(__file__).resolve().parent / "kestrel"


@pytest.fixture(scope="session")
def kestrel_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the Kestrel distribution's metadata: its two entry points."""
    site = tmp_path_factory.mktemp("kestrel-site")
    dist = site / "collector_kestrel-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: collector-kestrel\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[recording_collector]\nkestrel_watermark = collector_kestrel.watermark\n"
                                           "kestrel_feed = collector_kestrel.feed\n")
    return site


@pytest.fixture(autouse=True)
def _kestrel_installed(kestrel_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in (KESTREL, kestrel_site):
        monkeypatch.syspath_prepend(str(folder))
    paths = [str(KESTREL), str(kestrel_site), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def kestrel(plugin: str, **options: Any) -> Emulation:
    from collector_kestrel.testing import KestrelEmulation

    return KestrelEmulation(plugin, **options)


class TestKestrelChangeFeedConformance(SourceConformance):
    """The whole suite, listing traits included, passes the `ChangeFeed` plugin."""

    source_name = "kestrel_feed"
    backends = ("embedded",)  # HTTP shapes, the change feed's sync state and a token file touch no path the
    # store backends take differently; the shipped plugins' and the revisit/batch suites run on both.

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return kestrel("kestrel_feed", bad_data=bad_data)


class WatermarkSuite(SourceConformance):
    """The same suite for the watermark-only plugin (not collected: its checks are run one by one below)."""

    source_name = "kestrel_watermark"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return kestrel("kestrel_watermark", bad_data=bad_data)


@pytest.fixture
def watermark_suite() -> Iterator[tuple[WatermarkSuite, Emulation]]:
    suite = WatermarkSuite()
    emulation = suite.start_emulation()
    try:
        yield suite, emulation
    finally:
        emulation.close()


@pytest.mark.parametrize(("check", "says"), [
    ("test_back_dated_arrivals_are_found", "listed under an old time were never collected"),
    ("test_deletions_keep_the_archive_and_are_recorded", "were not recorded in the audit trail"),
    ("test_a_killed_run_resumes_after_its_tokens_expired", "must start its pass again"),
])
def test_the_suite_fails_the_watermark_only_plugin(watermark_suite: tuple[WatermarkSuite, Emulation],
                                                   tmp_path: Path, check: str, says: str) -> None:
    suite, emulation = watermark_suite
    with pytest.raises(AssertionError, match=says):
        getattr(suite, check)(tmp_path, emulation)


@pytest.mark.parametrize("check", ["test_full_sync_is_complete", "test_late_arrivals_are_found",
                                   "test_second_run_is_incremental"])
def test_the_watermark_only_plugin_passes_the_ordinary_checks(watermark_suite: tuple[WatermarkSuite, Emulation],
                                                              tmp_path: Path, check: str) -> None:
    """What made it look safe: late arrivals inside the overlap are found, and a second run is cheap."""
    suite, emulation = watermark_suite
    getattr(suite, check)(tmp_path, emulation)


def test_the_feed_keeps_its_phase_token_and_position_in_the_state(tmp_path: Path) -> None:
    emulation = kestrel("kestrel_feed")
    try:
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        state = sync_state(tmp_path / "store", "kestrel_feed", "north")
        assert state is not None and state["phase"] == "incremental" and state["token"] and state["next"] is None
        before = emulation.listing_requests()
        emulation.add_back_dated(2)
        result = collect(config)
        assert [s.new_recordings for s in result.summaries] == [2, 2]
        assert emulation.listing_requests() - before == 2  # one request per tenant: the changes since the token
    finally:
        emulation.close()


def test_an_expired_sync_token_lists_everything_again_and_says_so(tmp_path: Path) -> None:
    emulation = kestrel("kestrel_feed")
    try:
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(1)
        emulation.expire_tokens()
        before = emulation.listing_requests()
        result = collect(config)
        assert result.exit_code == 0
        for summary in result.summaries:
            assert summary.new_recordings == 1
            assert any("refused the change feed's sync token" in note for note in summary.notes), summary.notes
        assert emulation.listing_requests() - before == 2 * (1 + 3)  # the refused token, then 9 recordings in 3 pages
        assert inspect_store(tmp_path / "store").problems == []
    finally:
        emulation.close()


def test_a_deletion_is_recorded_against_the_recording_and_the_recording_kept(tmp_path: Path) -> None:
    emulation = kestrel("kestrel_feed")
    try:
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        deleted = emulation.delete(1)
        result = collect(config)
        assert any("reported 1 recording(s) deleted" in m for s in result.summaries for m in s.notes)
        rows = query_catalog(tmp_path / "store", "SELECT tenant, vendor_id, detail FROM audit WHERE action=?",
                             ("vendor-deleted",))
        assert {(tenant, vendor_id) for tenant, vendor_id, _ in rows} == {
            (tenant, vendor_id) for tenant, ids in deleted.items() for vendor_id in ids}
        contents = inspect_store(tmp_path / "store")
        assert all(ids <= contents.audio[tenant] for tenant, ids in deleted.items())
    finally:
        emulation.close()


def test_tokens_that_expire_in_the_middle_of_an_incremental_pass_end_in_a_full_re_list(tmp_path: Path) -> None:
    emulation = kestrel("kestrel_feed")
    try:
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(10)  # three pages of changes per account
        emulation.api.after_request("metadata", lambda request: emulation.expire_tokens())  # type: ignore[attr-defined]
        result = collect(config)  # page 2's token is refused: the pass starts again, its sync token is refused too
        assert result.exit_code == 0, [s.messages for s in result.summaries]
        assert all(any("refused the change feed's sync token" in note for note in s.notes) for s in result.summaries)
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        state = sync_state(tmp_path / "store", "kestrel_feed", "north")
        assert state is not None and state["phase"] == "incremental" and state["next"] is None
    finally:
        emulation.close()
