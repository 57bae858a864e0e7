"""Two collector processes on one machine using the same Xima tenant share its rate limit.

Xima counts requests per tenant, whoever sends them. Each run here has its own store; the limit
is kept in the machine's rate-limit ledger (the suite gives each test its own directory for it),
so together the runs stay within 3 requests per window and the vendor never answers 429.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collector.testing import collect, inspect_store
from collector_xima.testing import XimaEmulation

WINDOW = 0.3


def _run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("second_host", ["127.0.0.1", "localhost"])
def test_two_processes_with_different_stores_never_exceed_the_tenant_limit_together(
        tmp_path: Path, second_host: str) -> None:
    """However the second entry writes the tenant's host (81 x 429 when `localhost` keyed a limit of its own)."""
    emulation = XimaEmulation(tenants=1, recordings=15, rate_limit=(3, WINDOW))
    try:
        configs = [emulation.config(tmp_path / name) for name in ("first", "second")]
        configs[1].write_text(configs[1].read_text().replace("http://127.0.0.1:", f"http://{second_host}:"))
        assert f"http://{second_host}:" in configs[1].read_text()
        runs = [_run(config) for config in configs]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        emulator = next(iter(emulation.emulators.values()))
        assert emulator.count(status=429) == 0, "the two runs together went over the tenant's limit"
        assert emulator.max_in_window(WINDOW) == 3
        expected = emulation.expected().audio
        for name in ("first", "second"):
            assert inspect_store(tmp_path / name / "store").audio == expected
    finally:
        emulation.close()


def test_a_run_right_after_another_waits_for_the_windows_the_first_one_used(tmp_path: Path) -> None:
    emulation = XimaEmulation(tenants=1, recordings=6, rate_limit=(3, WINDOW))
    try:
        for name in ("first", "second"):
            assert collect(emulation.config(tmp_path / name)).exit_code == 0
        emulator = next(iter(emulation.emulators.values()))
        assert emulator.count(status=429) == 0
        assert emulator.max_in_window(WINDOW) == 3
    finally:
        emulation.close()
