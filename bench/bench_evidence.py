"""Benchmark: what the evidence costs: `verify`, appending to the chain, checking the chain.

Three figures, each beside its reference measured in the same run (this machine is noisy):

1. `verify` (size, sha256, evidence level) over a store of real audio files vs `sha256sum` over the
   same files (goal: at least 0.8x its throughput);
2. the chain's cost per stored file: `audio_stored_many` in group commits of 20 with the chain,
   minus the same calls with appending switched off (goal: under 50 µs per item);
3. a full check of a 1,000,000-event chain (links, in parallel on the machine's cores) vs
   `sha256sum` over the same events' bytes (goal: faster, memory flat).

    .venv/bin/python bench/bench_evidence.py                   # about 2 minutes
    .venv/bin/python bench/bench_evidence.py --events 200000 --files 200
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collector import Recording
from collector.archive_check import check_links
from collector.emulator import synth_audio
from collector.engine import Catalog, StoredAudio, WorkPlan

PLAN = WorkPlan(audio=True, transcripts=False)
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _recording(n: int) -> Recording:
    return Recording(source="bench", tenant="t", vendor_id=f"rec-{n:08d}", start=BASE + timedelta(seconds=n),
                     duration=60.0, raw={"id": n})


def _stored(n: int, sha: str, size: int) -> StoredAudio:
    return StoredAudio(path=f"bench/t/2026/03/01/rec-{n:08d}-0123456789ab.opus", sha256=sha, size=size,
                       container="ogg", codec="opus", sample_rate=8000, channels=1, duration=60.0,
                       evidence="complete", checks=("vendor-size", "container", "transfer"),
                       fetched="2026-03-01T12:00:00.000000Z", endpoint="GET /recordings/rec/audio",
                       request_id="0f8fad5b-d9cb-469f-a165-70867728950e", content_length=size)


def bench_verify(root: Path, files: int) -> None:
    """`collector verify` vs `sha256sum` over the same files."""
    catalog = Catalog(root / "catalog.sqlite")
    recordings = [_recording(n) for n in range(files)]
    catalog.commit_page("bench", "t", recordings, [], {"n": files}, PLAN)
    stored, paths = [], []
    for recording in recordings:
        data = synth_audio(recording.vendor_id, duration=600.0, fmt="wav")  # 9.6 MB each
        relative = f"bench/t/2026/03/01/{recording.vendor_id}.wav"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        paths.append(str(root / relative))
        stored.append((recording.key, StoredAudio(relative, hashlib.sha256(data).hexdigest(), len(data), "wav",
                                                  "pcm_16", 8000, 1, 600.0, "complete", ("container",))))
    catalog.audio_stored_many(stored)
    catalog.close()
    config = root / "verify.toml"
    config.write_text(f'[store]\npath = "{root}"\n', encoding="utf-8")
    total = sum(os.path.getsize(p) for p in paths)
    subprocess.run(["sync"], check=True)
    verify = [sys.executable, "-m", "collector", "--config", str(config), "verify"]
    for _ in range(2):  # warm the page cache for both, alternately, then time each twice
        subprocess.run(["sha256sum", *paths], check=True, capture_output=True)
        subprocess.run(verify, check=True, capture_output=True)
    ours, theirs = [], []
    for _ in range(2):
        started = time.perf_counter()
        done = subprocess.run(verify, check=True, capture_output=True, text=True)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(["sha256sum", *paths], check=True, capture_output=True)
        theirs.append(time.perf_counter() - started)
    assert f"Verified {files} files" in done.stdout, done.stdout
    mine, reference = total / min(ours) / 1e6, total / min(theirs) / 1e6
    print(f"verify: {files} files, {total / 1e6:,.0f} MB: {mine:,.0f} MB/s (`collector verify`, start-up included); "
          f"sha256sum over the same files: {reference:,.0f} MB/s; ratio {mine / reference:.2f}x (goal >= 0.8x)")


def bench_append(path: Path, items: int, batch: int = 20) -> None:
    """The chain's share of recording stored files, per item."""
    catalog = Catalog(path)
    recordings = [_recording(n) for n in range(items * 2)]
    for start in range(0, len(recordings), 5000):
        catalog.commit_page("bench", "t", recordings[start:start + 5000], [], None, PLAN)
    sha = hashlib.sha256(b"x").hexdigest()
    files = [(r.key, _stored(n, sha, 480_000 + n)) for n, r in enumerate(recordings)]
    append = catalog._append

    def store(chunk: list[Any]) -> float:
        started = time.perf_counter()
        for start in range(0, len(chunk), batch):
            catalog.audio_stored_many(chunk[start:start + batch])
        return time.perf_counter() - started

    timings: dict[str, list[float]] = {"with": [], "without": []}
    half = items // 4
    for round_ in range(4):  # alternate, so the machine's mood hits both alike
        part = files[round_ * half * 2:(round_ + 1) * half * 2]
        catalog._append = append  # type: ignore[method-assign]
        timings["with"].append(store(part[:half]))
        catalog._append = lambda db, events: list(range(len(events)))  # type: ignore[method-assign]
        timings["without"].append(store(part[half:]))
    catalog._append = append  # type: ignore[method-assign]
    catalog.close()
    per_with = sum(timings["with"]) / (half * 4) * 1e6
    per_without = sum(timings["without"]) / (half * 4) * 1e6
    print(f"append: {per_with:.1f} µs per stored file with the chain, {per_without:.1f} µs without (same run, "
          f"group commits of {batch}): the chain costs {per_with - per_without:.1f} µs per item (goal < 50 µs)")


