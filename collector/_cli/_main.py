"""The `collector` command line: parsing, the error-to-exit-code mapping, nothing else.

    collector config check                      report every configuration problem at once
    collector run [--tenant S/T] [--dry-run]    one collection pass (for cron or systemd)
    collector schedule                          stay up; run passes on the configured cron schedule
    collector worker [--name N]                 one worker of a cluster (PostgreSQL catalog): collect what is queued
    collector enqueue [--pass NAME] [--wait]    start a pass on the cluster (once per NAME)
    collector migrate-store --to CONFIG         copy this store into another (e.g. PostgreSQL + S3), verified
    collector status [--json]                   what the store holds, the last run, what waits and why
    collector verify [--decode] [--max-bytes N] re-read stored files and check them against the catalog
    collector verify --chain                    check the evidence chain, its checkpoints and the catalog
    collector report [--json|--csv|--html F]    per tenant and day: what the vendor listed, what is stored
    collector export [--format jsonl|csv]       the catalog's recordings with their files, streamed
    collector reset SOURCE/TENANT [--from DATE] restart a tenant's sync state
    collector retry [--failed] [--tenant S/T]   queue given-up items again
    collector plugins [--json]                  installed plugins, versions and their sources
    collector demo [DIR] [--serve]              collect from the bundled emulators into DIR
    collector new-plugin NAME [DIR]             write a new plugin distribution to start from

Global options (`--config`, `--log-format`, `--log-level`) go before or after the command. The
configuration file is `--config`, else `$COLLECTOR_CONFIG`, else `./collector.toml`. Exit codes
are defined and documented in `collector._base._exits` (and docs/guide/exit-codes.md). Modules are
imported by the command that needs them, so `--help`, `status` or `config check` never load the
audio libraries.
"""

from __future__ import annotations

import argparse
import os
import sys

from collector._base._errors import ConfigError, RunError
from collector._base._exits import EXIT_BUSY, EXIT_CONFIG, EXIT_STORE

TYPE_CHECKING = False  # typing is not imported on the way to --help (see collector/__init__.py)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `collector` script."""

    def capture() -> None:
        from ._native import capture_native_stderr

        capture_native_stderr()

    try:
        code = run_cli(argv, before_command=capture)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`collector status | head`): what it wanted was written. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


def run_cli(argv: list[str] | None = None, plugins: object | None = None, *,
            before_command: Callable[[], None] | None = None) -> int:
    """Parse arguments, run the command, return its exit code (`plugins`: embed with your own).

    `before_command` runs once the arguments are parsed (`--help` and usage errors never reach it).
    """
    args = build_parser().parse_args(argv)
    if before_command is not None:
        before_command()
    from ._output import setup_logging

    setup_logging(args.log_format or "text", args.log_level or "info")
    from ._commands import Invocation

    invocation = Invocation(args, plugins)  # type: ignore[arg-type]
    try:
        return int(args.command(invocation))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        print(f"collector: {len(exc.problems)} configuration problem(s); nothing was run.", file=sys.stderr)
        return EXIT_CONFIG
    except RunError as exc:
        from collector._storage._store import StoreBusy

        print(f"collector: {exc.reason}", file=sys.stderr)
        return EXIT_BUSY if isinstance(exc, StoreBusy) else EXIT_STORE
    except KeyboardInterrupt:
        print("collector: interrupted; the next run resumes where this one stopped.", file=sys.stderr)
        return 130


