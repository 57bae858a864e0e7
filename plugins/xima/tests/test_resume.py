"""A run killed with SIGKILL in the middle of its window sweep resumes: complete, no duplicates, no partial files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from collector.testing import collect, inspect_store, query_catalog, sync_state, wait_until_committed
from collector_xima.testing import XimaEmulation, by_tenant

CATALOG = "catalog.sqlite"


def test_a_run_killed_mid_sweep_resumes_complete(tmp_path: Path, xima: XimaEmulation) -> None:
    xima.set_latency(0.03)
    config = xima.config(tmp_path)
    with (tmp_path / "killed.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                   stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_until_committed(tmp_path / "store" / CATALOG, process, recordings=6)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
    # The watermark never runs ahead of what is committed: every recording that starts before it is held.
    checked = 0
    for name, emulator in xima.emulators.items():
        state = sync_state(tmp_path / "store", "xima", name)
        if state is None or state["watermark"] is None:
            continue
        watermark = datetime.fromisoformat(state["watermark"].replace("Z", "+00:00")).timestamp() * 1000
        held = {row[0] for row in query_catalog(tmp_path / "store", "SELECT vendor_id FROM recordings WHERE tenant=?",
                                               (name,))}
        before = {item["recordingKey"] for item in emulator.recording_items() if item["startTime"] < watermark}
        assert before <= held, name
        checked += 1
    assert checked, "the killed run had committed at least one settled window"
    xima.set_latency(0.0)
    result = collect(config)
    assert result.exit_code == 0, [s.messages for s in result.summaries]
    contents = inspect_store(tmp_path / "store")
    assert not contents.problems, contents.problems  # no partial or orphan files, no scratch left
    expected = xima.expected()
    assert dict(contents.recordings) == expected.recordings and dict(contents.audio) == expected.audio
    again = by_tenant(collect(config))
    assert all(summary.nothing_new for summary in again.values())
