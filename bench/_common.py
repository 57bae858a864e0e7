"""Helpers the benchmarks share: the machine's load, medians of interleaved rounds, and a second
collector (`--baseline DIR`) measured beside this one in the same run.

`--baseline DIR` names a source tree of another commit, e.g. the one before a change:

    git archive --prefix=perf-base/ COMMIT | tar -x -C /tmp      # then --baseline /tmp/perf-base

Its `collector` package and its plugins (`plugins/*/collector_*`) are put first on `PYTHONPATH`
of the child processes that run "baseline", so the same interpreter and installed dependencies
run the other commit's code; child processes run in a scratch folder, never in the checkout
(`python -m` puts the current folder first on the path).
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path


def load() -> str:
    """The load averages (1, 5, 15 minutes), for the report's header and footer."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def header(title: str) -> None:
    """Print the title with the machine, the interpreter and the load."""
    bytecode = os.environ.get("PYTHONDONTWRITEBYTECODE")
    print(f"{title}\n  Python {sys.version.split()[0]} ({os.path.realpath(sys.executable)}); "
          f"PYTHONDONTWRITEBYTECODE={bytecode!r} in this environment; {load()}", flush=True)


def median(values: Sequence[float]) -> float:
    """The median; 0.0 for no values."""
    return statistics.median(values) if values else 0.0


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """`median (min-max, n=...)` of the rounds, formatted."""
    if not values:
        return "-"
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))}, n={len(values)})"


def baseline_env(tree: Path | None, env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose Python imports the collector and its plugins from `tree` (None: unchanged)."""
    result = dict(os.environ if env is None else env)
    if tree is None:
        return result
    tree = tree.resolve()
    paths = [str(tree), *sorted({str(p.parent.parent) for p in tree.glob("plugins/*/collector_*/__init__.py")})]
    if result.get("PYTHONPATH"):
        paths.append(result["PYTHONPATH"])
    result["PYTHONPATH"] = os.pathsep.join(paths)
    return result
