"""Benchmark: Focus metadata sync rate and peak memory, and a large audio download's peak memory.

    .venv/bin/python bench/bench_focus.py                 # 100,000 recordings, page size 1000
    .venv/bin/python bench/bench_focus.py --audio         # also 256 MB and 1 GB audio downloads
    .venv/bin/python bench/bench_focus.py --recordings 20000 --sizes 25000,100000

What it measures, against one Focus emulator running in its own process:
1. reference: plain httpx following the cursor and writing each recording as a JSON line (no
   validation, no catalog) - the ceiling the emulator and the machine allow;
2. the collector: `collector run` (in a subprocess) syncing the same tenant with audio and
   transcripts off: validation into the model, catalog commits with the cursor, in one transaction
   per page. Its rate comes from the run's own start/finish times in the catalog; its peak RSS from
   the child's rusage. Repeated for each size in --sizes to show memory stays flat;
3. with --audio: one recording of 256 MB then 1 GB of WAV, downloaded, hashed and decoded to the end
   by the collector: peak RSS of each run.
Targets (issue 2): sync >= 70% of the reference's rate (aim: 20,000+/s), peak RSS < 150 MB;
the 1 GB download < 100 MB RSS; memory flat as sizes grow.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key-0123456789abcdef"
BIG_CLIENT = 9200  # the tenant holding one very long recording


def serve(recordings: int, audio_bytes: list[int], warm: bool) -> None:
    """Child process: run the emulator until stdin closes; print its URL first.

    `warm` pre-generates every recording before serving, so pages cost only their JSON encoding:
    a faster vendor than the emulator as shipped, which builds each recording when it is asked for.
    """
    from collector.emulator import wav_duration_for_bytes
    from collector_focus import emulator as focus_emulator
    from collector_focus._emudata import FocusTenant, generated_recording
    from collector_focus.emulator import FocusEmulator

    if warm:
        cache = {index: generated_recording(9100, index) for index in range(recordings)}
        # The emulator looks each recording up by this name when it serves it: patched, for the bench only.
        focus_emulator.cached_recording = lambda client, index: cache[index]  # type: ignore[attr-defined, assignment]
        gc.freeze()  # 100,000 cached items would otherwise be rescanned by every full collection

    tenants = [FocusTenant(client_id=9100, username="bench", api_key=API_KEY, recordings=recordings)]
    for number, size in enumerate(audio_bytes):
        tenant = FocusTenant(client_id=BIG_CLIENT + number, username="bench", api_key=API_KEY, recordings=0)
        item = generated_recording(tenant.client_id, 0)
        duration = wav_duration_for_bytes(size)
        item.update(type="phone", mediaAccessStatus="Permitted", durationInSeconds=duration)
        tenant.extra["big"] = item
        tenant.arrivals.append("big")
        tenants.append(tenant)
    emulator = FocusEmulator(tenants, rate_limit=None).start()
    print(emulator.url, flush=True)
    sys.stdin.read()
    emulator.stop()


def reference(url: str, client_id: int, page_size: int, out: Path) -> float:
    """Plain httpx: follow the cursor, one JSON line per recording. Returns recordings per second."""
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.post("/authWithApiKey", json={"clientId": client_id, "apiKey": API_KEY,
                                                     "username": "bench"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        params: dict[str, str | int] = {"numberOfResults": page_size}
        count = 0
        started = time.perf_counter()
        with out.open("w") as handle:
            while True:
                page = client.get("/client/recording/cursor", params=params, headers=headers).json()
                if not page["recordings"]:
                    break
                for recording in page["recordings"]:
                    handle.write(json.dumps(recording) + "\n")
                count += len(page["recordings"])
                params = {"numberOfResults": page_size, "cursorId": page["nextCursorId"]}
        elapsed = time.perf_counter() - started
    return count / elapsed


def measured(command: list[str], env: dict[str, str]) -> tuple[int, str, str, int, float]:
    """Run a command; return its exit code, output, errors, peak resident memory (KB, its own) and
    CPU seconds (user + system, its own)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read(), err.read(), usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def collector_run(url: str, client_id: int, workdir: Path, *, page_size: int, audio: bool,
                  audio_format: str = "wav-mono") -> tuple[dict[str, Any], float]:
    """`collector run` in a child process. Returns (the tenant's summary and timing, peak RSS in MB)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "collector.toml"
    config.write_text(f"""
