"""Benchmark: many Xima tenants on one machine, each tenant's allowance kept busy at once.

A farm of emulated Xima tenants runs in a process of its own (`_xima_farm.py`), each tenant with
the same sliding-window limit (3 requests per `--per-seconds`; Xima documents 10 s) and about
`--seconds` of pending work at that rate. One collection pass over all of them runs in this
process, exactly as `collector run` does, and prints:

- utilisation per tenant, median and min: (requests - limit) / (span x allowed rate), span from the
  tenant's first request's arrival to its last one's (a client that always has a request arriving
  the moment the window allows scores 100%); and the whole pass's: every tenant's requests over
  the pass's wall time;
- 429 answers, the most requests seen in any window of any tenant;
- the collector's CPU per request (this process's user + system time, all threads, verification
  included) and per stored recording; peak RSS and RSS per tenant over the interpreter's baseline;
- requests per stored recording.

Usage:
    .venv/bin/python bench/bench_tenants.py --tenants 50 --per-seconds 1 --seconds 30
    .venv/bin/python bench/bench_tenants.py --tenants 500 --per-seconds 10 --seconds 180
    .venv/bin/python bench/bench_tenants.py --tenants 50 --max-jobs 8     # the cap users may set
    .venv/bin/python bench/bench_tenants.py --tenants 50 --noop            # a second, no-op pass
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collector.testing import collect, inspect_store, write_config

SPAN = timedelta(hours=5)
WINDOW = timedelta(hours=1)
FARM = Path(__file__).with_name("_xima_farm.py")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _config(directory: Path, farm: dict[str, Any], args: argparse.Namespace) -> Path:
    now = datetime.fromisoformat(farm["now"])
    sources = []
    for tenant in farm["tenants"]:
        variable = f"BENCH_XIMA_TOKEN_{tenant['name'].replace('-', '_').upper()}"
        os.environ[variable] = tenant["token"]
        sources.append({
            "plugin": "xima", "tenant": tenant["name"], "base_url": tenant["url"], "token": {"env": variable},
            "start": (now - SPAN - timedelta(minutes=30)).isoformat(), "window": WINDOW.total_seconds(),
            "lookback": 7200, "settle_delay": 1800,
            "rate_limit": {"requests": args.requests, "per_seconds": args.per_seconds},
        })
    tables: dict[str, Any] = {"logging": {"level": "warning"}}
    if args.max_jobs:
        tables["scheduler"] = {"max_jobs": args.max_jobs}
    return write_config(directory, sources, **tables)


def _utilisation(seen: dict[str, Any], args: argparse.Namespace, wall: float) -> tuple[list[float], float]:
    rate = args.requests / args.per_seconds
    steady = []
    total = 0
    for tenant in seen.values():
        arrivals = sorted(tenant["arrivals"])
        total += len(arrivals)
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
        steady.append((len(arrivals) - args.requests) / (span * rate) if span > 0 else 0.0)
    whole = (total - args.requests * len(seen)) / (wall * rate * len(seen))
    return steady, whole


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3, help="requests allowed per window (Xima: 3)")
    parser.add_argument("--per-seconds", type=float, default=1.0, help="window length in seconds (Xima: 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="pending work per tenant, in seconds")
    parser.add_argument("--max-jobs", type=int, default=0, help="scheduler.max_jobs (default: not set)")
    parser.add_argument("--noop", action="store_true", help="measure a second pass with nothing new")
    args = parser.parse_args()
    rate = args.requests / args.per_seconds
    windows = int((SPAN + timedelta(minutes=30)) / WINDOW) + 2
    recordings = max(1, int(args.seconds * rate) - windows)
    print(f"Starting {args.tenants} emulated Xima tenants with {recordings} recordings of real Opus audio each ...",
          flush=True)
    farm_process = subprocess.Popen(
        [sys.executable, str(FARM), "--tenants", str(args.tenants), "--recordings", str(recordings),
         "--requests", str(args.requests), "--per-seconds", str(args.per_seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert farm_process.stdin is not None and farm_process.stdout is not None
    try:
        farm = json.loads(farm_process.stdout.readline())

        def seen_since_last() -> dict[str, Any]:
            farm_process.stdin.write("\n")  # type: ignore[union-attr]
            farm_process.stdin.flush()  # type: ignore[union-attr]
            return json.loads(farm_process.stdout.readline())  # type: ignore[union-attr, no-any-return]

        with tempfile.TemporaryDirectory() as directory:
            config = _config(Path(directory), farm, args)
            baseline = _current_rss_mb()
            if args.noop:
                collect(config)
                seen_since_last()
                print("(first pass done; what follows is a second pass with nothing new)")
            usage, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            result = collect(config)
            wall, after = time.monotonic() - began, resource.getrusage(resource.RUSAGE_SELF)
            user, system = after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime
            cpu = user + system
            contents = inspect_store(Path(directory) / "store")
        seen = seen_since_last()
    finally:
        farm_process.stdin.close()
        farm_process.wait(timeout=60)
    stored = sum(len(v) for v in contents.audio.values())
    print(f"limit: {args.requests} requests per {args.per_seconds:g} s per tenant; {args.tenants} tenants; "
          f"max_jobs {args.max_jobs or 'not set'}; exit code {result.exit_code}; {stored} audio files stored "
          f"({args.tenants * recordings} listed); problems: {len(contents.problems)}")
    requests = sum(len(t["arrivals"]) for t in seen.values())
    if args.noop:
        listing = max(len(t["arrivals"]) for t in seen.values())
        floor = max(0, listing - args.requests) / rate
        print(f"no-op pass: {wall:.2f} s wall, {cpu:.2f} s CPU ({user:.2f} user, {system:.2f} system; "
              "target <= 0.5 s); "
              f"{requests} listing requests, at most {listing} per tenant, which its limit allows in {floor:.1f} s "
              f"(target: wall <= that + 1 s)")
        return
    throttled = sum(t["statuses"].count(429) for t in seen.values())
    steady, whole = _utilisation(seen, args, wall)
    print(f"utilisation per tenant: median {statistics.median(steady):.1%}, min {min(steady):.1%} (target >= 98%); "
          f"whole pass {whole:.1%}")
    print(f"requests: {requests} in {wall:.1f} s; 429 answers: {throttled}; most in any window: "
          f"{max(t['max_in_window'] for t in seen.values())} (limit {args.requests})")
    print(f"collector CPU: {cpu:.2f} s ({user:.2f} user, {system:.2f} system) = {cpu / requests * 1000:.2f} ms "
          f"per request (target <= 2 ms), "
          f"{requests / max(stored, 1):.2f} requests per stored recording")
    peak = _rss_mb()
    print(f"peak RSS {peak:.0f} MB; over the {baseline:.0f} MB before the pass: "
          f"{(peak - baseline) / args.tenants:.2f} MB per tenant (target <= 0.2 MB)")


if __name__ == "__main__":
    main()
