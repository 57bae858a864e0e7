"""Runs and what `status` and the summaries read: every run's per-tenant summary, counts, problems."""

from __future__ import annotations

import json
from typing import Any

from .._time import iso, now_utc
from ._recordings import RecordingsCatalog
from ._rows import to_json_text
from ._work import KINDS


class RunsCatalog(RecordingsCatalog):
    """Run records and the status queries."""

    def start_run(self) -> int:
        """Open a run record and return its id."""
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO runs (started) VALUES (?)", (iso(now_utc()),))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def save_tenant_summary(self, run_id: int, source: str, tenant: str, status: str, summary: dict[str, Any]) -> None:
        """Store one tenant's summary of a run."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_tenants VALUES (?,?,?,?,?)",
                (run_id, source, tenant, status, to_json_text(summary)),
            )

    def finish_run(self, run_id: int, exit_code: int, outcome: str) -> None:
        """Close a run record."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET finished=?, exit_code=?, outcome=? WHERE id=?",
                (iso(now_utc()), exit_code, outcome, run_id),
            )

    def work_counts(self, source: str, tenant: str) -> dict[str, int]:
        """Counts of recordings and of audio/transcript rows by status, for summaries and status."""
        counts: dict[str, int] = {
            "recordings": self._db.execute(
                "SELECT COUNT(*) FROM recordings WHERE source=? AND tenant=?", (source, tenant)
            ).fetchone()[0]
        }
        for kind in KINDS:
            for status, n in self._db.execute(
                f"SELECT status, COUNT(*) FROM {kind.table} WHERE source=? AND tenant=? GROUP BY status",
                (source, tenant),
            ):
                counts[f"{kind.table}_{status}"] = n
        counts["audio_bytes"] = self._db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM audio WHERE source=? AND tenant=? AND status='stored'",
            (source, tenant),
        ).fetchone()[0]
        counts["quarantined_items"] = self._db.execute(
            "SELECT COUNT(*) FROM quarantine WHERE source=? AND tenant=?", (source, tenant)
        ).fetchone()[0]
        return counts

    def tenants(self) -> list[tuple[str, str]]:
        """Every (source, tenant) the catalog knows of."""
        return [
            (row[0], row[1])
            for row in self._db.execute(
                "SELECT source, tenant FROM recordings GROUP BY source, tenant "
                "UNION SELECT source, tenant FROM run_tenants ORDER BY 1, 2"
            )
        ]

    def last_run(self, source: str, tenant: str) -> dict[str, Any] | None:
        """The latest run summary stored for a tenant, with the run's start and end."""
        row = self._db.execute(
            "SELECT rt.run_id, r.started, r.finished, rt.status, rt.summary FROM run_tenants rt JOIN runs r "
            "ON r.id = rt.run_id WHERE rt.source=? AND rt.tenant=? ORDER BY rt.run_id DESC LIMIT 1",
            (source, tenant),
        ).fetchone()
        if row is None:
            return None
        return {"run": row[0], "started": row[1], "finished": row[2], "status": row[3], **json.loads(row[4])}

    def problems(self, source: str, tenant: str, limit: int = 20) -> list[dict[str, Any]]:
        """Items waiting or given up on, with the reason: quarantined, failed, deferred, waiting."""
        unions = " UNION ALL ".join(
            f"SELECT '{kind.name}', vendor_id, status, attempts, reason FROM {kind.table} WHERE source=? AND tenant=? "
            "AND (status IN ('quarantined', 'failed', 'waiting') OR (status='pending' AND reason IS NOT NULL))"
            for kind in KINDS
        )
        rows = self._db.execute(
            f"{unions} UNION ALL SELECT 'metadata', item_id, 'quarantined', times, reason FROM quarantine "
            "WHERE source=? AND tenant=? AND kind='metadata' LIMIT ?",
            (source, tenant) * (len(KINDS) + 1) + (limit,),
        ).fetchall()
        return [
            {"kind": kind, "id": item, "status": status, "attempts": attempts, "reason": reason}
            for kind, item, status, attempts, reason in rows
        ]
