"""Benchmark: one 2 GB download by the collector against the same HTTP client's bare receive rate.

One Focus emulator (in its own process) serves a single recording of `--megabytes` of WAV. In the
same run, on the same URL:

1. httpx bare, async as the collector uses it, reading the body into nothing (the issue's reference);
2. httpx + sha256 in one thread: what receiving and hashing cost one after the other;
3. curl | sha256sum, for context (two processes, so receive and hash overlap);
4. the disk: writing the same number of bytes to a file in the store's folder and fsyncing it,
   with no network at all (what any collector must do at least; on this VM it is the limit);
5. the collector: `collector run` in a child process: receive, write to a temporary file, hash,
   fsync, verify (the WAV's chunk sizes), rename and catalog, with its peak RSS.

Each is measured twice, interleaved, and the better figure printed (the machine is noisy).
Target (issue 9): the collector at >= 0.7x the bare rate, RSS <= 100 MB.

    .venv/bin/python bench/bench_download.py                 # 2 GB, about a minute
    .venv/bin/python bench/bench_download.py --megabytes 512
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
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


def curl_rate(url: str, headers: dict[str, str], body: bytes, size: int) -> float:
    """curl piped into sha256sum; returns MB/s."""
    command = ["curl", "-sS", "-X", "POST", "--data-binary", body.decode()]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    started = time.perf_counter()
    curl = subprocess.Popen([*command, url], stdout=subprocess.PIPE)
    subprocess.run(["sha256sum"], stdin=curl.stdout, check=True, stdout=subprocess.DEVNULL)
    curl.wait()
    return size / (time.perf_counter() - started) / 1e6


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=2048)
    args = parser.parse_args()
    size = args.megabytes * 1024**2
    emulator = subprocess.Popen(
        [sys.executable, str(HERE / "bench_focus.py"), "--serve", "--recordings", "0", "--audio-bytes", str(size)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert emulator.stdout is not None and emulator.stdin is not None
    try:
        url = emulator.stdout.readline().strip()
        audio_url, headers, body = _request(url)
        print(f"{size / 1e9:.2f} GB WAV over loopback; machine: {os.cpu_count()} cores, "
              f"Python {sys.version.split()[0]}")
        figures: dict[str, list[float]] = {"bare": [], "hashed": [], "curl": [], "disk": [], "collector": []}
        rss = 0.0
        with tempfile.TemporaryDirectory(prefix="bench-download-") as work:
            for round_ in range(2):
                bare, received = httpx_rate(audio_url, headers, body, hashed=False)
                figures["bare"].append(bare)
                figures["hashed"].append(httpx_rate(audio_url, headers, body, hashed=True)[0])
                figures["curl"].append(curl_rate(audio_url, headers, body, received))
                figures["disk"].append(disk_rate(Path(work), received))
                summary, peak = collector_run(url, BIG_CLIENT, Path(work) / f"run-{round_}", page_size=100, audio=True)
                figures["collector"].append(int(summary["audio_bytes"]) / float(summary["seconds"]) / 1e6)
                rss = max(rss, peak)
        best = {name: max(values) for name, values in figures.items()}
        print(f"  httpx (async), body into nothing: {best['bare']:8,.0f} MB/s  (the issue's reference)")
        print(f"  httpx + sha256, one thread:       {best['hashed']:8,.0f} MB/s")
        print(f"  curl | sha256sum:                 {best['curl']:8,.0f} MB/s")
        print(f"  disk: write + fsync, no network:  {best['disk']:8,.0f} MB/s")
        print(f"  collector (write, hash, fsync, verify, catalog): {best['collector']:,.0f} MB/s = "
              f"{best['collector'] / best['bare']:.2f}x the reference (target >= 0.7x), "
              f"{best['collector'] / min(best['bare'], best['disk']):.2f}x the slower of network and disk; "
              f"peak RSS {rss:.0f} MB (target <= 100 MB)")
        print("  (the collector's time is its whole run: start, listing, download, verification, commit)")
    finally:
        emulator.stdin.close()
        emulator.wait()


if __name__ == "__main__":
    main()
