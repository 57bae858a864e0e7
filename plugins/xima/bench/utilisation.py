"""Benchmark: how much of one Xima tenant's rate-limit allowance a collection keeps busy.

Xima allows 3 requests per 10 s per tenant. This runs a real collection (metadata windows and
audio downloads over HTTP on 127.0.0.1) against one emulated tenant whose limit has the same
shape, scaled down (3 per 1 s by default), with about `--seconds` of pending work, and prints:

- steady utilisation: (requests - limit) / (span x allowed rate), where span runs from the first
  request's arrival to the last one's. A client that always has a request arriving the moment
  the sliding window allows it scores 100 %; the target is at least 95 %;
- whole-run utilisation: the same with the run's wall-clock time (start-up, the sweep's first
  answer and the final verification included) instead of the span;
- the most requests the emulator saw in any window (must not exceed the limit) and its 429s.

Usage: .venv/bin/python plugins/xima/bench/utilisation.py [--requests 3] [--per-seconds 1] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.testing import collect, inspect_store, write_config
from collector_xima.emulator import XimaEmulator, XimaTenant

SPAN = timedelta(hours=5)
WINDOW = timedelta(hours=1)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3, help="requests allowed per window (Xima: 3)")
    parser.add_argument("--per-seconds", type=float, default=1.0, help="window length in seconds (Xima: 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="pending work, in seconds at the allowed rate")
    args = parser.parse_args()
    rate = args.requests / args.per_seconds
    windows = int((SPAN + timedelta(minutes=30)) / WINDOW) + 2
    recordings = max(1, int(args.seconds * rate) - windows)

    now = datetime.now(UTC)
    tenant = XimaTenant(name="bench-ns", token="bench-" + os.urandom(8).hex(), recordings=recordings,
                        anchor=now - timedelta(minutes=5), span=SPAN)
    print(f"Preparing {recordings} recordings of real Opus audio ...", flush=True)
    emulator = XimaEmulator(tenant, rate_limit=(args.requests, args.per_seconds)).start()
    os.environ["BENCH_XIMA_TOKEN"] = tenant.token
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = write_config(Path(directory), [{
                "plugin": "xima", "tenant": "bench", "base_url": emulator.url, "token": {"env": "BENCH_XIMA_TOKEN"},
                "start": (now - SPAN - timedelta(minutes=30)).isoformat(), "window": WINDOW.total_seconds(),
                "lookback": 7200, "settle_delay": 1800,
                "rate_limit": {"requests": args.requests, "per_seconds": args.per_seconds},
            }])
            began = time.monotonic()
            result = collect(config)
            wall = time.monotonic() - began
            contents = inspect_store(Path(directory) / "store")
        arrivals = sorted(r.at for r in emulator.log)
        count = len(arrivals)
        span = arrivals[-1] - arrivals[0] if count > 1 else 0.0
        steady = (count - args.requests) / (span * rate) if span > 0 else 0.0
        throttled = sum(1 for r in emulator.log if r.status == 429)
        print(f"limit: {args.requests} requests per {args.per_seconds:g} s (Xima documents 3 per 10 s); "
              f"exit code {result.exit_code}; {len(contents.audio['bench'])}/{recordings} audio files stored")
        print(f"requests: {count} ({emulator.count(kind='metadata')} metadata, {emulator.count(kind='audio')} audio) "
              f"over {span:.2f} s from first to last arrival; run took {wall:.2f} s")
        print(f"steady utilisation: {steady:.1%} of the allowed rate (target >= 95%)")
        print(f"whole-run utilisation: {(count - args.requests) / (wall * rate):.1%}")
        print(f"most requests in any {args.per_seconds:g} s window: {emulator.max_in_window(args.per_seconds)} "
              f"(limit {args.requests}); 429 answers: {throttled}")
    finally:
        emulator.stop()
        os.environ.pop("BENCH_XIMA_TOKEN", None)


if __name__ == "__main__":
    main()
