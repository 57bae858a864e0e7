"""Benchmark: cold start of the commands a user types most, against the bare interpreter.

Times, in the same run and interleaved (this machine is noisy), the median wall time of:
`python -c pass` (the reference: the same interpreter, not a shim), and `python -m collector`
with `--help`, `plugins`, `status` (on an empty store) and `config check`. Each with bytecode
caches present, and again under PYTHONDONTWRITEBYTECODE=1 with the caches removed first (what a
read-only install without caches costs). Target (issue 9): <= 2x the bare interpreter, caches present.

    .venv/bin/python bench/bench_startup.py            # 15 rounds, about a minute
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def _drop_caches() -> None:
    for folder in (ROOT / "collector", ROOT / "plugins"):
        for cache in folder.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as directory:
        config = Path(directory) / "collector.toml"
        config.write_text(f'[store]\npath = "{directory}/store"\n')
        python = [sys.executable]
        commands = {
            "python -c pass": [*python, "-c", "pass"],
            "collector --help": [*python, "-m", "collector", "--help"],
            "collector plugins": [*python, "-m", "collector", "plugins"],
            "collector status": [*python, "-m", "collector", "--config", str(config), "status"],
            "collector config check": [*python, "-m", "collector", "--config", str(config), "config", "check"],
        }
        print(f"Cold start, median of {args.rounds} (interpreter: {os.path.realpath(sys.executable)})")
        for label, extra in (("bytecode caches present", {}), ("PYTHONDONTWRITEBYTECODE=1, no caches",
                                                                 {"PYTHONDONTWRITEBYTECODE": "1"})):
            env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"} | extra
            if extra:
                _drop_caches()
            else:
                for command in commands.values():
                    _time(command, env)  # writes the caches
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, command in commands.items():
                    times[name].append(_time(command, env))
            bare = statistics.median(times["python -c pass"])
            print(f"  {label}:")
            for name, samples in times.items():
                median = statistics.median(samples)
                print(f"    {name:<24} {median * 1000:6.0f} ms  {median / bare:4.1f}x"
                      + ("  (target <= 2x)" if name == "collector --help" and not extra else ""))
        for command in commands.values():
            _time(command, {n: v for n, v in os.environ.items() if n != "PYTHONDONTWRITEBYTECODE"})  # caches back


if __name__ == "__main__":
    main()
