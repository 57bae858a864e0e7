"""What each command does: load what it needs, call the engine, render the answer.

Each command imports the modules it uses when it runs, so a command that only reads the store
(`status`, `report`, `export`) or the configuration (`config check`) starts fast and never loads
the audio libraries.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from datetime import UTC
from pathlib import Path

from collector._base._errors import ConfigError
from collector._base._exits import EXIT_BUSY, EXIT_CONFIG, EXIT_OK

TYPE_CHECKING = False  # typing is not imported on the way to --help (see collector/__init__.py)
if TYPE_CHECKING:
    from datetime import datetime, tzinfo
    from typing import Any, TextIO

    from rich.console import Console

    from collector._runner._config import Config
    from collector._runner._hookspecs import PassKind
    from collector._runner._plugins import Plugins
    from collector._storage._catalog import Scope


def _log() -> Any:
    import logging

    return logging.getLogger("collector")


class Invocation:
    """One command line: its arguments, and the plugins (loaded when a command first needs them)."""

    def __init__(self, args: argparse.Namespace, plugins: Plugins | None = None) -> None:
        self.args = args
        self._plugins = plugins

    @property
    def plugins(self) -> Plugins:
        """The installed plugins (a clash between two of them is a configuration error)."""
        if self._plugins is None:
            from collector._runner._plugins import PluginError, Plugins

            try:
                self._plugins = Plugins()
            except PluginError as exc:
                raise ConfigError([f"collector: {exc}"]) from None
        return self._plugins

    def config(self, *, check_store: bool = False) -> Config:
        """The validated configuration."""
        from collector._runner._config import load_config

        return load_config(self.args.config, self.plugins, check_store=check_store)


# -- collecting --------------------------------------------------------------------------------


def config_check(call: Invocation) -> int:
    """Validate the configuration and report every problem (exit 2) or a short description (exit 0)."""
    config = call.config(check_store=True)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    enabled = config.enabled_sources
    print(f"{config.path}: OK: {len(config.sources)} source entries ({len(enabled)} enabled); "
          f"store {config.store_path}; schedule '{config.scheduler.cron}' ({config.scheduler.timezone}).")
    for settings in config.sources:
        state = "" if settings.enabled else " (disabled)"
        print(f"  {settings.plugin}/{settings.tenant}{state}")
    return 0


def run(call: Invocation) -> int:
    """One collection pass (or, with --dry-run, what one would do)."""
    config = only_tenants(call.config(), call.args.tenant)
    if call.args.dry_run:
        from ._dry_run import dry_run, render_dry_run

        render_dry_run(dry_run(config, call.plugins), sys.stdout)
        return 0
    if call.args.distributed:  # a pass asked for by hand is a new one, whatever ran this minute
        import os
        from datetime import datetime

        name = f"run-{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}-{os.urandom(3).hex()}"
        return enqueue_pass_and_report(call, config, wait=True, name=name, as_json=call.args.json)
    return collect_once(config, call, as_json=call.args.json)


def only_tenants(config: Config, names: list[str]) -> Config:
    """The configuration with only the named `SOURCE/TENANT` entries enabled (all when none is named)."""
    if not names:
        return config
    wanted = {parse_tenant(name) for name in names}
    known = {(s.plugin, s.tenant) for s in config.sources}
    unknown = sorted(f"{source}/{tenant}" for source, tenant in wanted - known)
    if unknown:
        raise ConfigError([f"{config.path}: --tenant {name}: no [[sources]] entry has this plugin and tenant."
                           for name in unknown])
    from dataclasses import replace

    return replace(config, sources=[s for s in config.sources if (s.plugin, s.tenant) in wanted])


def parse_tenant(text: str) -> tuple[str, str]:
    """`SOURCE/TENANT` as a pair (a configuration error when it is not one)."""
    source, slash, tenant = text.partition("/")
    if not slash or not source or not tenant:
        raise ConfigError([f"--tenant {text}: expected SOURCE/TENANT, e.g. xima/acme-reno."])
    return source, tenant


def schedule(call: Invocation) -> int:
    """Run passes on the configured schedule until interrupted."""
    from collector._runner._schedule import run_schedule

    return run_schedule(call.args.config, call.plugins, lambda config: collect_once(config, call, kind="schedule"))


def worker(call: Invocation) -> int:
    """Run one worker of a cluster until SIGTERM."""
    from collector._runner._cluster import run_worker

    from ._output import setup_logging

    config = call.config()
    setup_logging(call.args.log_format or config.logging.format, call.args.log_level or config.logging.level)
    return run_worker(config, call.plugins, name=call.args.name, until_idle=call.args.until_idle)


def enqueue(call: Invocation) -> int:
    """Start a pass on the cluster: one queued job per enabled tenant; with --wait, until it is done."""
    return enqueue_pass_and_report(call, call.config(), wait=call.args.wait,
                                   name=call.args.pass_name, as_json=call.args.json)


def enqueue_pass_and_report(call: Invocation, config: Config, *, wait: bool, name: str | None = None,
                            as_json: bool = False) -> int:
    """Enqueue a pass, optionally wait for it, print what happened (JSON with --json or under JSON
    logging); the exit code of its tenants (as `collector run`'s) after waiting, else 0 (or 3 if the
    pass was enqueued before)."""
    from collector._runner._cluster import require_cluster_store, start_pass
    from collector._runner._hookspecs import PassEvent
    from collector._runner._summary import TenantStatus, exit_code_of

    require_cluster_store(config)
    if wait:
        call.plugins.pass_started(PassEvent("enqueue", config))
    report = start_pass(config, name, wait=wait)
    done, runs = report.enqueued, report.tenants
    if wait:  # the distributed pass as a whole: metrics, a verify slice, notifications
        call.plugins.pass_finished(PassEvent("enqueue", config, summaries=tuple(report.summaries()),
                                             exit_code=exit_code_of([TenantStatus(run["status"]) for run in runs])))
    if as_json or (call.args.log_format or config.logging.format) == "json":
        print(json.dumps({"pass": done.name, "queued": done.queued, "already_waiting": done.already_waiting,
                          "already_enqueued": done.already_enqueued, "tenants": runs}, default=str,
                         indent=None if (call.args.log_format or config.logging.format) == "json" else 1))
    elif done.already_enqueued:
        print(f"Pass {done.name} was enqueued before; nothing queued again.")
    else:
        print(f"Pass {done.name}: {done.queued} tenant(s) queued, {done.already_waiting} already waiting.")
        for run in runs:
            print(f"  {run['source']}/{run['tenant']}: {run['status']} (run {run.get('run', '-')})")
    if done.already_enqueued:
        return EXIT_BUSY
    return exit_code_of([TenantStatus(run["status"]) for run in runs]) if wait else EXIT_OK


def migrate_store(call: Invocation) -> int:
    """Copy this configuration's store into the store `--to` configures; the source is only read."""
    from collector._runner._config import read_store_location
    from collector._storage._migrate import migrate_store as migrate
    from collector._storage._migrate import render_migration

    source, _ = read_store_location(call.args.config)
    target, _ = read_store_location(call.args.target)
    result = migrate(source, target)
    render_migration(result, sys.stdout, as_json=call.args.json)
    return result.exit_code


