"""Benchmark: many Xima tenants on one machine, each tenant's allowance kept busy at once, beside a
bare async client doing the same work in the same run.

A farm of emulated Xima tenants runs in a process of its own (`_xima_farm.py`), each tenant with
the same sliding-window limit (3 requests per `--per-seconds`; Xima documents 10 s) and about
`--seconds` of pending work at that rate. Each round, interleaved, against the same farm:

1. **reference**: a bare async httpx client (`bare_pass` below) lists the same windows and
   downloads every recording (written to a file and hashed, not verified, not cataloged), one
   client per tenant, up to the limit in flight, each slot free again one window after its
   response was read (so it can never exceed the limit whatever the latency);
2. **collector**: one collection pass over all tenants into a new store, exactly as `collector
   run` does (`collector.testing.collect`), in a process of its own; its CPU is the pass's own
   (user + system, all threads, verification included; start-up excluded);
3. **no-op pass** (`--noop`): `collector run` again over the store 2 just filled: nothing is
   new. Measured as the command (a process: start-up included, `wait4`'s CPU, bytecode caches
   present as in an installed collector) and the number of listing requests the farm saw.
With `--baseline DIR` (another commit's source tree, see `_common.py`) 2 and 3 are also run from
it, in the same rounds: a before/after in one run.

The order of the passes rotates from round to round. Figures per pass (median of the rounds,
then min-max):
- utilisation per tenant: (requests - limit) / (span x allowed rate), span from the tenant's
  first request's arrival to its last one's: the performance issue's figure, printed with what a
  perfect client (every request arriving the moment its window allows) would score for the same
  number of requests: below 100% whenever the tenant's last window is not full (98.25% for the
  59 requests of the 1 s run). And the **pace**: the span a perfect client needs for the same
  requests over the span taken (100% for a perfect client whatever the count), with how much
  longer than a window each slot's cycle took. Median and min over tenants; and the whole
  pass's utilisation: every tenant's requests over the pass's wall time (start-up included);
- 429 answers, the most requests seen in any window of any tenant;
- CPU per request, with the kernel's part of it (system time: fsyncs, file creation, thread
  wake-ups); peak RSS of the pass's process.

Usage:
    .venv/bin/python bench/bench_tenants.py --tenants 50 --per-seconds 1 --seconds 20 --noop
    .venv/bin/python bench/bench_tenants.py --tenants 500 --per-seconds 10 --seconds 180 --rounds 1
    .venv/bin/python bench/bench_tenants.py --tenants 50 --max-jobs 8     # the cap users may set
    .venv/bin/python bench/bench_tenants.py --tenants 50 --noop --baseline /tmp/perf-base
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import baseline_env, header, load, spread

SPAN = timedelta(hours=5)
WINDOW = timedelta(hours=1)
HERE = Path(__file__).resolve().parent
FARM = HERE / "_xima_farm.py"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start(farm: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(farm["now"]) - SPAN - timedelta(minutes=30)


def _config(directory: Path, farm: dict[str, Any], args: argparse.Namespace) -> Path:
    from collector.testing import write_config

    sources = []
    for tenant in farm["tenants"]:
        variable = f"BENCH_XIMA_TOKEN_{tenant['name'].replace('-', '_').upper()}"
        sources.append({
            "plugin": "xima", "tenant": tenant["name"], "base_url": tenant["url"], "token": {"env": variable},
            "start": _start(farm).isoformat(), "window": WINDOW.total_seconds(),
            "lookback": 7200, "settle_delay": 1800,
            "rate_limit": {"requests": args.requests, "per_seconds": args.per_seconds},
        })
    tables: dict[str, Any] = {"logging": {"level": "warning"}}
    if args.max_jobs:
        tables["scheduler"] = {"max_jobs": args.max_jobs}
    return write_config(directory, sources, **tables)


def _tokens_env(farm: dict[str, Any]) -> dict[str, str]:
    return {f"BENCH_XIMA_TOKEN_{t['name'].replace('-', '_').upper()}": t["token"] for t in farm["tenants"]}


# -- the reference: a bare async client ------------------------------------------------------------


async def _bare_tenant(tenant: dict[str, Any], start: datetime, end: datetime, requests: int, per_seconds: float,
                       out: Path) -> dict[str, int]:
    """List every hour window of one tenant, then download every recording it lists; <= `requests` slots,
    each free again `per_seconds` after its response was read."""
    import httpx

    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(requests)
    counts = {"requests": 0, "throttled": 0, "stored": 0, "bytes": 0}
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    cursor = start.replace(minute=0, second=0, microsecond=0)
    while cursor < end:
        queue.put_nowait(("list", cursor.isoformat(timespec="milliseconds")))
        cursor += WINDOW
    pending = [queue.qsize()]
    headers = {"Authorization": f"Bearer {tenant['token']}"}

    async with httpx.AsyncClient(base_url=tenant["url"], headers=headers, timeout=60) as client:

        async def one(kind: str, value: str) -> bool:
            await slots.acquire()
            try:
                counts["requests"] += 1
                if kind == "list":
                    low = datetime.fromisoformat(value)
                    high = (low + WINDOW - timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
                    response = await client.get("/rest/api/v2/call-recording-info",
                                                params={"startTime": value, "endTime": high})
                    if response.status_code == 429:
                        counts["throttled"] += 1
                        return False
                    response.raise_for_status()
                    for call in response.json():
                        for item in call.get("recordings", []):
                            queue.put_nowait(("audio", f"{item['tenantName']}/{item['recordingKey']}"))
                            pending[0] += 1
                    return True
                digest = hashlib.sha256()
                async with client.stream("GET", f"/rest/api/v2/recordings/{value}/audio") as response:
                    if response.status_code == 429:
                        counts["throttled"] += 1
                        return False
                    response.raise_for_status()
                    fd = os.open(out / value.replace("/", "_"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    try:
                        async for chunk in response.aiter_bytes():
                            digest.update(chunk)
                            os.write(fd, chunk)
                            counts["bytes"] += len(chunk)
                    finally:
                        os.close(fd)
                counts["stored"] += 1
                return True
            finally:
                loop.call_later(per_seconds, slots.release)

        async def worker() -> None:
            while pending[0]:
                try:
                    kind, value = queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)
                    continue
                if await one(kind, value):
                    pending[0] -= 1
                else:
                    queue.put_nowait((kind, value))

        await asyncio.gather(*(worker() for _ in range(requests)))
    return counts


def bare_pass(farm: dict[str, Any], requests: int, per_seconds: float) -> dict[str, Any]:
    """The reference pass over every tenant of the farm; its own CPU, wall time and peak RSS."""
    import httpx  # noqa: F401 - imported before the clock starts, as the collector's is

    async def everything(out: Path) -> list[dict[str, int]]:
        start, end = _start(farm), datetime.now(UTC)
        return await asyncio.gather(*(_bare_tenant(t, start, end, requests, per_seconds, out) for t in farm["tenants"]))

    with tempfile.TemporaryDirectory(prefix="bench-bare-") as out:
        usage, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        counts = asyncio.run(everything(Path(out)))
        wall, after = time.monotonic() - began, resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "user": after.ru_utime - usage.ru_utime, "system": after.ru_stime - usage.ru_stime,
            "peak_rss": _peak_rss_mb(), "stored": sum(c["stored"] for c in counts), "exit_code": 0}


def collector_pass(config: Path) -> dict[str, Any]:
    """One collection pass in this process, as `collector run` does; its own CPU, wall and peak RSS."""
    from collector.testing import collect, inspect_store

    usage, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    result = collect(config)
    wall, after = time.monotonic() - began, resource.getrusage(resource.RUSAGE_SELF)
    peak = _peak_rss_mb()
    contents = inspect_store(config.parent / "store")
    return {"wall": wall, "user": after.ru_utime - usage.ru_utime, "system": after.ru_stime - usage.ru_stime,
            "peak_rss": peak, "stored": sum(len(v) for v in contents.audio.values()),
            "problems": len(contents.problems), "exit_code": result.exit_code}


# -- the parent: farm, rounds, figures ---------------------------------------------------------------


def _utilisation(seen: dict[str, Any], args: argparse.Namespace, wall: float) -> dict[str, Any]:
    """Each tenant's use of its allowance, three ways, and the whole pass's.

    With n requests, a limit of L per window W and the span from the first arrival to the last:
    - `allowance`: (n - L) / (span x L/W), the performance issue's figure. A perfect client (each
      request arriving the moment its window allows) does not score 100% on it: its last window
      holds only m = n - L(K-1) of L requests (K windows), so it scores 1 - (L - m)/(L(K-1)),
      98.25% for n = 59, L = 3 (the 1 s run below), 97.0% for n = 35. `ceiling` is that score;
    - `pace`: the span a perfect client needs for the same n requests, (ceil(n/L) - 1) x W, over
      the span taken: 100% for a perfect client whatever n;
    - `excess`: how much longer than W each of a slot's cycles took, on average (seconds).
    """
    limit, window = args.requests, args.per_seconds
    rate = limit / window
    figures: dict[str, list[float]] = {"allowance": [], "ceiling": [], "pace": [], "excess": []}
    total = 0
    for tenant in seen.values():
        arrivals = sorted(tenant["arrivals"])
        n = len(arrivals)
        total += n
        span = arrivals[-1] - arrivals[0] if n > 1 else 0.0
        cycles = -(-n // limit) - 1  # ceil(n / L) - 1
        if span <= 0 or cycles <= 0:
            continue
        figures["allowance"].append((n - limit) / (span * rate))
        figures["ceiling"].append((n - limit) / (cycles * limit))
        figures["pace"].append(cycles * window / span)
        figures["excess"].append(span / cycles - window)
    whole = (total - limit * len(seen)) / (wall * rate * len(seen))
    return {**figures, "whole": whole}


def _child(mode: str, path: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--child-path", str(path),
               "--requests", str(args.requests), "--per-seconds", str(args.per_seconds)]
    done = subprocess.run(command, env=env, cwd=path.parent, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} pass failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _with_bytecode(env: dict[str, str], trees: list[Path]) -> dict[str, str]:
    """`env` for the no-op pass, run as an installed collector runs: with bytecode caches (pip
    compiles them at install). This environment sets PYTHONDONTWRITEBYTECODE, so an editable
    install (the checkout, or a `--baseline` tree) compiled every module from source on every pass:
    0.07 s of its CPU. The caches are written once here, as `bench_startup.py` measures too."""
    env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    folders = [str(tree / part) for tree in trees for part in ("collector", "plugins")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], env=env, stdout=subprocess.DEVNULL,
                   check=False)
    return env


def _command(config: Path, env: dict[str, str]) -> dict[str, Any]:
    """`collector run` as a process: wall, CPU (its own, start-up included), peak RSS, exit code."""
    began = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"], env=env,
                               cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return {"wall": time.monotonic() - began, "user": usage.ru_utime, "system": usage.ru_stime,
            "peak_rss": usage.ru_maxrss / 1024, "exit_code": os.waitstatus_to_exitcode(status)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3, help="requests allowed per window (Xima: 3)")
    parser.add_argument("--per-seconds", type=float, default=1.0, help="window length in seconds (Xima: 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="pending work per tenant, in seconds")
    parser.add_argument("--max-jobs", type=int, default=0, help="scheduler.max_jobs (default: not set)")
    parser.add_argument("--noop", action="store_true", help="also a second pass with nothing new, as a command")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare client (the reference)")
    parser.add_argument("--baseline", type=Path, help="also run another commit's source tree (see _common.py)")
    parser.add_argument("--child", choices=("bare", "collect"), help=argparse.SUPPRESS)
    parser.add_argument("--child-path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bare":
        print(json.dumps(bare_pass(json.loads(args.child_path.read_text()), args.requests, args.per_seconds)))
        return
    if args.child == "collect":
        print(json.dumps(collector_pass(args.child_path)))
        return

    rate = args.requests / args.per_seconds
    windows = int((SPAN + timedelta(minutes=30)) / WINDOW) + 2
    recordings = max(1, int(args.seconds * rate) - windows)
    header(f"{args.tenants} emulated Xima tenants, {recordings} recordings of real Opus audio each; limit "
           f"{args.requests} requests per {args.per_seconds:g} s per tenant; max_jobs {args.max_jobs or 'not set'}")
    farm_process = subprocess.Popen(
        [sys.executable, str(FARM), "--tenants", str(args.tenants), "--recordings", str(recordings),
         "--requests", str(args.requests), "--per-seconds", str(args.per_seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert farm_process.stdin is not None and farm_process.stdout is not None
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        farm = json.loads(farm_process.stdout.readline())

        def seen_since_last() -> dict[str, Any]:
            farm_process.stdin.write("\n")  # type: ignore[union-attr]
            farm_process.stdin.flush()  # type: ignore[union-attr]
            return json.loads(farm_process.stdout.readline())  # type: ignore[union-attr, no-any-return]

        with tempfile.TemporaryDirectory(prefix="bench-tenants-") as directory:
            work = Path(directory)
            (work / "farm.json").write_text(json.dumps(farm))
            env = {**os.environ, **_tokens_env(farm), "COLLECTOR_LIMITS_DIR": str(work / "limits")}
            variants = [("collector", None)] + ([("before", args.baseline)] if args.baseline else [])
            trees = [HERE.parent, *([args.baseline] if args.baseline else [])]
            cached = _with_bytecode(env, trees) if args.noop else env

            def record(name: str, figures: dict[str, Any]) -> None:
                time.sleep(args.per_seconds + 0.5)  # the next pass starts with every window empty
                figures["seen"] = seen_since_last()
                results.setdefault(name, []).append(figures)

            def bare(round_: int) -> None:
                record("bare client", _child("bare", work / "farm.json", env, args))

            def collector(name: str, tree: Path | None, round_: int) -> None:
                config = _config(work / f"{name}-{round_}", farm, args)
                record(name, _child("collect", config, baseline_env(tree, env), args))
                if args.noop:
                    record(f"{name}: no-op pass", _command(config, baseline_env(tree, cached)))

            steps = ([] if args.no_bare else [bare]) + [
                (lambda r, name=name, tree=tree: collector(name, tree, r)) for name, tree in variants]
            seen_since_last()
            for round_ in range(args.rounds):
                turn = round_ % len(steps)  # the order rotates: no pass always runs after the same one
                for step in steps[turn:] + steps[:turn]:
                    step(round_)
                print(f"  round {round_ + 1} of {args.rounds} done; {load()}", flush=True)
    finally:
        farm_process.stdin.close()
        farm_process.wait(timeout=60)
    _report(results, args, recordings)


def _per_tenant(use: list[dict[str, Any]], key: str, form: str) -> str:
    """Over the rounds: each round's median over tenants, and each round's minimum."""
    return (f"median {spread([statistics.median(u[key]) for u in use], form)}, "
            f"min {spread([min(u[key]) for u in use], form)}")


def _report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace, recordings: int) -> None:
    print(f"\nmedian (min-max) of {args.rounds} round(s); {args.tenants * recordings} recordings listed per pass")
    for name, runs in results.items():
        requests = [sum(len(t["arrivals"]) for t in r["seen"].values()) for r in runs]
        cpu = [r["user"] + r["system"] for r in runs]
        if name.endswith("no-op pass"):
            listing = [max(len(t["arrivals"]) for t in r["seen"].values()) for r in runs]
            print(f"{name} (`collector run` as a command, start-up included):\n"
                  f"  wall {spread([r['wall'] for r in runs], '{:.2f}')} s; CPU {spread(cpu, '{:.2f}')} s "
                  f"(user {spread([r['user'] for r in runs], '{:.2f}')}; target <= 0.5 s); "
                  f"listing requests {spread(requests, '{:.0f}')}, at most {max(listing)} per tenant; "
                  f"exit codes {sorted({r['exit_code'] for r in runs})}")
            continue
        use = [_utilisation(r["seen"], args, r["wall"]) for r in runs]
        throttled = [sum(t["statuses"].count(429) for t in r["seen"].values()) for r in runs]
        most = max(max(t["max_in_window"] for t in r["seen"].values()) for r in runs)
        per_request = [c / max(n, 1) * 1000 for c, n in zip(cpu, requests, strict=True)]
        print(f"{name}:\n"
              f"  utilisation per tenant, (n - L)/(span x rate): {_per_tenant(use, 'allowance', '{:.1%}')} "
              f"(target >= 98%; a perfect client scores {_per_tenant(use, 'ceiling', '{:.2%}')} here, its last window "
              f"not full); whole pass {spread([u['whole'] for u in use], '{:.1%}')}\n"
              f"  pace per tenant, a perfect client's span for the same requests / the span taken: "
              f"{_per_tenant(use, 'pace', '{:.1%}')}; each slot's cycle {args.per_seconds:g} s + "
              f"{spread([statistics.median(u['excess']) * 1000 for u in use], '{:.0f}')} ms (median over tenants)\n"
              f"  requests {spread(requests, '{:.0f}')} in {spread([r['wall'] for r in runs], '{:.1f}')} s; "
              f"429 answers {spread(throttled, '{:.0f}')}; most in any window {most} (limit {args.requests})\n"
              f"  CPU {spread(cpu, '{:.2f}')} s = {spread(per_request, '{:.2f}')} ms per request (target <= 2 ms), "
              f"of it the kernel's {spread([r['system'] for r in runs], '{:.2f}')} s; "
              f"peak RSS {spread([r['peak_rss'] for r in runs], '{:.0f}')} MB; stored "
              f"{spread([r['stored'] for r in runs], '{:.0f}')}; problems {sum(r.get('problems', 0) for r in runs)}; "
              f"exit codes {sorted({r['exit_code'] for r in runs})}")
    print(f"after the run: {load()}")


if __name__ == "__main__":
    main()
