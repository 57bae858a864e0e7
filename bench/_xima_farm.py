"""A farm of emulated Xima tenants in a process of its own, for `bench_tenants.py`.

Run by the benchmark, never by hand: it starts `--tenants` Xima emulators (one server each, as
Xima gives each tenant its own host) with the given sliding-window limit and `--recordings`
recordings of real Opus audio each, prints one JSON line describing them, then for each line on
stdin prints one JSON line with what the servers saw since the last one (each tenant's request
arrival times, statuses and the most requests seen in any window); it stops when stdin closes.
Keeping the servers in their own
process keeps their CPU out of the collector's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from collector_xima import _emudata
from collector_xima.emulator import XimaEmulator, XimaTenant

SPAN = timedelta(hours=5)


def main() -> None:
    """Start the farm, describe it, wait, report what it saw."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--recordings", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--per-seconds", type=float, required=True)
    args = parser.parse_args()
    # Real Opus files, but 46 distinct ones (one per duration, 2.0-6.5 s) shared by every tenant:
    # encoding a file per recording would take the farm minutes to start at 500 tenants.
    _emudata.duration_ms = lambda tenant, index: 2000 + (index % 46) * 100
    _emudata.audio_seed = lambda tenant, index: f"bench:{index % 46}"
    _emudata.opus_audio = lru_cache(maxsize=None)(_emudata.opus_audio.__wrapped__)
    now = datetime.now(UTC)
    servers = []
    for number in range(args.tenants):
        tenant = XimaTenant(name=f"bench-{number:03d}", token="bench-" + os.urandom(8).hex(),
                            recordings=args.recordings, anchor=now - timedelta(minutes=5), span=SPAN)
        servers.append(XimaEmulator(tenant, rate_limit=(args.requests, args.per_seconds)).start())
    print(json.dumps({"now": now.isoformat(), "tenants": [
        {"name": s.tenant.name, "url": s.url, "token": s.tenant.token} for s in servers]}), flush=True)
    while sys.stdin.readline():  # each line asks for what was seen since the last one
        seen = {s.tenant.name: {
            "arrivals": [r.at for r in s.log], "statuses": [r.status for r in s.log],
            "kinds": [r.kind for r in s.log], "max_in_window": s.max_in_window(args.per_seconds),
        } for s in servers}
        for server in servers:
            server.log.clear()
        print(json.dumps(seen), flush=True)
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
