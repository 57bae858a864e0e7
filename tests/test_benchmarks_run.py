"""The benchmarks still run: each one at a tiny size, from the checkout, as `bench/README.md` says.

Nothing here is timed and no figure is checked: benchmarks are run on demand, and their targets live
in their own output (bench/README.md). This only keeps them from rotting: `bench_export.py` broke
unnoticed when the catalog gained its retention columns. Left out: `bench_cluster.py` (PostgreSQL and
S3 servers, and minutes), and `bench_download.py` where curl, its reference, is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

TINY = {
    "bench_batch.py": ["--recordings", "20"],
    "bench_catalog.py": ["--sizes", "300"],
    "bench_download.py": ["--megabytes", "16", "--rounds", "1"],
    "bench_evidence.py": ["--events", "2000", "--files", "2", "--appends", "200"],
    "bench_export.py": ["--sizes", "300"],
    "bench_focus.py": ["--recordings", "2000", "--rounds", "1"],
    "bench_startup.py": ["--rounds", "1"],
    "bench_tenants.py": ["--tenants", "3", "--seconds", "4", "--rounds", "1", "--noop"],
    "plugin_lines.py": [],
}
"""Each benchmark's arguments for a run of seconds."""


def test_every_benchmark_is_run_here() -> None:
    """A new benchmark joins this list (or the docstring says why not)."""
    scripts = {path.name for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert scripts - {"bench_cluster.py"} == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_runs_to_the_end(script: str, tmp_path: Path) -> None:
    """The benchmark runs at a tiny size, exits 0 and prints its figures."""
    if script == "bench_download.py" and shutil.which("curl") is None:
        pytest.skip("curl, the download benchmark's reference, is not installed")
    done = subprocess.run([sys.executable, str(BENCH / script), *TINY[script]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script} printed nothing"
