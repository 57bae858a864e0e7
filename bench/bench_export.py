"""Benchmark: `collector export` keeps memory flat however many recordings the catalog holds.

Builds catalogs of 100,000 and 1,000,000 recordings (with their audio rows), then runs
`collector export` on each in a child process and prints its peak resident memory and rate.

    .venv/bin/python bench/bench_export.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from collector.engine import cli


def build(store: Path, count: int) -> None:
    """A store whose catalog holds `count` recordings, written by the collector's own schema."""
    store.mkdir(parents=True)
    (store.parent / "collector.toml").write_text(f'[store]\npath = "{store}"\n')
    assert cli(["--config", str(store.parent / "collector.toml"), "retry"]) == 0  # creates the catalog, empty
    db = sqlite3.connect(store / "catalog.sqlite")
    stamp = "2026-01-01T00:00:00.000000Z"
    rows = ((f"id-{n:08d}", f"2026-01-{1 + n % 28:02d}T00:00:00.000000Z") for n in range(count))
    # Columns named: later schema versions add columns (e.g. the retention's), which take their defaults.
    db.executemany("INSERT INTO recordings (source, tenant, vendor_id, call_id, start_utc, end_utc, duration, "
                   "direction, parties, tags, media, media_size, extras, raw, first_seen, updated) "
                   "VALUES ('bench','t',?,NULL,?,NULL,60.0,'inbound','[]','[]','available',"
                   f"NULL,'{{}}','{{\"n\":1}}','{stamp}','{stamp}')", rows)
    db.execute("INSERT INTO audio (source, tenant, vendor_id, status, path, sha256, size, updated) SELECT source, "
               "tenant, vendor_id, 'stored', 'bench/t/' || vendor_id || '.wav', printf('%064d', 0), 1000, ? "
               "FROM recordings", (stamp,))
    db.commit()
    db.close()


def main() -> None:
    """Print peak memory and rate per catalog size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    print(f"export benchmark; {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            store = Path(tmp) / str(size) / "store"
            build(store, size)
            started = time.perf_counter()
            with open(os.devnull, "w") as sink:
                process = subprocess.Popen([sys.executable, "-m", "collector", "--config",
                                            str(store.parent / "collector.toml"), "export"], stdout=sink)
                _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            print(f"  {size:>9,} recordings: exit {os.waitstatus_to_exitcode(status)}, {size / seconds:,.0f} rows/s, "
                  f"peak RSS {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
