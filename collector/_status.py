"""`collector status`: per source and tenant, what the store holds, the last run, what waits and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from ._catalog import Catalog
from ._store import CATALOG_NAME


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
        "quarantined_items": counts["quarantined_items"],
        "sync_state": catalog.load_state(source, tenant),
        "last_run": catalog.last_run(source, tenant),
        "problems": catalog.problems(source, tenant),
    }


def show_status(store_path: Path, configured: list[tuple[str, str]], out: TextIO, *, as_json: bool) -> int:
    """Print the status of every tenant in the store (and configured tenants not collected yet)."""
    path = store_path / CATALOG_NAME
    if not path.is_file():
        out.write(f"No store at {store_path} yet: `collector run` creates it.\n")
        return 0
    catalog = Catalog(path, read_only=True)
    try:
        known = set(catalog.tenants()) | set(configured)
        report = [tenant_status(catalog, source, tenant) for source, tenant in sorted(known)]
    finally:
        catalog.close()
    if as_json:
        json.dump({"store": str(store_path), "tenants": report}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"Store {store_path}\n")
        for entry in report:
            _write_tenant(entry, out)
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())) or "none"


def _write_tenant(entry: dict[str, Any], out: TextIO) -> None:
    out.write(f"\n{entry['source']}/{entry['tenant']}\n")
    out.write(f"  recordings:  {entry['recordings']}\n")
    out.write(f"  audio:       {_counts(entry['audio'])} ({entry['audio_bytes']:,} bytes stored)\n")
    out.write(f"  transcripts: {_counts(entry['transcripts'])}\n")
    last = entry["last_run"]
    if last:
        out.write(f"  last run:    #{last['run']} {last['started']} -> {last['finished'] or 'unfinished'}: "
                  f"{last['status']}, {last['new_recordings']} new, {last['audio_files']} audio files, "
                  f"{last['deferred']} deferred\n")
        for message in last.get("messages", []):
            out.write(f"               {message}\n")
    else:
        out.write("  last run:    never\n")
    for problem in entry["problems"]:
        out.write(f"  {problem['kind']} {problem['id']}: {problem['status']} "
                  f"(attempts {problem['attempts']}): {problem['reason']}\n")
