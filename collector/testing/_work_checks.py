"""The conformance suite's new kinds of work: children that come later, and batch downloads.

`WorkShapes` (in `_emulation`) holds what an emulation declares (a base of `Emulation`),
`WorkShapeChecks` the checks the declarations switch on (a base of `SourceConformance`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from collector._base._exits import EXIT_OK
from collector._storage._store import CATALOG_NAME

from ._emulation import Emulation, Expectations
from ._harness import (
    StoreContents,
    collect,
    inspect_store,
    query_catalog,
    wait_until_committed,
)

if TYPE_CHECKING:
    from collections.abc import Callable


class WorkShapeChecks:
    """The checks the declarations of `WorkShapes` switch on (`SourceConformance` inherits them)."""

    if TYPE_CHECKING:  # provided by `SourceConformance`, which inherits these checks
        config_for: Callable[..., Path]
        assert_complete: Callable[[StoreContents, Expectations], None]

    def test_children_attached_later_are_collected(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.late_children:
            pytest.skip("the emulation declares no parents whose children come later")
        config = self.config_for(tmp_path, emulation, revisit_interval=0)
        collect(config)
        emulation.add_open_parents(2)
        first = collect(config)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]  # parents to revisit are normal
        emulation.attach_children_later(3)
        second = collect(config)
        assert second.exit_code == EXIT_OK, [s.messages for s in second.summaries]
        assert all(s.new_recordings >= 3 for s in second.summaries), (
            "children attached after their parent was listed were not collected: the plugin must return a "
            "Revisit for a parent whose children are still to come", [s.as_dict() for s in second.summaries])
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        pending = query_catalog(tmp_path / "store", "SELECT COUNT(*) FROM revisits WHERE status='pending'")
        assert pending[0][0] == 0, "parents whose children all came are still visited"
        third = collect(config)
        assert third.exit_code == EXIT_OK and all(s.nothing_new for s in third.summaries)

    def test_a_run_killed_while_visiting_parents_resumes(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.late_children:
            pytest.skip("the emulation declares no parents whose children come later")
        config = self.config_for(tmp_path, emulation, revisit_interval=0)
        emulation.add_open_parents(4)
        collect(config)
        held = len(query_catalog(tmp_path / "store", "SELECT vendor_id FROM recordings"))
        emulation.attach_children_later(8)
        emulation.set_latency(0.02)
        _kill_when_committed(tmp_path, config, recordings=held + 1)
        emulation.set_latency(0.0)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_batch_downloads_store_every_file_once(self, tmp_path: Path, emulation: Emulation) -> None:
        size = emulation.batch_downloads
        if size is None:
            pytest.skip("the emulation declares no batch downloads")
        emulation.add_recordings(size + 1)  # more than one batch per tenant
        result = collect(self.config_for(tmp_path, emulation, download_workers=2))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        largest = emulation.largest_batch()
        assert largest <= size, f"a batch of {largest} recordings was asked for; the vendor takes at most {size}"
        assert size < 2 or largest >= 2, "the recordings were asked for one at a time, not in batches"
        bodies = emulation.audio_bodies()
        assert len(bodies) == len(set(bodies)), "an audio file was downloaded more than once"
        assert emulation.throttled() == 0

    def test_a_failed_item_does_not_fail_its_batch(self, tmp_path: Path, emulation: Emulation) -> None:
        if emulation.batch_downloads is None:
            pytest.skip("the emulation declares no batch downloads")
        config = self.config_for(tmp_path, emulation)
        emulation.fail_in_next_batch(1)
        first = collect(config)
        expected = emulation.expected()
        for summary in first.summaries:
            assert summary.audio_files == len(expected.audio[summary.tenant]) - 1, summary.as_dict()
            assert summary.deferred + summary.waiting == 1, summary.as_dict()
        second = collect(config)
        assert second.exit_code == EXIT_OK, [s.messages for s in second.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), expected)

    def test_expired_batch_urls_are_renewed(self, tmp_path: Path, emulation: Emulation) -> None:
        if emulation.batch_downloads is None:
            pytest.skip("the emulation declares no batch downloads")
        emulation.expire_batch_urls(2)
        result = collect(self.config_for(tmp_path, emulation))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        assert emulation.largest_batch() <= emulation.batch_downloads


def _kill_when_committed(tmp_path: Path, config: Path, *, recordings: int) -> None:
    """Run `collector run` in a subprocess and SIGKILL it once the store holds `recordings` recordings."""
    log_file = tmp_path / "killed-run.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                   stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_until_committed(tmp_path / "store" / CATALOG_NAME, process, recordings=recordings)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, log_file.read_text()

# -- end of the new kinds of work ---------------------------------------------------------------------------
