"""The `collector` command line.

    collector [--config FILE] config check     report every configuration problem at once
    collector [--config FILE] run [--json]     one collection pass (for cron or systemd)
    collector [--config FILE] schedule         stay up; run passes on the configured cron schedule
    collector [--config FILE] status [--json]  what the store holds, the last run, what is pending
    collector plugins [--json]                 installed plugins, versions and their sources
    collector demo [DIR]                       collect from the bundled emulators into DIR
    collector new-plugin NAME [DIR]            write a new plugin distribution to start from

The configuration file is `--config`, else `$COLLECTOR_CONFIG`, else `./collector.toml`.
Exit codes are documented in `collector._summary` (0 complete, 1 partial, 2 config, 3 busy).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console

from ._config import DEFAULT_CONFIG, Config, load_config, read_store_location
from ._errors import ConfigError, RunError
from ._output import interactive, live_progress, render_summary, setup_logging, summary_line
from ._plugins import PluginError, Plugins
from ._run import run_once
from ._store import StoreBusy
from ._summary import EXIT_BUSY, EXIT_CONFIG, EXIT_PARTIAL

log = logging.getLogger("collector")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `collector` script."""
    sys.exit(run_cli(argv))


def run_cli(argv: list[str] | None = None, plugins: Plugins | None = None) -> int:
    """Parse arguments, run the command, return its exit code (`plugins`: embed with your own)."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_format or "text", args.log_level or "info")
    try:
        plugins = plugins or Plugins()
    except PluginError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return int(args.command(args, plugins))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        print(f"collector: {len(exc.problems)} configuration problem(s); nothing was run.", file=sys.stderr)
        return EXIT_CONFIG
    except StoreBusy as exc:
        print(f"collector: {exc.reason}", file=sys.stderr)
        return EXIT_BUSY
    except RunError as exc:
        print(f"collector: {exc.reason}", file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        print("collector: interrupted; the next run resumes where this one stopped.", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collector", description="Collect call recordings into a local store.")
    parser.add_argument("--config", "-c", type=Path,
                        default=Path(os.environ.get("COLLECTOR_CONFIG", DEFAULT_CONFIG)),
                        help="configuration file (default: $COLLECTOR_CONFIG or ./collector.toml)")
    parser.add_argument("--log-format", choices=("text", "json"), help="override [logging].format")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="override [logging].level")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    config_commands.add_parser("check", help="report every configuration problem at once").set_defaults(
        command=cmd_config_check)

    run = commands.add_parser("run", help="collect once from every enabled source")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(command=cmd_run)

    commands.add_parser("schedule", help="run passes on the configured cron schedule").set_defaults(
        command=cmd_schedule)

    status = commands.add_parser("status", help="what the store holds, the last run, what is pending")
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(command=cmd_status)

    plugins = commands.add_parser("plugins", help="list installed plugins and their sources")
    plugins.add_argument("--json", action="store_true", help="print as JSON")
    plugins.set_defaults(command=cmd_plugins)

    demo = commands.add_parser("demo", help="collect from the bundled vendor emulators")
    demo.add_argument("directory", nargs="?", type=Path, default=Path("collector-demo"),
                      help="store directory (default: ./collector-demo)")
    demo.set_defaults(command=cmd_demo)

    new_plugin = commands.add_parser("new-plugin", help="write a new plugin distribution to start from")
    new_plugin.add_argument("name", help="the plugin's name: lowercase letters, digits and _ (e.g. acme)")
    new_plugin.add_argument("directory", nargs="?", type=Path,
                            help="where to write it, new or empty (default: ./collector-NAME)")
    new_plugin.set_defaults(command=cmd_new_plugin)
    return parser


# -- commands ------------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace, plugins: Plugins) -> int:
    """Validate the configuration and report every problem (exit 2) or a short description (exit 0)."""
    config = load_config(args.config, plugins)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    enabled = config.enabled_sources
    print(f"{config.path}: OK: {len(config.sources)} source entries ({len(enabled)} enabled); "
          f"store {config.store_path}; schedule '{config.scheduler.cron}' ({config.scheduler.timezone}).")
    for settings in config.sources:
        state = "" if settings.enabled else " (disabled)"
        print(f"  {settings.plugin}/{settings.tenant}{state}")
    return 0


def cmd_run(args: argparse.Namespace, plugins: Plugins) -> int:
    """One collection pass."""
    config = load_config(args.config, plugins)
    return collect_once(config, plugins, args=args, as_json=args.json)


def cmd_schedule(args: argparse.Namespace, plugins: Plugins) -> int:
    """Run passes on the configured schedule until interrupted."""
    from ._schedule import run_schedule

    return run_schedule(args.config, plugins, lambda config: collect_once(config, plugins, args=args))


def cmd_status(args: argparse.Namespace, plugins: Plugins) -> int:
    """Show what the store holds."""
    from ._status import show_status

    store, configured = read_store_location(args.config)
    return show_status(store, configured, sys.stdout, as_json=args.json)


def cmd_plugins(args: argparse.Namespace, plugins: Plugins) -> int:
    """List the installed plugins."""
    infos = sorted(plugins.infos.values(), key=lambda info: info.name)
    if args.json:
        json.dump([vars(info) for info in infos], sys.stdout, indent=2)
        print()
        return 0
    if not infos:
        print("No plugins installed.")
    for info in infos:
        version = f" {info.version}" if info.version else ""
        dist = f" ({info.distribution}{version})" if info.distribution else ""
        sources = ", ".join(info.sources) or "none"
        print(f"{info.name}{dist}: sources: {sources}")
        if info.error:
            print(f"  BROKEN: {info.error}")
    return 1 if any(info.error for info in infos) else 0


def cmd_demo(args: argparse.Namespace, plugins: Plugins) -> int:
    """Start the emulators, write a config, collect, print the summary."""
    from ._demo import run_demo

    return run_demo(args.directory, plugins, lambda config: collect_once(config, plugins, args=args))


def cmd_new_plugin(args: argparse.Namespace, plugins: Plugins) -> int:
    """Write a complete plugin distribution (for a made-up vendor) to replace file by file."""
    from ._scaffold import ScaffoldError, default_directory, new_plugin

    try:
        files = new_plugin(args.name, args.directory)
    except ScaffoldError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    target = args.directory or default_directory(args.name)
    print(f"Wrote the plugin {args.name!r} to {target}/ ({len(files)} files): a working plugin for a "
          "made-up vendor, to replace with yours file by file (README: \"Writing a plugin\").")
    print(f"Next: pip install -e '{target}[test]', then python -m pytest {target}")
    return 0


# -- one pass, as every command runs it ----------------------------------------------------------


def collect_once(config: Config, plugins: Plugins, *, args: argparse.Namespace | None = None,
                 as_json: bool = False, out: TextIO | None = None) -> int:
    """Lock the store, run one pass with progress, print the summary, return the exit code."""
    fmt = (args.log_format if args else None) or config.logging.format
    level = (args.log_level if args else None) or config.logging.level
    console = Console(stderr=True) if fmt == "text" and interactive() else None
    setup_logging(fmt, level, console=console)
    for warning in config.warnings:
        log.warning(warning)
    result = run_once(config, plugins, progress=lambda summaries: live_progress(console, summaries))
    if console is None:
        for summary in result.summaries:
            log.info(summary_line(summary))
    render_summary(result.summaries, out or sys.stdout, as_json=as_json, run_id=result.run_id)
    return result.exit_code

