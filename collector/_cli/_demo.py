"""`collector demo`: a real collection from the installed plugins' emulators, start to finish.

Each plugin that implements `collector_register_demos` starts its emulators on 127.0.0.1 (real
HTTP servers on ephemeral ports) and supplies `[[sources]]` tables for them. The demo writes
those into `<dir>/demo-config.toml` (secrets as `{ env = ... }` references, never values), runs
one ordinary pass into the store at `<dir>`, and prints the summary. The emulators serve the same
recordings every time, so a second demo in the same directory finds nothing new and says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from typing import Any

from collector._runner._config import Config, load_config
from collector._runner._plugins import Plugins

_HEADER = """\
# Written by `collector demo`. The emulators it points at listen on ephemeral ports and exist only
# while the demo runs, so this file is a worked example, not something to run later as it is.
"""
_SERVING = """\
# Written by `collector demo --serve`. The emulators it points at listen on these ports while that
# command runs: use this file with any command meanwhile (run, run --dry-run, run --tenant, status,
# report, verify, export). The emulators' tokens are in the files under demo-secrets/.
"""


def run_demo(directory: Path, plugins: Plugins, collect: Callable[[Config], int], *, serve: bool = False) -> int:
    """Start every plugin's demo emulators, write a config, collect once into `directory`; with
    `serve`, keep the emulators up afterwards (until interrupted) so that other commands can use
    the config, its secrets written to files beside it instead of this process's environment."""
    demos = plugins.demos()
    if not demos:
        print("No installed plugin offers a demo (collector_register_demos).")
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        sources: list[dict[str, Any]] = []
        for name in sorted(demos):
            sources.extend(stack.enter_context(demos[name]()))
        if serve:
            sources = [_secrets_in_files(source, directory / "demo-secrets") for source in sources]
        config_path = directory / "demo-config.toml"
        document = {"store": {"path": "."}, "logging": {"format": "text", "level": "info"}, "sources": sources}
        config_path.write_text((_SERVING if serve else _HEADER) + dump_toml(document), encoding="utf-8")
        config = load_config(config_path, plugins)
        print(f"Demo: {len(sources)} tenants from {len(demos)} emulated vendor(s) ({', '.join(sorted(demos))}) "
              f"on 127.0.0.1; store: {config.store_path}; config: {config_path}")
        code = collect(config)
        if serve:
            _serve(config_path, [f"{s['plugin']}/{s['tenant']}" for s in sources])
        return code


def _secrets_in_files(source: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A source table whose `{ env = NAME }` secrets point at files holding them instead (0600), so
    that a command started elsewhere, without this process's environment, can read them."""
    import os

    out: dict[str, Any] = {}
    for key, value in source.items():
        if isinstance(value, dict) and set(value) == {"env"} and value["env"] in os.environ:
            folder.mkdir(mode=0o700, exist_ok=True)
            path = folder / value["env"]
            path.touch(mode=0o600)
            path.write_text(os.environ[value["env"]], encoding="utf-8")
            out[key] = {"file": str(path.resolve())}
        elif isinstance(value, dict):
            out[key] = _secrets_in_files(value, folder)
        else:
            out[key] = value
    return out


def _serve(config_path: Path, tenants: list[str]) -> None:
    """Keep the emulators up until Ctrl-C or SIGTERM, saying what to try meanwhile."""
    import signal
    import threading

    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    print(f"\nThe emulators stay up until you press Ctrl-C. Meanwhile, in another terminal:\n"
          f"  collector --config {config_path} run --dry-run         what a run would fetch (nothing new now)\n"
          f"  collector --config {config_path} run --tenant {tenants[0]}   one tenant\n"
          f"  collector --config {config_path} status                 what the store holds\n"
          f"  collector --config {config_path} report                 the vendors' counts beside ours\n"
          f"  collector --config {config_path} verify --chain         the evidence chain", flush=True)
    stop.wait()
    print("Stopping the emulators.", flush=True)


def dump_toml(document: dict[str, Any]) -> str:
    """Serialize the subset of TOML the demo writes: tables, arrays of tables, scalars, dates, inline tables."""
    lines: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for table in value:
                lines.append(f"\n[[{key}]]")
                lines.extend(f"{k} = {_value(v)}" for k, v in table.items())
        else:
            lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # a TOML date or (offset) date-time literal
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
