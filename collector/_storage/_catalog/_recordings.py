"""Recordings and sync state: one listing page committed with the state that covers it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from collector._base._model import Recording, RecordingKey
from collector._base._revisit import Revisit
from collector._base._time import iso, now_utc

from ._revisits import Visited, finish_visit, queue_revisits
from ._rows import ROW_RETAIN_UNTIL, UPSERT_RECORDING, PageCounts, Rejected, WorkPlan, recording_row, to_json_text
from ._work import WorkCatalog, fingerprint

TYPE_CHECKING = False
if TYPE_CHECKING:  # a type only: `status` reads the catalog without the sources' HTTP stack
    from collector._sources._source import ListingCount


class RecordingsCatalog(WorkCatalog):
    """Committing pages of recordings (with their work rows and the sync state) and audit entries."""

    def commit_page(self, source: str, tenant: str, recordings: Sequence[Recording], rejects: Sequence[Rejected],
                    state: dict[str, Any] | None, plan: WorkPlan, listing: ListingCount | None = None,
                    revisits: Sequence[Revisit] = (), visited: Visited | None = None) -> PageCounts:
        """Upsert a page of recordings, queue their work, quarantine rejects, and save the state
        (and the vendor's count for the window the page completes). `revisits` are the parents
        the page named whose children are still to come; `visited` records the visit of a parent
        whose children these recordings are (see `_revisits`).

        All in one transaction: if the process dies before it commits, none of it happened and
        the state still points before this page, so the next run fetches the page again.
        """
        stamp = iso(now_utc())
        unique = {r.vendor_id: r for r in recordings}  # a page listing an id twice keeps the last
        with self._transaction((source, tenant)) as db:
            rows = db.execute(
                "SELECT vendor_id, media, retain_until, legal_hold FROM recordings WHERE source=? AND tenant=? "
                f"AND vendor_id {self.dialect.in_json_list}",
                (source, tenant, self.dialect.json_list(unique)),
            ).fetchall()
            existing = {vendor_id: media for vendor_id, media, _, _ in rows}
            upserts = {vendor_id: recording_row(r, stamp) for vendor_id, r in unique.items()}
            self._retention_changes(db, unique, upserts,
                                    {vendor_id: (until, bool(hold)) for vendor_id, _, until, hold in rows})
            changed = db.executemany(UPSERT_RECORDING, list(upserts.values())).rowcount
            new = len(unique) - len(existing)
            if plan.audio:
                self._queue_audio(db, unique.values(), stamp, plan, previous_media=existing)
            if plan.transcripts:
                self._queue_transcripts(db, unique.values(), stamp, plan)
            for kind, wanted in (("audio", plan.audio), ("transcript", plan.transcripts)):
                if not wanted and new:  # these recordings get no row of this kind: coverage is broken
                    db.execute("DELETE FROM work_coverage WHERE source=? AND tenant=? AND kind=?",
                               (source, tenant, kind))
            if new:
                db.execute("INSERT INTO tenant_counts VALUES (?,?,?) ON CONFLICT(source, tenant) DO UPDATE SET "
                           "recordings=tenant_counts.recordings+excluded.recordings", (source, tenant, new))
            quarantined = self._quarantine_items(db, source, tenant, rejects, stamp)
            parents = queue_revisits(db, self.dialect, source, tenant, revisits, stamp, plan.revisit_interval)
            parent = None if visited is None else finish_visit(
                db, source, tenant, Visited(visited.item_id, visited.complete, new), stamp, plan.revisit_interval)
            db.execute("UPDATE quarantine SET resolved=? WHERE source=? AND tenant=? AND kind='metadata' "
                       f"AND resolved IS NULL AND item_id {self.dialect.in_json_list}",
                       (stamp, source, tenant, self.dialect.json_list(unique)))
            if listing is not None:
                db.execute(
                    "INSERT INTO listings VALUES (?,?,?,?,?,?,?) ON CONFLICT(source, tenant, window_start, window_end) "
                    "DO UPDATE SET vendor_count=excluded.vendor_count, listed=excluded.listed, at=excluded.at",
                    (source, tenant, iso(listing.start), iso(listing.end), listing.vendor_count, listing.listed, stamp),
                )
            if state is not None:
                db.execute("DELETE FROM restarts WHERE source=? AND tenant=?", (source, tenant))
                db.execute(
                    "INSERT INTO sync_state VALUES (?,?,?,?) ON CONFLICT(source, tenant) "
                    "DO UPDATE SET state=excluded.state, updated=excluded.updated",
                    (source, tenant, json.dumps(state, separators=(",", ":")), stamp),  # strict: no str() fallback
                )
        return PageCounts(new=new, updated=changed - new, quarantined=quarantined,
                          new_ids=frozenset(unique.keys() - existing.keys()), revisits=parents,
                          visited=parent)

    def _retention_changes(self, db: Any, recordings: dict[str, Recording], upserts: dict[str, tuple[Any, ...]],
                           before: dict[str, tuple[str | None, bool]]) -> None:
        """Chain a `retention` event for every recording whose vendor retention or legal hold is new
        or changed, and mark its stored audio for the change to reach the object (`retention_due`).
        `upserts` are the recordings' rows, whose retain-until text is reused (formatted once)."""
        events, due = [], []
        for vendor_id, r in recordings.items():
            until, hold = upserts[vendor_id][ROW_RETAIN_UNTIL], r.legal_hold
            previous = before.get(vendor_id, (None, False))
            if (until, hold) == previous:
                continue
            events.append({"type": "retention", "source": r.source, "tenant": r.tenant, "vendor_id": vendor_id,
                           "retain_until": until, "legal_hold": hold, "was_retain_until": previous[0],
                           "was_legal_hold": previous[1] if vendor_id in before else None})
            if vendor_id in before:
                due.append((r.source, r.tenant, vendor_id))
        self._append(db, events)
        db.executemany("UPDATE audio SET retention_due=1 WHERE source=? AND tenant=? AND vendor_id=? "
                       "AND status='stored'", due)

    @staticmethod
    def _quarantine_items(db: Any, source: str, tenant: str, rejects: Sequence[Rejected], stamp: str) -> int:
        new = 0
        for reject in rejects:
            payload = to_json_text(reject.payload)
            cursor = db.execute(
                "INSERT INTO quarantine (source, tenant, kind, fingerprint, item_id, reason, payload, first_seen, "
                "last_seen) VALUES (?,?,'metadata',?,?,?,?,?,?) "
                "ON CONFLICT (source, tenant, kind, fingerprint) DO UPDATE SET "
                "last_seen=excluded.last_seen, times=quarantine.times+1, reason=excluded.reason RETURNING times",
                (source, tenant, fingerprint(payload), reject.item_id, reject.reason, payload, stamp, stamp),
            )
            new += cursor.fetchone()[0] == 1
        return new

    def load_state(self, source: str, tenant: str) -> dict[str, Any] | None:
        """The tenant's last committed sync state, or None before its first page."""
        row = self._db.execute(
            "SELECT state FROM sync_state WHERE source=? AND tenant=?", (source, tenant)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def recorded_payloads(self, source: str, tenant: str, vendor_ids: Sequence[str]) -> dict[str, Any]:
        """The vendor payload (`raw`, parsed) the catalog holds for each of these ids it knows (what
        `run --dry-run` compares a listing with)."""
        if not vendor_ids:
            return {}
        rows = self._db.execute(
            "SELECT vendor_id, raw FROM recordings WHERE source=? AND tenant=? "
            f"AND vendor_id {self.dialect.in_json_list}",
            (source, tenant, self.dialect.json_list(vendor_ids))).fetchall()
        return {vendor_id: json.loads(raw) for vendor_id, raw in rows}

    def audit(self, key: RecordingKey, action: str, detail: str) -> None:
        """Record something we told the vendor about a recording (our side of its access audit)."""
        with self._transaction(key[:2]) as db:
            db.execute(
                "INSERT INTO audit (source, tenant, vendor_id, at, action, detail) VALUES (?,?,?,?,?,?)",
                (*key, iso(now_utc()), action, detail),
            )
