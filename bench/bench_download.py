"""Benchmark: one 2 GB download by the collector against the same HTTP client's bare receive rate.

One Focus emulator (in its own process) serves a single recording of `--megabytes` of WAV. In the
same run, on the same URL:

1. httpx bare, async as the collector uses it, reading the body into nothing (the issue's reference);
2. httpx + sha256 in one thread: what receiving and hashing cost one after the other;
3. curl into /dev/null (the performance issue's reference: curl's receive rate), and curl | sha256sum
   (two processes, so receive and hash overlap; bound by coreutils' sha256sum, ~400 MB/s here, about
   a third of OpenSSL's SHA-256 that hashlib uses);
4. the disk: writing the same number of bytes to a file in the store's folder and fsyncing it,
   with no network at all (what any collector must do at least; this VM's disk ranges from about
   300 MB/s to over 2 GB/s from one minute to the next, so it is measured in every round);
5. the collector: `collector run` in a child process: receive, write to a temporary file, hash,
   fsync, verify (the WAV's chunk sizes), rename and catalog, with its peak RSS.

Each is measured `--rounds` times, interleaved (the order rotates each round: whatever runs after
a 2 GB write pays for its writeback), and the median printed with the range (the machine
is noisy), with the load average before and after. With `--baseline DIR` (another commit's source
tree, see `_common.py`) the collector of that commit runs too, in the same rounds.
Targets: the collector at >= 0.7x curl (the performance issue; issue 9 compared it with the bare
httpx rate), peak RSS <= 100 MB.

    .venv/bin/python bench/bench_download.py                 # 2 GB, 3 rounds, about 2 minutes
    .venv/bin/python bench/bench_download.py --megabytes 512 --baseline /tmp/perf-base
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import baseline_env, header, load, median, spread
from bench_focus import API_KEY, BIG_CLIENT, collector_run

HERE = Path(__file__).resolve().parent


def _token(client: httpx.Client) -> dict[str, str]:
    answer = client.post("/authWithApiKey", json={"clientId": BIG_CLIENT, "apiKey": API_KEY, "username": "bench"})
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _request(url: str) -> tuple[str, dict[str, str], bytes]:
    """The audio request the collector makes: its URL, headers and JSON body."""
    with httpx.Client(base_url=url, timeout=60) as client:
        headers = _token(client)
        (item,) = client.get("/client/recording/cursor", params={"numberOfResults": 10}, headers=headers).json()[
            "recordings"]
    body = f'{{"thirdPartyId": "{item["thirdPartyId"]}", "format": "wav-mono"}}'.encode()
    return f"{url}/client/recording.playBackByThirdPartyId", {**headers, "Content-Type": "application/json"}, body


def httpx_rate(url: str, headers: dict[str, str], body: bytes, *, hashed: bool) -> tuple[float, int]:
    """Receive the body with async httpx (hashing it in the same thread if `hashed`); returns (MB/s, bytes)."""

    async def receive() -> tuple[float, int]:
        digest = hashlib.sha256()
        size = 0
        async with httpx.AsyncClient(timeout=600) as client:
            started = time.perf_counter()
            async with client.stream("POST", url, headers=headers, content=body) as response:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if hashed:
                        digest.update(chunk)
            elapsed = time.perf_counter() - started
        return size / elapsed / 1e6, size

    return asyncio.run(receive())


def disk_rate(directory: Path, size: int) -> float:
    """Write `size` bytes to a file in `directory` in 1 MiB blocks and fsync it; returns MB/s."""
    block = os.urandom(1 << 20)
    path = directory / "disk-reference"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return size / elapsed / 1e6


def curl_rate(url: str, headers: dict[str, str], body: bytes, size: int, *, hashed: bool = True) -> float:
    """curl piped into sha256sum (`hashed`), or curl writing to /dev/null; returns MB/s."""
    command = ["curl", "-sS", "-X", "POST", "--data-binary", body.decode()]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    started = time.perf_counter()
    if not hashed:
        subprocess.run([*command, "-o", os.devnull, url], check=True)
        return size / (time.perf_counter() - started) / 1e6
    curl = subprocess.Popen([*command, url], stdout=subprocess.PIPE)
    subprocess.run(["sha256sum"], stdin=curl.stdout, check=True, stdout=subprocess.DEVNULL)
    curl.wait()
    return size / (time.perf_counter() - started) / 1e6


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="also run another commit's source tree (see _common.py)")
    args = parser.parse_args()
    size = args.megabytes * 1024**2
    emulator = subprocess.Popen(
        [sys.executable, str(HERE / "bench_focus.py"), "--serve", "--recordings", "0", "--audio-bytes", str(size)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert emulator.stdout is not None and emulator.stdin is not None
    try:
        url = emulator.stdout.readline().strip()
        audio_url, headers, body = _request(url)
        header(f"{size / 1e9:.2f} GB WAV over loopback, {args.rounds} rounds interleaved")
        collectors = [("collector", None)] + ([("before", args.baseline)] if args.baseline else [])
        figures: dict[str, list[float]] = {name: [] for name in ("bare", "hashed", "curl", "curl+sha", "disk")}
        rss: dict[str, list[float]] = {}
        received = httpx_rate(audio_url, headers, body, hashed=False)[1]
        with tempfile.TemporaryDirectory(prefix="bench-download-") as work:

            def collector(name: str, tree: Path | None, round_: int) -> float:
                summary, peak = collector_run(url, BIG_CLIENT, Path(work) / f"{name}-{round_}", page_size=100,
                                              audio=True, env=baseline_env(tree))
                rss.setdefault(name, []).append(peak)
                shutil.rmtree(Path(work) / f"{name}-{round_}")
                return int(summary["audio_bytes"]) / float(summary["seconds"]) / 1e6

            steps: list[tuple[str, Callable[[int], float]]] = [
                     ("bare", lambda r: httpx_rate(audio_url, headers, body, hashed=False)[0]),
                     ("hashed", lambda r: httpx_rate(audio_url, headers, body, hashed=True)[0]),
                     ("curl", lambda r: curl_rate(audio_url, headers, body, received, hashed=False)),
                     ("curl+sha", lambda r: curl_rate(audio_url, headers, body, received)),
                     ("disk", lambda r: disk_rate(Path(work), received))]
            for name, tree in collectors:
                steps.append((name, functools.partial(lambda tree, name, r: collector(name, tree, r), tree, name)))
            for round_ in range(args.rounds):
                turn = round_ % len(steps)
                for name, step in steps[turn:] + steps[:turn]:
                    figures.setdefault(name, []).append(step(round_))
                print(f"  round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in figures.items())
                      + f" MB/s; {load()}", flush=True)
        curl = median(figures["curl"])
        print(f"  httpx (async), body into nothing: {spread(figures['bare'])} MB/s  (issue 9's reference)")
        print(f"  httpx + sha256, one thread:       {spread(figures['hashed'])} MB/s")
        print(f"  curl -o /dev/null:                {spread(figures['curl'])} MB/s  (the issue's reference)")
        print(f"  curl | sha256sum:                 {spread(figures['curl+sha'])} MB/s")
        print(f"  disk: write + fsync, no network:  {spread(figures['disk'])} MB/s")
        for name, _ in collectors:
            rate = median(figures[name])
            print(f"  {name} (write, hash, fsync, verify, catalog): {spread(figures[name])} MB/s = "
                  f"{rate / curl:.2f}x curl (target >= 0.7x), "
                  f"{rate / median(figures['curl+sha']):.2f}x curl | sha256sum, "
                  f"{rate / median(figures['bare']):.2f}x bare "
                  f"httpx, {rate / median(figures['disk']):.2f}x the disk; peak RSS {spread(rss[name], '{:.0f}')} MB "
                  "(target <= 100 MB)")
        print("  (the collector's time is its whole run: start, listing, download, verification, commit)")
        print(f"  after the run: {load()}")
    finally:
        emulator.stdin.close()
        emulator.wait()


if __name__ == "__main__":
    main()