def demo(call: Invocation) -> int:
    """Start the emulators, write a config, collect, print the summary."""
    from ._demo import run_demo

    return run_demo(call.args.directory, call.plugins, lambda config: collect_once(config, call, kind="demo"),
                    serve=call.args.serve)


def collect_once(config: Config, call: Invocation, *, as_json: bool = False, out: TextIO | None = None,
                 kind: PassKind = "run") -> int:
    """Set up logging and progress, run one pass (the one lifecycle: `_run.run_once`), print its summary."""
    from collector._runner._run import run_once

    from ._output import interactive, live_progress, render_summary, setup_logging

    args = call.args
    fmt = args.log_format or config.logging.format
    console: Console | None = None
    if fmt == "text" and interactive():  # rich only for a person at a terminal (cron does not pay its import)
        from rich.console import Console

        console = Console(stderr=True)
    setup_logging(fmt, args.log_level or config.logging.level, console=console)
    for warning in config.warnings:
        _log().warning(warning)
    result = run_once(config, call.plugins, progress=lambda summaries: live_progress(console, summaries), kind=kind,
                      interactive=console is not None)
    if result.store_failure:
        _log().error(result.store_failure, extra={"event": "store_failed"})
    # Under JSON logging a cron line's output is read by machines: the summary is JSON too.
    render_summary(result.summaries, out or sys.stdout, as_json=as_json or fmt == "json", run_id=result.run_id,
                   checkpoint=result.checkpoint, one_line=fmt == "json")
    return result.exit_code


# -- reading the store -------------------------------------------------------------------------


def status(call: Invocation) -> int:
    """Show what the store holds."""
    from collector._runner._config import read_store_location

    from ._status import show_status

    store, configured = read_store_location(call.args.config)
    return show_status(store, configured, sys.stdout, as_json=call.args.json)


