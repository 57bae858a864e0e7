"""Plugin code lines per built-in plugin, before the plugin toolkit and now.

Lines are `wc -l` of a plugin package's .py files except the emulator's (`emulator.py`,
`_emudata.py`, `_demo.py`) and the conformance adapter (`testing.py`), docstrings and comments
kept: the method behind the figures in the toolkit issue (508 / 763 / 987). Before the toolkit
Xima's emulator data lived in `_emulated.py`, which the same method leaves out.

    .venv/bin/python bench/plugin_lines.py [--before REV]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCLUDED = {"emulator.py", "_emudata.py", "_demo.py", "testing.py", "_emulated.py"}
BEFORE = "35a8b5b"  # the last commit before the toolkit
PLUGINS = ("focus", "xima", "imagicle")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def lines_at(revision: str, plugin: str) -> int:
    """Plugin code lines of `plugin` at a git revision."""
    files = _git("ls-tree", "--name-only", revision, f"plugins/{plugin}/collector_{plugin}/").split()
    return sum(_git("show", f"{revision}:{name}").count("\n") for name in files
               if name.endswith(".py") and Path(name).name not in EXCLUDED)


def lines_now(plugin: str) -> int:
    """Plugin code lines of `plugin` in the working tree."""
    package = ROOT / "plugins" / plugin / f"collector_{plugin}"
    return sum(path.read_text(encoding="utf-8").count("\n") for path in sorted(package.glob("*.py"))
               if path.name not in EXCLUDED)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"the revision to compare with (default {BEFORE})")
    args = parser.parse_args()
    print(f"{'plugin':<10} {'before':>7} {'now':>7} {'change':>8}")
    for plugin in PLUGINS:
        before, now = lines_at(args.before, plugin), lines_now(plugin)
        print(f"{plugin:<10} {before:>7} {now:>7} {100 * (now - before) / before:>+7.0f}%")


if __name__ == "__main__":
    main()