class _Version(argparse.Action):
    """`--version`: the installed version, looked up only when asked (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from collector._base._version import installed_version

        print(f"recording-collector {installed_version()}")
        parser.exit()


def _path(text: str) -> Any:
    """A path argument (pathlib is imported when a command runs, not for `--help`)."""
    from pathlib import Path

    return Path(text)


def _globals(top: bool) -> argparse.ArgumentParser:
    """The options every command accepts, before or after its name (defaults only at the top)."""
    parser = argparse.ArgumentParser(add_help=False)
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--config", "-c", type=_path,
                        default=default(os.environ.get("COLLECTOR_CONFIG", "collector.toml")),
                        help="configuration file (default: $COLLECTOR_CONFIG or ./collector.toml)")
    parser.add_argument("--log-format", choices=("text", "json"), default=default(None),
                        help="override [logging].format")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=default(None),
                        help="override [logging].level")
    return parser


def _scope(parser: argparse.ArgumentParser, *, dates: bool = True) -> None:
    parser.add_argument("--tenant", action="append", default=[], metavar="SOURCE/TENANT",
                        help="only this tenant (repeatable)")
    if dates:
        parser.add_argument("--from", dest="since", metavar="DATE", help="recordings started from this date (or time)")
        parser.add_argument("--to", dest="until", metavar="DATE", help="recordings started before this date (or time)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    from . import _commands as c

    parser = argparse.ArgumentParser(prog="collector", parents=[_globals(True)],
                                     description="Collect call recordings into one store, and prove they arrived.")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, parents=[_globals(False)], description=help_text)
        sub.set_defaults(command=handler)
        return sub

    config = commands.add_parser("config", help="configuration tools", parents=[_globals(False)])
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    config_commands.add_parser("check", help="report every configuration problem at once",
                               parents=[_globals(False)]).set_defaults(command=c.config_check)

    run = command("run", "collect once from every enabled source", c.run)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--tenant", action="append", default=[], metavar="SOURCE/TENANT",
                     help="only this tenant (repeatable)")
    run.add_argument("--dry-run", action="store_true", help="list what would be collected; fetch and store nothing")
    run.add_argument("--distributed", action="store_true",
                     help="run the pass on the cluster's workers (collector enqueue --wait)")

    command("schedule", "run passes on the configured cron schedule", c.schedule)

    worker = command("worker", "one worker of a cluster: collect the tenants the queue hands it", c.worker)
    worker.add_argument("--name", help="the worker's name (default: host name and process id)")
    worker.add_argument("--until-idle", action="store_true", help="stop once the queue is empty")

    enqueue = command("enqueue", "start a pass on the cluster's workers (once per pass name)", c.enqueue)
    enqueue.add_argument("--pass", dest="pass_name", metavar="NAME",
                         help="the pass's name (default: the current UTC minute); "
                              "a name already enqueued starts nothing")
    enqueue.add_argument("--wait", action="store_true", help="wait until every tenant of the pass is done")
    enqueue.add_argument("--json", action="store_true", help="print the result as JSON")

    migrate = command("migrate-store", "copy this store into another (e.g. PostgreSQL + S3), verified; "
                      "the source is left untouched", c.migrate_store)
    migrate.add_argument("--to", dest="target", type=_path, required=True, metavar="CONFIG",
                         help="a configuration file whose [store] is the target")
    migrate.add_argument("--json", action="store_true", help="print the result as JSON")

    status = command("status", "what the store holds, the last run, what waits and why", c.status)
    status.add_argument("--json", action="store_true", help="print as JSON")

    verify = command("verify", "re-read stored files and check them against the catalog", c.verify)
    _scope(verify)
    verify.add_argument("--decode", action="store_true", help="decode audio to the end again, not only hash it")
    verify.add_argument("--max-bytes", type=int, metavar="N", help="stop after reading N bytes (continue next time)")
    verify.add_argument("--max-time", type=float, metavar="SECONDS", help="stop after this long (continue next time)")
    verify.add_argument("--max-rate", type=int, metavar="BYTES", help="read at most this many bytes a second")
    verify.add_argument("--chain", action="store_true",
                        help="check the evidence chain, its checkpoints and the catalog's rows against it instead")
    verify.add_argument("--checkpoint", type=_path, action="append", default=[], metavar="FILE",
                        help="with --chain: a checkpoint file kept outside the store (repeatable)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")

    report = command("report", "per tenant and day: what the vendor listed, what is stored, what is not", c.report)
    _scope(report)
    report.add_argument("--timezone", default=None, help="the zone days are counted in (default: each tenant's own, "
                        "as its vendor counts were made; UTC before any); --from/--to are read in it (default UTC)")
    formats = report.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print as JSON")
    formats.add_argument("--csv", action="store_true", help="print as CSV")
    formats.add_argument("--html", type=_path, metavar="FILE", help="write a self-contained HTML page")

    export = command("export", "the catalog's recordings with their files, as JSON lines or CSV", c.export)
    _scope(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)")
    export.add_argument("--output", "-o", type=_path, metavar="FILE", help="write to FILE (default: standard output)")
    export.add_argument("--chain", action="store_true",
                        help="export the evidence chain for archive_check.py instead (JSON lines)")

    reset = command("reset", "restart a tenant's sync state (the next run lists again)", c.reset)
    reset.add_argument("tenant", metavar="SOURCE/TENANT")
    reset.add_argument("--from", dest="since", metavar="DATE", help="the next run lists from this date")

    retry = command("retry", "queue failed or given-up items again", c.retry)
    _scope(retry)
    retry.add_argument("--failed", action="store_true", help="failed items (the default)")
    retry.add_argument("--quarantined", action="store_true", help="quarantined downloads and transcripts")
    retry.add_argument("--lost", action="store_true", help="items verify found lost (if the vendor has them again)")

    plugins = command("plugins", "list installed plugins and their sources", c.plugins)
    plugins.add_argument("--json", action="store_true", help="print as JSON")

    demo = command("demo", "collect from the bundled vendor emulators", c.demo)
    demo.add_argument("directory", nargs="?", type=_path, default="collector-demo",
                      help="store directory (default: ./collector-demo)")
    demo.add_argument("--serve", action="store_true",
                      help="keep the emulators up afterwards, so other commands can use the demo's config")

    new_plugin = command("new-plugin", "write a new plugin distribution to start from", c.new_plugin)
    new_plugin.add_argument("name", help="the plugin's name: lowercase letters, digits and _ (e.g. acme)")
    new_plugin.add_argument("directory", nargs="?", type=_path,
                            help="where to write it, new or empty (default: ./collector-NAME)")
    return parser