def parse_moment(text: str | None, zone: tzinfo, option: str) -> datetime | None:
    """`--from`/`--to`: a date (midnight in `zone`) or an ISO date-time (in `zone` when it has none)."""
    from datetime import date, datetime, time

    if text is None:
        return None
    try:
        moment = (datetime.combine(date.fromisoformat(text), time()) if len(text) == 10
                  else datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError([f"{option} {text}: expected a date (2026-03-01) or an ISO date-time."]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def scope_of(args: argparse.Namespace, zone: tzinfo | None = None, *, catalog: Any = None) -> Scope:
    """The tenants and dates a command covers (dates in `zone`, UTC by default). With the store's
    `catalog`, every named tenant must be one it or the configuration knows; `--from` must come
    before `--to` (a ConfigError otherwise, exit code 2: nothing is done)."""

    from collector._storage._catalog import Scope

    zone = zone or UTC
    tenants = tuple(parse_tenant(t) for t in args.tenant)
    if catalog is not None:
        for source, tenant in tenants:
            check_tenant(args, catalog, source, tenant)
    since, until = parse_moment(args.since, zone, "--from"), parse_moment(args.until, zone, "--to")
    if since is not None and until is not None and since >= until:
        raise ConfigError([f"--from {args.since} is not before --to {args.until}: nothing would be in range."])
    return Scope(tenants, since, until)


def check_tenant(args: argparse.Namespace, catalog: Any, source: str, tenant: str) -> None:
    """Refuse a SOURCE/TENANT that neither the store nor the configuration knows (a typo would
    otherwise report nothing, or reset nothing, and exit 0)."""
    from collector._runner._config import read_store_location

    known = set(catalog.tenants()) | set(read_store_location(args.config)[1])
    if (source, tenant) not in known:
        names = ", ".join(f"{s}/{t}" for s, t in sorted(known)[:10]) or "none yet"
        raise ConfigError([f"{source}/{tenant}: no such tenant in the store or in {args.config} (known: {names})."])


def open_catalog(call: Invocation) -> Any:
    """The store's catalog, read-only (no secrets, no plugins, no lock needed)."""
    from collector._base._errors import StoreFailure
    from collector._runner._config import read_store_location
    from collector._storage._catalog import SCHEMA_VERSION
    from collector._storage._store import read_only_catalog

    location, _ = read_store_location(call.args.config)
    if not location.has_catalog():
        raise StoreFailure(f"There is no store at {location} yet: `collector run` creates it.")
    catalog = read_only_catalog(location)
    if catalog.schema_version() < SCHEMA_VERSION:
        catalog.close()
        raise StoreFailure(f"The catalog {catalog.where} is from an older recording-collector; "
                           "the next `collector run` "
                           "upgrades it.")
    return catalog


def report(call: Invocation) -> int:
    """The reconciliation report."""
    from collector._base._settings_tables import resolve_timezone

    from ._report import build_report
    from ._report_output import render_csv, render_html, render_json, render_text

    args = call.args
    try:
        zone = resolve_timezone(args.timezone) if args.timezone else None
    except Exception:  # noqa: BLE001 - zoneinfo raises several kinds
        raise ConfigError([f"--timezone {args.timezone}: expected an IANA zone name such as Europe/London."]) from None
    catalog = open_catalog(call)
    try:
        result = build_report(catalog, scope_of(args, zone or resolve_timezone("UTC"), catalog=catalog), zone,
                              args.timezone,
                              _can_count(call))
    finally:
        catalog.close()
    if args.html:
        from collector._base._time import iso, now_utc

        with _output_file(args.html) as out:
            render_html(result, out, generated=iso(now_utc(), "seconds"))
        print(f"Wrote {args.html}")
    elif args.json:
        render_json(result, sys.stdout)
    elif args.csv:
        render_csv(result, sys.stdout)
    else:
        render_text(result, sys.stdout)
    return 0


def _can_count(call: Invocation) -> dict[str, bool]:
    """Per installed source: whether its plugin states the vendor's own count (none when plugins fail to load)."""
    from collector._sources._source import Source

    try:
        sources = call.plugins.sources
    except ConfigError:
        return {}
    return {name: cls.vendor_count is not Source.vendor_count for name, cls in sources.items()}


def export(call: Invocation) -> int:
    """The catalog's recordings, streamed."""
    from ._export import export_records, write_csv, write_jsonl

    args = call.args
    catalog = open_catalog(call)
    if args.chain:
        try:
            with _output_file(args.output) if args.output else nullcontext(sys.stdout) as out:
                count = write_jsonl(catalog.chain_export(), out)
        finally:
            catalog.close()
        if args.output:
            print(f"Wrote the evidence chain ({count} records) to {args.output}; check it with "
                  "`python3 archive_check.py --export FILE`.", file=sys.stderr)
        return 0
    try:
        records = export_records(catalog, scope_of(args, catalog=catalog))
        if args.output is None:
            count = (write_csv if args.format == "csv" else write_jsonl)(records, sys.stdout)
        else:
            with _output_file(args.output) as out:
                count = (write_csv if args.format == "csv" else write_jsonl)(records, out)
            print(f"Wrote {count} recordings to {args.output}", file=sys.stderr)
    finally:
        catalog.close()
    return 0


def _output_file(path: Path) -> Any:
    """A text file written atomically, with `surrogatepass` so any id round-trips."""
    from collector._storage._files import AtomicText

    return AtomicText(path)


# -- changing the store ------------------------------------------------------------------------


def _locked_store(call: Invocation) -> Any:
    from collector._runner._config import read_store_location
    from collector._storage._store import Store

    root, _ = read_store_location(call.args.config)
    return Store(root)


def verify(call: Invocation) -> int:
    """Re-read stored files and check them (or, with --chain, the evidence chain)."""
    from collector._storage._verify import VerifyOptions, render_verify, verify_store

    args = call.args
    if args.chain:
        return verify_chain(call)
    options = VerifyOptions(decode=args.decode, max_bytes=args.max_bytes, max_time=args.max_time,
                            max_rate=args.max_rate)
    store = _locked_store(call)
    try:
        with store.exclusive():
            result = verify_store(store, scope_of(args, catalog=store.catalog), options,
                                  progress=_verify_progress())
    finally:
        store.close()
    render_verify(result, sys.stdout, as_json=args.json)
    return result.exit_code


def verify_chain(call: Invocation) -> int:
    """`verify --chain`: the chain's links, its checkpoints (the catalog's, [evidence] checkpoint_dir's
    and --checkpoint files) and the catalog's stored rows against it."""
    from collector._base._exits import EXIT_OK, EXIT_TAMPERED
    from collector._runner._config import read_tables
    from collector._storage._store import Store
    from collector._storage._verify import check_chain, checkpoint_files

    location, tables, _ = read_tables(call.args.config)
    files = [*checkpoint_files(tables.evidence.checkpoint_dir), *call.args.checkpoint]
    store = Store(location, read_only=True)
    try:
        result = check_chain(store, files)
    finally:
        store.close()
    if call.args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        print()
    else:
        print("\n".join(result.lines()))
    return EXIT_OK if result.ok else EXIT_TAMPERED


def _verify_progress() -> Any:
    from ._output import Throttled

    return Throttled(lambda r: _log().info("Verified %d files (%s bytes) so far; %d problem(s).", r.files,
                                        f"{r.bytes:,}", len(r.findings), extra={"event": "verify_progress"}))


def reset(call: Invocation) -> int:
    """Restart a tenant's sync state."""
    source, tenant = parse_tenant(call.args.tenant)

    since = parse_moment(call.args.since, UTC, "--from")
    store = _locked_store(call)
    try:
        check_tenant(call.args, store.catalog, source, tenant)
        with store.exclusive():
            store.catalog.reset_tenant(source, tenant, since)
    finally:
        store.close()
    where = f"from {since.isoformat()}" if since else "from its configured start"
    print(f"{source}/{tenant}: sync state cleared; the next run lists it again {where}. Recordings already "
          "stored stay stored (listing them again changes nothing).")
    return 0


def retry(call: Invocation) -> int:
    """Queue given-up items again."""
    args = call.args
    statuses = [s for s, wanted in (("failed", args.failed), ("quarantined", args.quarantined), ("lost", args.lost))
                if wanted] or ["failed"]
    store = _locked_store(call)
    try:
        with store.exclusive():
            count = store.catalog.retry(scope_of(args, catalog=store.catalog), statuses)
    finally:
        store.close()
    print(f"{count} item(s) ({', '.join(statuses)}) queued again; the next run fetches them.")
    return 0


# -- plugins -----------------------------------------------------------------------------------


def plugins(call: Invocation) -> int:
    """List the installed plugins."""
    infos = sorted(call.plugins.infos.values(), key=lambda info: info.name)
    if call.args.json:
        import json

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


def new_plugin(call: Invocation) -> int:
    """Write a complete plugin distribution (for a made-up vendor) to replace file by file."""
    from collector._scaffold import ScaffoldError, default_directory
    from collector._scaffold import new_plugin as write

    args = call.args
    try:
        files = write(args.name, args.directory)
    except ScaffoldError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    target = args.directory or default_directory(args.name)
    print(f"Wrote the plugin {args.name!r} to {target}/ ({len(files)} files): a working plugin for a "
          "made-up vendor, to replace with yours file by file (README: \"Writing a plugin\").")
    print(f"Next: pip install -e '{target}[test]', then python -m pytest {target}")
    return 0
