"""Benchmark: a pass of rate-limited tenants on 1, 2 and 4 `collector worker` processes, and the
scale-out backends (PostgreSQL + S3) beside the embedded ones (SQLite + files).

Real servers throughout: a PostgreSQL and a SeaweedFS started here on loopback, the workers as
processes (`collector worker`), and a farm of emulated Xima tenants in a process of its own
(`_xima_farm.py`). Printed, for each worker count:

- uncapped (`tenants_per_worker` >= the tenants): the pass's wall time from `collector enqueue` to
  its last tenant's end, beside the allowance-bound minimum (the longest tenant's requests at its
  limit, first request to last: floor((n - 1) / limit) x window); each tenant's own span beside its
  own minimum (median and worst, target <= 1.05); 429 answers (target 0);
- capped at `--cap` tenants per worker (so one worker alone cannot hold them all): the wall time,
  which should fall near-linearly with the workers (rounds = tenants / (cap x workers)).

Then, in the same run, metadata sync (recordings/s, audio off) and downloads (MB/s) of one pass
over a farm with no effective limit, into SQLite + a folder and into PostgreSQL + S3.

Usage:
    .venv/bin/python bench/bench_cluster.py                       # 200 tenants, 3 requests per 5 s each
    .venv/bin/python bench/bench_cluster.py --tenants 40 --workers 1 2 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collector.testing import (
    PostgresServer,
    S3Server,
    WorkerProcesses,
    collect,
    inspect_store,
    query_catalog,
    scale_out,
    write_config,
)

FARM = Path(__file__).with_name("_xima_farm.py")
SPAN = timedelta(hours=5)
WINDOW = timedelta(hours=1)


@contextmanager
def farm(tenants: int, recordings: int, requests: int, per_seconds: float) -> Iterator[tuple[dict[str, Any], Any]]:
    """The farm's description, and a function returning what its tenants saw since the last call."""
    process = subprocess.Popen(
        [sys.executable, str(FARM), "--tenants", str(tenants), "--recordings", str(recordings),
         "--requests", str(requests), "--per-seconds", str(per_seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None

    def seen() -> dict[str, Any]:
        process.stdin.write("\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(process.stdout.readline())  # type: ignore[union-attr, no-any-return]

    try:
        yield json.loads(process.stdout.readline()), seen
    finally:
        process.stdin.close()
        process.wait(timeout=120)


def sources(description: dict[str, Any], requests: int, per_seconds: float, env: dict[str, str],
            audio: bool = True) -> list[dict[str, Any]]:
    """The [[sources]] tables for the farm's tenants (tokens through `env`)."""
    now = datetime.fromisoformat(description["now"])
    tables = []
    for tenant in description["tenants"]:
        variable = f"BENCH_TOKEN_{tenant['name'].replace('-', '_').upper()}"
        env[variable] = os.environ[variable] = tenant["token"]
        tables.append({"plugin": "xima", "tenant": tenant["name"], "base_url": tenant["url"],
                       "token": {"env": variable}, "start": (now - SPAN - timedelta(minutes=30)).isoformat(),
                       "window": WINDOW.total_seconds(), "lookback": 7200, "settle_delay": 1800, "audio": audio,
                       "rate_limit": {"requests": requests, "per_seconds": per_seconds}})
    return tables


def minimum_span(count: int, requests: int, per_seconds: float) -> float:
    """The shortest first-to-last span `count` requests can have under `requests` per `per_seconds`."""
    return ((count - 1) // requests) * per_seconds


def cluster_pass(directory: Path, description: dict[str, Any], seen: Any, args: argparse.Namespace,
                 postgres: PostgresServer, s3: S3Server, workers: int, cap: int) -> dict[str, Any]:
    """One pass on `workers` workers of at most `cap` tenants each; what it measured."""
    env: dict[str, str] = {}
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(directory, sources(description, args.requests, args.per_seconds, env),
                              cluster={"tenants_per_worker": cap, "schedule": False, "poll_seconds": 0.2},
                              logging={"level": "warning"})
        env.update({name: os.environ[name] for name in ("COLLECTOR_TEST_S3_KEY", "COLLECTOR_TEST_S3_SECRET")})
        seen()  # forget what earlier passes sent
        with WorkerProcesses(config, workers, env=env) as processes:
            time.sleep(3.0)  # the workers are up and polling: the pass measures collection, not start-up
            began = time.monotonic()
            done = processes.enqueue("--wait", "--json", timeout=3600)
            wall = time.monotonic() - began
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:], processes.logs()[-4000:], file=sys.stderr)
        stored = query_catalog(directory / "store", "SELECT COUNT(*) FROM audio WHERE status='stored'")[0][0]
    observed = seen()
    ratios, minimums, throttled = [], [], 0
    for tenant in observed.values():
        arrivals = sorted(tenant["arrivals"])
        throttled += tenant["statuses"].count(429)
        least = minimum_span(len(arrivals), args.requests, args.per_seconds)
        minimums.append(least)
        if least > 0:
            ratios.append((arrivals[-1] - arrivals[0]) / least)
    rounds = math.ceil(len(observed) / (cap * workers))
    return {"workers": workers, "cap": cap, "exit": done.returncode, "wall": wall, "stored": stored,
            "bound": max(minimums) * rounds, "median": statistics.median(ratios), "worst": max(ratios),
            "throttled": throttled, "rounds": rounds}


def backends(args: argparse.Namespace, postgres: PostgresServer, s3: S3Server, root: Path) -> None:
    """Metadata sync and downloads into SQLite + files and PostgreSQL + S3, side by side."""
    print(f"\nBackends: one pass over {args.compare_tenants} tenants x {args.compare_recordings} recordings, "
          "200 requests/s allowed each, in this process (as `collector run`)")
    # A limit well above what the pass reaches (a ledger's work grows with its slots, so not 10,000).
    with farm(args.compare_tenants, args.compare_recordings, 200, 1.0) as (description, seen):
        recordings = args.compare_tenants * args.compare_recordings
        for name, servers in (("SQLite + files", {}), ("PostgreSQL + S3", {"postgres": postgres, "s3": s3})):
            figures = []
            for audio in (False, True):
                directory = root / f"{'pg' if servers else 'sqlite'}-{'audio' if audio else 'meta'}"
                env: dict[str, str] = {}
                with scale_out(**servers):  # type: ignore[arg-type]
                    config = write_config(directory, sources(description, 200, 1.0, env, audio=audio),
                                          logging={"level": "warning"})
                    began = time.monotonic()
                    result = collect(config)
                    wall = time.monotonic() - began
                    contents = inspect_store(directory / "store")
                    seen()
                size = sum(row[0] or 0 for row in query_catalog(directory / "store", "SELECT size FROM audio"))
                assert result.exit_code == 0 and not contents.problems, (result.exit_code, contents.problems[:3])
                figures.append(f"{recordings / wall:,.0f} recordings/s" if not audio
                               else f"{size / wall / 1e6:.1f} MB/s ({size / 1e6:.0f} MB, {wall:.1f} s)")
            print(f"  {name:16} metadata sync {figures[0]:>20}; with downloads {figures[1]}")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3, help="requests allowed per window, per tenant")
    parser.add_argument("--per-seconds", type=float, default=5.0, help="the window, in seconds")
    parser.add_argument("--seconds", type=float, default=40.0, help="pending work per tenant at its limit, in seconds")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cap", type=int, default=50, help="tenants_per_worker in the capped passes")
    parser.add_argument("--uncapped-only", action="store_true", help="skip the capped passes and the backends")
    parser.add_argument("--compare-tenants", type=int, default=10)
    parser.add_argument("--compare-recordings", type=int, default=300)
    parser.add_argument("--backends-only", action="store_true", help="only the SQLite + files vs PostgreSQL + S3 pass")
    args = parser.parse_args()
    windows = int((SPAN + timedelta(minutes=30)) / WINDOW) + 2
    recordings = max(1, int(args.seconds * args.requests / args.per_seconds) - windows)
    print(f"{os.cpu_count()} cores; {args.tenants} emulated Xima tenants, {recordings} recordings each, "
          f"{args.requests} requests per {args.per_seconds:g} s per tenant", flush=True)
    with tempfile.TemporaryDirectory() as temporary, PostgresServer() as postgres, S3Server() as s3:
        root = Path(temporary)
        if args.backends_only:
            backends(args, postgres, s3, root)
            return
        with farm(args.tenants, recordings, args.requests, args.per_seconds) as (description, seen):
            print(f"{'workers':>7} {'cap':>5} {'rounds':>6} {'wall s':>8} {'bound s':>8} {'wall/bound':>10} "
                  f"{'tenant span/min (median, worst)':>32} {'429':>5} {'stored':>7} exit")
            for cap in (max(args.tenants, 1),) if args.uncapped_only else (max(args.tenants, 1), args.cap):
                for workers in args.workers:
                    r = cluster_pass(root / f"w{workers}-c{cap}", description, seen, args, postgres, s3, workers, cap)
                    print(f"{r['workers']:>7} {r['cap']:>5} {r['rounds']:>6} {r['wall']:>8.1f} {r['bound']:>8.1f} "
                          f"{r['wall'] / r['bound']:>10.3f} {r['median']:>21.3f}, {r['worst']:.3f} "
                          f"{r['throttled']:>5} {r['stored']:>7} {r['exit']}", flush=True)
        if not args.uncapped_only:
            backends(args, postgres, s3, root)


if __name__ == "__main__":
    main()
