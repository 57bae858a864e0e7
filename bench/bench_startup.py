"""Benchmark: cold start of the commands a user types most, against the bare interpreter and `import httpx`.

Times, in the same run and interleaved round by round (this machine is noisy), the median wall
time of: `python -c pass` and `python -c "import httpx"` (the references: the venv's interpreter
itself, never the pyenv shim, which adds ~70 ms), and `python -m collector` with `--help`,
`--version`, `plugins`, `status` (on the store `collector demo` fills: 9 tenants of 3 vendors) and
`config check` (on a file without sources). Each with bytecode caches
present (PYTHONDONTWRITEBYTECODE removed from the children's environment), and again under
PYTHONDONTWRITEBYTECODE=1 with the project's caches removed first (what a read-only install without
caches costs; this environment sets it). Targets: `--help` <= 2x `python -c pass` (issue 9);
`plugins`, `status` <= 2x `import httpx` (the performance issue), caches present.

`--baseline DIR` also times the same commands from another commit's source tree (see
`bench/_common.py`), interleaved, for a before/after in one run. `--imports` prints, per command,
the modules that cost the most to import (`-X importtime`, caches present).

    .venv/bin/python bench/bench_startup.py            # 15 rounds, about a minute
    .venv/bin/python bench/bench_startup.py --baseline /tmp/perf-base --imports
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

from _common import baseline_env, header, load

ROOT = Path(__file__).resolve().parent.parent


def _time(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def _drop_caches(trees: list[Path]) -> None:
    for tree in trees:
        for folder in (tree / "collector", tree / "plugins"):
            for cache in folder.rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)


def _imports(command: list[str], env: dict[str, str], cwd: str, top: int) -> list[str]:
    """The `top` modules with the largest cumulative import time (top-level imports only)."""
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # top level: one leading space
            rows.append((int(cumulative), name.strip()))
    total = sum(c for c, _ in rows)
    return [f"total {total / 1000:.0f} ms"] + [f"{name} {c / 1000:.1f}" for c, name in sorted(rows, reverse=True)[:top]]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="also time another commit's source tree (see _common.py)")
    parser.add_argument("--imports", action="store_true", help="print each command's costliest imports")
    args = parser.parse_args()
    header("Cold start")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as directory:
        config = Path(directory) / "collector.toml"
        config.write_text(f'[store]\npath = "{directory}/store"\n')
        python = [sys.executable]
        demo = Path(directory) / "demo"
        subprocess.run([*python, "-m", "collector", "demo", str(demo)], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        collector_commands = {
            "--help": ["--help"],
            "--version": ["--version"],
            "plugins": ["plugins"],
            "status": ["--config", str(demo / "demo-config.toml"), "status"],
            "config check": ["--config", str(config), "config", "check"],
        }
        variants: list[tuple[str, Path | None]] = [("", None)]
        if args.baseline:
            variants.append(("before: ", args.baseline))
        commands: dict[str, tuple[list[str], Path | None]] = {
            "python -c pass": ([*python, "-c", "pass"], None),
            "python -c 'import httpx'": ([*python, "-c", "import httpx"], None),
        }
        for prefix, tree in variants:
            for name, extra in collector_commands.items():
                commands[f"{prefix}collector {name}"] = ([*python, "-m", "collector", *extra], tree)
        trees = [ROOT] + ([args.baseline] if args.baseline else [])
        print(f"median of {args.rounds} rounds, interleaved; children run in {directory}")
        cached_env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        settings: tuple[tuple[str, dict[str, str]], ...] = (
            ("bytecode caches present (PYTHONDONTWRITEBYTECODE unset)", {}),
                             ("PYTHONDONTWRITEBYTECODE=1, the project's caches removed",
             {"PYTHONDONTWRITEBYTECODE": "1"}))
        for label, env_extra in settings:
            base_env = cached_env | env_extra
            envs = {name: baseline_env(tree, base_env) for name, (_, tree) in commands.items()}
            if env_extra:
                _drop_caches(trees)
            else:
                for name, (command, _) in commands.items():
                    _time(command, envs[name], directory)  # writes the caches
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, (command, _) in commands.items():
                    times[name].append(_time(command, envs[name], directory))
            bare = statistics.median(times["python -c pass"])
            httpx = statistics.median(times["python -c 'import httpx'"])
            print(f"  {label}:")
            for name, samples in times.items():
                median = statistics.median(samples)
                target = ""
                if name.endswith(("collector plugins", "collector status")) and not env_extra:
                    target = "  (target <= 2x import httpx)"
                elif name.endswith("collector --help") and not env_extra:
                    target = "  (target <= 2x python -c pass)"
                print(f"    {name:<34} {median * 1000:6.0f} ms  {median / bare:4.1f}x pass  "
                      f"{median / httpx:4.2f}x import httpx{target}")
        for name, (command, _) in commands.items():
            _time(command, baseline_env(commands[name][1], cached_env), directory)  # caches back
        if args.imports:
            print("  costliest imports, caches present (cumulative ms, top-level modules):")
            for name, (command, tree) in commands.items():
                if "collector" in name:
                    print(f"    {name}: " + ", ".join(_imports(command, baseline_env(tree, cached_env), directory, 8)))
    print(f"  after the run: {load()}")


if __name__ == "__main__":
    main()
