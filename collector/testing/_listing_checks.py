"""The conformance suite's listing traits: arrivals no overlap catches, deletions, tokens that expire.

A plugin can pass every check of an ordinary listing and still lose recordings for good: a vendor
that lists a recording under a time other than when it became visible (a recording attached to
its call hours later, listed under the call's start; a back-dated import) defeats any watermark's
overlap, silently. An emulation that declares what its vendor does switches these checks on:

- `back_dated = True` (implement `add_back_dated(count)`): recordings that arrive now, listed under
  a time older than anything the plugin's overlap or lookback re-reads, must be collected by the
  next run. A watermark fails it; a change feed (`collector.ChangeFeed`) passes.
- `change_feed = True` (implement `delete(count)`): when the vendor reports recordings deleted,
  the store keeps what it holds of them (it is an archive) and records each deletion in the
  recording's audit trail (action `vendor-deleted`, as `ChangeFeed` does).
- `expiring_cursors = True` (implement `expire_tokens()`): once the vendor refuses every page token,
  cursor and sync token it issued, a later run still collects everything, and so does a run that
  resumes a killed one (its committed position refused): the listing starts its pass (or window)
  again, or lists everything again, and stores what it already holds once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from collector._base._exits import EXIT_OK
from collector._sources._changefeed import DELETED_ACTION
from collector._storage._store import CATALOG_NAME

from ._emulation import Emulation, Expectations
from ._harness import (
    StoreContents,
    collect,
    inspect_store,
    query_catalog,
    wait_until_committed,
)

ADVICE = ("A watermark finds only what the vendor lists under a recent time: use a change feed "
          "(collector.ChangeFeed), or re-list settled windows (collector.TimeWindows), and count against the "
          "vendor (Source.vendor_count). See the README's \"Toolkit: choosing a listing strategy\".")


class ListingChecks:
    """The checks the listing traits switch on (mixed into `SourceConformance`)."""

    if TYPE_CHECKING:
        config_for: Callable[..., Path]
        assert_complete: Callable[[StoreContents, Expectations], None]

    def test_back_dated_arrivals_are_found(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.back_dated:
            pytest.skip("the emulation declares no back-dated arrivals")
        config = self.config_for(tmp_path, emulation)
        first = collect(config)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]
        emulation.add_back_dated(3)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        contents = inspect_store(tmp_path / "store")
        missing = {tenant: len(ids - contents.recordings[tenant])
                   for tenant, ids in emulation.expected().recordings.items() if ids - contents.recordings[tenant]}
        assert not missing, (f"recordings listed under an old time were never collected "
                             f"(per tenant: {missing}). {ADVICE}")
        self.assert_complete(contents, emulation.expected())

    def test_deletions_keep_the_archive_and_are_recorded(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.change_feed:
            pytest.skip("the emulation declares no change feed reporting deletions")
        config = self.config_for(tmp_path, emulation)
        first = collect(config)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]
        deleted = emulation.delete(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        contents = inspect_store(tmp_path / "store")
        self.assert_complete(contents, emulation.expected())  # what was deleted at the vendor stays stored
        recorded: dict[str, set[str]] = defaultdict(set)
        for tenant, vendor_id in query_catalog(tmp_path / "store", "SELECT tenant, vendor_id FROM audit "
                                                                   "WHERE action=?", (DELETED_ACTION,)):
            recorded[tenant].add(vendor_id)
        for tenant, ids in deleted.items():
            assert ids and ids <= contents.recordings[tenant], (tenant, "the deleted recordings must stay stored")
            assert ids <= recorded[tenant], (
                f"{tenant}: the vendor reported {len(ids)} deletion(s) and {len(ids - recorded[tenant])} were not "
                f"recorded in the audit trail ({DELETED_ACTION}): use collector.ChangeFeed(deleted=...).")

    def test_expired_tokens_are_survived(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.expiring_cursors:
            pytest.skip("the emulation declares no expiring tokens")
        config = self.config_for(tmp_path, emulation)
        first = collect(config)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]
        emulation.add_recordings(3)
        emulation.expire_tokens()
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_a_killed_run_resumes_after_its_tokens_expired(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.expiring_cursors:
            pytest.skip("the emulation declares no expiring tokens")
        emulation.add_recordings(24)
        emulation.set_latency(0.02)
        config = self.config_for(tmp_path, emulation)
        _kill_while_listing(tmp_path, config)
        emulation.set_latency(0.0)
        emulation.expire_tokens()  # the position the killed run committed is refused now
        result = collect(config)
        assert result.exit_code == EXIT_OK, (
            "a run resuming from an expired position must start its pass again (paginate(expired=...)), not stop: "
            f"{[s.messages for s in result.summaries]}")
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())


def _kill_while_listing(tmp_path: Path, config: Path) -> None:
    """Run `collector run` in a subprocess and SIGKILL it as soon as it has committed a page."""
    log_file = tmp_path / "killed-run.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                   stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_until_committed(tmp_path / "store" / CATALOG_NAME, process, recordings=1)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, log_file.read_text()
