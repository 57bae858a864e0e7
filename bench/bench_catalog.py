"""Benchmark: the catalog queries every tenant job makes, as the store grows from 20,000 to 2,000,000 rows.

For each size, one tenant's catalog holds that many recordings with their audio rows, all stored
but 64 still due (pending). Timed, as a job makes them, on the catalog as `collector run` opens it:

- claim: the next 32 due downloads (`Catalog.claim`), as a download worker asks;
- start of a tenant: restart point, queueing work a switched-off kind left missing, settling
  expired waits, the saved state (what `TenantJob.run` does before it lists anything);
- end of a tenant: what it leaves for later (`Catalog.leftovers`), which the summary reports.

Each figure is the median of 25 calls. The reference is the same queries at the smallest size, in
the same run: "flat" means the 2M figure is within a small factor of the 20k one. Before catalog
schema 4 the claim scanned every audio row of the tenant (2.8 ms at 20k, 32 ms at 200k) and the
start of a tenant did too (9.7 ms at 20k, 119 ms at 200k).

    .venv/bin/python bench/bench_catalog.py                     # 20k, 200k, 2M (about 3 minutes)
    .venv/bin/python bench/bench_catalog.py --sizes 20000,200000
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector import Recording
from collector.engine import AUDIO, Catalog, WorkPlan

PLAN = WorkPlan(audio=True, transcripts=False, media_wait=timedelta(days=7), transcript_wait=timedelta(days=7))
DUE = 64
PAGE = 10_000


def _build(path: Path, size: int) -> None:
    """A catalog of `size` recordings of one tenant, committed page by page as a sync does."""
    catalog = Catalog(path)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for first in range(0, size, PAGE):
        page = [Recording(source="bench", tenant="t", vendor_id=f"r{n:08d}", start=start + timedelta(seconds=n),
                          duration=60.0, raw={"id": n}) for n in range(first, min(size, first + PAGE))]
        catalog.commit_page("bench", "t", page, [], {"cursor": first}, PLAN)
    catalog.close()
    # Settle all but the newest DUE as stored (what the downloads would have done, without the files).
    with sqlite3.connect(path) as db:
        db.execute("UPDATE audio SET status='stored', due_at=NULL, path='x', sha256='0', size=1 "
                   "WHERE vendor_id < ?", (f"r{size - DUE:08d}",))


def _median_ms(call: Callable[[int], object], repeats: int = 25) -> float:
    times = []
    for number in range(repeats):
        started = time.perf_counter()
        call(number)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(size: int, directory: Path) -> dict[str, float]:
    """Median milliseconds of each query at `size` rows."""
    path = directory / f"catalog-{size}.sqlite"
    began = time.perf_counter()
    _build(path, size)
    built = time.perf_counter() - began
    catalog = Catalog(path)
    try:
        def start_of_tenant(_: int) -> None:
            catalog.restart_from("bench", "t")
            catalog.queue_missing_work("bench", "t", PLAN)
            catalog.expire_waits("bench", "t")
            catalog.load_state("bench", "t")

        figures = {
            "claim 32": _median_ms(lambda run: catalog.claim(AUDIO, "bench", "t", run_id=1000 + run, limit=32)),
            "start of a tenant": _median_ms(start_of_tenant),
            "end of a tenant": _median_ms(lambda _: catalog.leftovers("bench", "t")),
        }
    finally:
        catalog.close()
    print(f"  {size:>9,} rows (built in {built:.0f} s): "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in figures.items()), flush=True)
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000,2000000")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    print("Catalog queries per tenant job (median of 25):")
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as directory:
        results = {size: measure(size, Path(directory)) for size in sizes}
    smallest, largest = results[sizes[0]], results[sizes[-1]]
    for name in smallest:
        print(f"  {name}: {largest[name] / smallest[name]:.1f}x from {sizes[0]:,} to {sizes[-1]:,} rows "
              f"({smallest[name]:.2f} -> {largest[name]:.2f} ms; target: flat)")


if __name__ == "__main__":
    main()