def bench_check(path: Path, events: int) -> None:
    """A full link check of `events` events vs sha256sum over their bytes."""
    catalog = Catalog(path)  # the chain filled as downloads fill it: a stored event per file
    sha = hashlib.sha256(b"x").hexdigest()
    for start in range(0, events, 10_000):
        recordings = [_recording(n) for n in range(start, min(start + 10_000, events))]
        catalog.commit_page("bench", "t", recordings, [], None, PLAN)
        catalog.audio_stored_many([(r.key, _stored(start + n, sha, 480_000 + n)) for n, r in enumerate(recordings)])
    catalog.close()
    raw = path.with_suffix(".events")
    import sqlite3

    with sqlite3.connect(path) as db, raw.open("w") as out:
        for (text,) in db.execute("SELECT event FROM chain ORDER BY seq"):
            out.write(text + "\n")
    size = raw.stat().st_size
    subprocess.run(["sync"], check=True)
    # The check as a regulator runs it: the standalone file, a bare interpreter (-I -S), in its own process.
    checker = Path(check_links.__code__.co_filename)
    # Memory: the checker's own high-water mark (VmHWM; ru_maxrss would include this process's, which
    # a child inherits across fork and exec) and its worker processes' (forked from the small checker).
    script = (f"import resource, sys; sys.path.insert(0, {str(checker.parent)!r}); import archive_check; "
              f"assert archive_check.check_links({str(path)!r}, {events + 1}) is None; "
              "hwm = [int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')][0]; "
              "print(max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    ours, theirs, peaks = [], [], []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-I", "-S", "-c", script], check=True, capture_output=True, text=True)
        ours.append(time.perf_counter() - started)
        peaks.append(int(done.stdout))
        started = time.perf_counter()
        subprocess.run(["sha256sum", str(raw)], check=True, capture_output=True)
        theirs.append(time.perf_counter() - started)
    print(f"check: {events:,} events ({size / 1e6:,.0f} MB of events) in {min(ours):.2f} s on {os.cpu_count()} "
          f"cores, interpreter start included; sha256sum over the same bytes {min(theirs):.2f} s; ratio "
          f"{min(theirs) / min(ours):.2f}x (goal > 1x); peak RSS of a checking process {max(peaks) / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100, help="9.6 MB files for the verify figure")
    parser.add_argument("--appends", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        bench_append(Path(scratch) / "append.sqlite", args.appends)
        bench_check(Path(scratch) / "check.sqlite", args.events)
    with tempfile.TemporaryDirectory() as scratch:
        bench_verify(Path(scratch), args.files)


if __name__ == "__main__":
    main()
