"""`collector status`: per source and tenant, what the store holds, the last run, what waits and why.

It opens the catalog read-only: it never writes, and never waits for a run's write lock (WAL
readers see the last committed state while a run writes).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from ._catalog import Catalog
from ._catalog._schema import LATEST
from ._errors import StoreFailure
from ._store import StoreLocation, describe_store_error, read_only_catalog


def tenant_status(catalog: Catalog, source: str, tenant: str) -> dict[str, Any]:
    """Everything `status` reports for one tenant, as plain data."""
    counts = catalog.work_counts(source, tenant)

    def by_status(table: str) -> dict[str, int]:
        prefix = f"{table}_"
        return {k[len(prefix):]: v for k, v in counts.items() if k.startswith(prefix) and k != "audio_bytes"}

    return {
        "source": source,
        "tenant": tenant,
        "recordings": counts["recordings"],
        "audio": by_status("audio"),
        "audio_bytes": counts["audio_bytes"],
        "transcripts": by_status("transcripts"),
        "quarantine": {"current": counts["quarantined_items"], "history": counts["quarantine_history"]},
        "sync_state": catalog.load_state(source, tenant),
        "last_run": catalog.last_run(source, tenant),
        "problems": catalog.problems(source, tenant),
    }


def show_status(location: StoreLocation, configured: list[tuple[str, str]], out: TextIO, *, as_json: bool) -> int:
    """Print the status of every tenant in the store (and configured tenants not collected yet)."""
    store_path = location.root
    if not location.has_catalog():
        out.write(f"No store at {store_path} yet: `collector run` creates it.\n")
        return 0
    catalog = read_only_catalog(location)
    try:
        if catalog.schema_version() < LATEST:
            raise StoreFailure(
                f"The catalog {catalog.where} is from an older recording-collector (schema {catalog.schema_version()}, "
                f"this one writes {LATEST}); the next `collector run` upgrades it, then `status` can read it.")
        known = set(catalog.tenants()) | set(configured)
        report = [tenant_status(catalog, source, tenant) for source, tenant in sorted(known)]
    except catalog.errors as exc:
        raise StoreFailure(describe_store_error(store_path, exc, "cannot be read")) from None
    finally:
        catalog.close()
    if as_json:
        json.dump({"store": str(location), "tenants": report}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"Store {location}\n")
        for entry in report:
            _write_tenant(entry, out)
    return 0


def _counts(counts: dict[str, int]) -> str:
    shown = {"pending": "to fetch", "waiting": "waiting for the vendor"}
    return ", ".join(f"{n} {shown.get(status, status.replace('_', ' '))}"
                     for status, n in sorted(counts.items())) or "none"


def _write_tenant(entry: dict[str, Any], out: TextIO) -> None:
    out.write(f"\n{entry['source']}/{entry['tenant']}\n")
    out.write(f"  recordings:  {entry['recordings']}\n")
    out.write(f"  audio:       {_counts(entry['audio'])} ({entry['audio_bytes']:,} bytes stored)\n")
    out.write(f"  transcripts: {_counts(entry['transcripts'])}\n")
    quarantine = entry["quarantine"]
    out.write(f"  quarantine:  {quarantine['current']} now ({quarantine['history']} resolved since)\n")
    last = entry["last_run"]
    if last:
        out.write(f"  last run:    #{last['run']} {last['started']} -> {last['finished'] or 'unfinished'}: "
                  f"{last['status']}, {last['new_recordings']} new, {last['audio_files']} audio files, "
                  f"{last.get('waiting', 0)} waiting, {last['deferred']} deferred\n")
        for message in last.get("messages", []):
            out.write(f"               {message}\n")
    else:
        out.write("  last run:    never\n")
    for problem in entry["problems"]:
        resumes = f" (resumes {problem['resumes']})" if problem.get("resumes") else ""
        out.write(f"  {problem['kind']} {problem['id']!r}: {problem['status']}{resumes} "
                  f"(attempts {problem['attempts']}): {problem['reason']}\n")