[store]
path = "store"
[[sources]]
plugin = "focus"
tenant = "bench"
base_url = "{url}"
client_id = {client_id}
username = "bench"
api_key = {{ env = "BENCH_FOCUS_KEY" }}
page_size = {page_size}
audio = {str(audio).lower()}
audio_format = "{audio_format}"
transcripts = false
rate_limit = {{ requests = 10000, per_seconds = 1 }}
timeout = 600
""")
    env = {**os.environ, "BENCH_FOCUS_KEY": API_KEY}
    code, stdout, stderr, peak_kb, cpu = measured(
        [sys.executable, "-m", "collector", "--config", str(config), "run", "--json"], env)
    if code != 0:
        raise SystemExit(f"collector run failed ({code}):\n{stderr[-3000:]}")
    (summary,) = json.loads(stdout)["tenants"]
    with sqlite3.connect(workdir / "store" / "catalog.sqlite") as db:
        started, finished = db.execute("SELECT started, finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    summary["seconds"] = seconds
    summary["cpu_seconds"] = cpu
    return summary, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--sizes", default="", help="also sync these tenant sizes (comma-separated) for memory")
    parser.add_argument("--audio", action="store_true", help="also download 256 MB and 1 GB recordings")
    parser.add_argument("--no-warm", action="store_true", help="skip the run against a pre-generated emulator")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audio-bytes", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    audio_sizes = [256 * 1024**2, 1024**3] if args.audio else []
    if args.serve:
        serve(args.recordings, [int(x) for x in args.audio_bytes.split(",") if x], args.warm)
        return
    sizes = sorted({args.recordings, *(int(x) for x in args.sizes.split(",") if x)})
    print(f"Focus benchmark: page size {args.page_size}; machine: {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}")
    runs = [(size, False) for size in sizes] + ([] if args.no_warm else [(sizes[-1], True)])
    with tempfile.TemporaryDirectory(prefix="bench-focus-") as tmp:
        work = Path(tmp)
        for size, warm in runs:
            big = audio_sizes if (size, warm) == (sizes[-1], False) else []
            emulator = subprocess.Popen(
                [sys.executable, __file__, "--serve", "--recordings", str(size),
                 "--audio-bytes", ",".join(str(s) for s in big), *(["--warm"] if warm else [])],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert emulator.stdout is not None and emulator.stdin is not None
            url = emulator.stdout.readline().strip()
            try:
                name = f"{size}-{'warm' if warm else 'shipped'}"
                ref = reference(url, 9100, args.page_size, work / f"reference-{name}.jsonl")
                summary, rss = collector_run(url, 9100, work / f"sync-{name}", page_size=args.page_size, audio=False)
                rate = int(summary["new_recordings"]) / float(summary["seconds"])
                kind = ("pre-generated emulator (pages cost only their JSON encoding)" if warm
                        else "emulator as shipped (builds each recording on request)")
                print(f"\n{size:,} recordings, {kind}")
                print(f"  reference (httpx + JSON lines):   {ref:10,.0f} recordings/s")
                print(f"  collector (validated, cataloged): {rate:10,.0f} recordings/s  "
                      f"= {rate / ref:.0%} of the reference"
                      f"  (target >= 70%)")
                print(f"  collector peak RSS:               {rss:10,.1f} MB  (target < 150 MB)")
                per = float(summary["cpu_seconds"]) / int(summary["new_recordings"]) * 1e6
                print(f"  collector CPU per recording:      {per:10,.1f} µs  (its whole process, start-up included; "
                      "target <= 30 µs)")
                for number, audio_size in enumerate(big):
                    summary, rss = collector_run(url, BIG_CLIENT + number, work / f"audio-{number}",
                                                 page_size=args.page_size, audio=True)
                    mb = int(summary["audio_bytes"]) / 1024**2
                    print(f"\n{audio_size / 1024**2:,.0f} MB audio download "
                          "(WAV, streamed, hashed, decoded to the end)")
                    print(f"  stored {mb:,.0f} MB in {float(summary['seconds']):.1f} s; peak RSS {rss:,.1f} MB"
                          f"  (target < 100 MB)")
            finally:
                emulator.stdin.close()
                emulator.wait()


if __name__ == "__main__":
    main()
