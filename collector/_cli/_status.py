"""`collector status`: per source and tenant, what the store holds, the last run, what waits and why
(parents whose children are still to come included).

It opens the catalog read-only: it never writes, and never waits for a run's write lock (WAL
readers see the last committed state while a run writes).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from collector._base._errors import StoreFailure
from collector._storage._catalog import SCHEMA_VERSION, Catalog
from collector._storage._store import StoreLocation, describe_store_error, read_only_catalog


def tenant_status(catalog: Catalog, source: str, tenant: str) -> dict[str, Any]:
    """Everything `status` reports for one tenant, as plain data."""
    counts = catalog.work_counts(source, tenant)

    def by_status(table: str) -> dict[str, int]:
        prefix = f"{table}_"
        return {k[len(prefix):]: v for k, v in counts.items() if k.startswith(prefix) and k != "audio_bytes"}

    revisits = catalog.revisit_problems(source, tenant)

    return {
        "source": source,
        "tenant": tenant,
        "recordings": counts["recordings"],
        "audio": by_status("audio"),
        "audio_bytes": counts["audio_bytes"],
        "transcripts": by_status("transcripts"),
        "evidence": catalog.evidence_counts(source, tenant),
        "retention": catalog.retention_counts(source, tenant),
        "quarantine": {"current": counts["quarantined_items"], "history": counts["quarantine_history"]},
        "revisits": catalog.revisit_counts(source, tenant),
        "sync_state": catalog.load_state(source, tenant),
        "last_run": catalog.last_run(source, tenant),
        "problems": catalog.problems(source, tenant, PROBLEMS_SHOWN) + revisits,
        "problems_total": catalog.problem_count(source, tenant) + len(revisits),
    }


PROBLEMS_SHOWN = 20
"""Unsettled items `status` lists per tenant, worst first (`problems_total` counts them all)."""


def show_status(location: StoreLocation, configured: list[tuple[str, str]], out: TextIO, *, as_json: bool) -> int:
    """Print the status of every tenant in the store (and configured tenants not collected yet)."""
    store_path = location.root
    if not location.has_catalog():
        out.write(f"No store at {store_path} yet: `collector run` creates it.\n")
        return 0
    catalog = read_only_catalog(location)
    try:
        if catalog.schema_version() < SCHEMA_VERSION:
            raise StoreFailure(
                f"The catalog {catalog.where} is from an older recording-collector (schema {catalog.schema_version()}, "
                f"this one writes {SCHEMA_VERSION}); the next `collector run` upgrades it, then `status` can read it.")
        known = set(catalog.tenants()) | set(configured)
        report = [tenant_status(catalog, source, tenant) for source, tenant in sorted(known)]
        chain = chain_status(catalog)
    except catalog.errors as exc:
        raise StoreFailure(describe_store_error(store_path, exc, "cannot be read")) from None
    finally:
        catalog.close()
    if as_json:
        json.dump({"store": str(location), "chain": chain, "tenants": report}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"Store {location}\n")
        checkpoint = chain["last_checkpoint"]
        out.write(f"Evidence chain: {chain['events']:,} events, head {chain['head'][:16]}; last checkpoint "
                  + (f"{checkpoint['at']} ({checkpoint['events']:,} events"
                     + (f", copied to {', '.join(checkpoint['copies'])})" if checkpoint["copies"] else ", no copy "
                        "outside the store: see [evidence])") if checkpoint else "none yet") + "\n")
        for entry in report:
            _write_tenant(entry, out)
    return 0


def chain_status(catalog: Catalog) -> dict[str, Any]:
    """The evidence chain's length and head, and its last checkpoint."""
    events, head = catalog.chain_head()
    checkpoints = catalog.checkpoints()
    last = checkpoints[-1] if checkpoints else None
    return {"events": events, "head": head,
            "last_checkpoint": {"at": last.at, "events": last.events, "head": last.head, "copies": list(last.copies)}
            if last else None}


def _evidence(counts: dict[str, int]) -> str:
    from collector._storage._proof import LEVELS

    names = {"checksum": "proven by the vendor's checksum", "complete": "proven complete",
             "decodes": "decode only (not proven)", "unrecorded": "stored before evidence was recorded"}
    shown = (f"{counts[level]} {names[level]}" for level in (*LEVELS, "unrecorded") if counts.get(level))
    return ", ".join(shown) or "none"


def _retention(retention: dict[str, Any]) -> str:
    parts = []
    if retention["legal_hold"]:
        parts.append(f"{retention['legal_hold']} under legal hold")
    if retention["retained"]:
        parts.append(f"{retention['retained']} retained by the vendor until as late as "
                     f"{retention['latest_retain_until']}")
    return ", ".join(parts) or "no hold, no retention date to come"


def _counts(counts: dict[str, int]) -> str:
    shown = {"pending": "to fetch", "waiting": "waiting for the vendor"}
    return ", ".join(f"{n} {shown.get(status, status.replace('_', ' '))}"
                     for status, n in sorted(counts.items())) or "none"


def _revisits(revisits: dict[str, Any]) -> str | None:
    """The parents line: by status, the children found, when the next visit is due (None: no parent)."""
    statuses = ("pending", "settled", "expired", "unavailable")
    if not any(revisits.get(status) for status in statuses):
        return None
    shown = {"pending": "children still to come"}
    parts = ", ".join(f"{revisits[status]} {shown.get(status, status)}" for status in statuses if revisits.get(status))
    due = f"; next visit due {revisits['next_due']}" if revisits.get("next_due") else ""
    return f"{parts} ({revisits['children']} recordings found by visits{due})"


def _write_tenant(entry: dict[str, Any], out: TextIO) -> None:
    out.write(f"\n{entry['source']}/{entry['tenant']}\n")
    out.write(f"  recordings:  {entry['recordings']}\n")
    out.write(f"  audio:       {_counts(entry['audio'])} ({entry['audio_bytes']:,} bytes stored)\n")
    out.write(f"  evidence:    {_evidence(entry['evidence'])}\n")
    out.write(f"  retention:   {_retention(entry['retention'])}\n")
    out.write(f"  transcripts: {_counts(entry['transcripts'])}\n")
    quarantine = entry["quarantine"]
    out.write(f"  quarantine:  {quarantine['current']} now ({quarantine['history']} resolved since)\n")
    if (parents := _revisits(entry["revisits"])) is not None:
        out.write(f"  parents:     {parents}\n")
    last = entry["last_run"]
    if last:
        out.write(f"  last run:    #{last['run']} {last['started']} -> {last['finished'] or 'unfinished'}: "
                  f"{last['status']}, {last['new_recordings']} new, {last['audio_files']} audio files, "
                  f"{last.get('waiting', 0)} waiting, {last['deferred']} deferred\n")
        for message in last.get("messages", []):
            out.write(f"               {message}\n")
    else:
        out.write("  last run:    never\n")
    if entry["problems_total"]:
        out.write(f"  unsettled:   {entry['problems_total']} item(s), worst first:\n")
    for problem in entry["problems"]:
        resumes = f" (resumes {problem['resumes']})" if problem.get("resumes") else ""
        tries = "visits" if problem["kind"] == "revisit" else "attempts"
        out.write(f"  {problem['kind']} {problem['id']!r}: {problem['status']}{resumes} "
                  f"({tries} {problem['attempts']}): {problem['reason']}\n")
    if (more := entry["problems_total"] - len(entry["problems"])) > 0:
        out.write(f"  ... and {more} more (`collector export --tenant {entry['source']}/{entry['tenant']}` lists "
                  "every item with its status)\n")
