"""Runs and what `status` and the summaries read: every run's per-tenant summary, counts, problems."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from collector._base._time import iso, now_utc

from ._db import Database
from ._rows import to_json_text
from ._work import KINDS


class RunsCatalog(Database):
    """Run records and the status queries."""

    def start_run(self) -> int:
        """Open a run record and return its id."""
        with self._transaction() as db:
            row = db.execute("INSERT INTO runs (started) VALUES (?) RETURNING id", (iso(now_utc()),)).fetchone()
            return int(row[0])

    def finish_run(self, run_id: int, exit_code: int, outcome: str,
                   summaries: Sequence[tuple[str, str, str, dict[str, Any]]] = ()) -> None:
        """Close a run record with each tenant's (source, tenant, status, summary), in one transaction."""
        with self._transaction() as db:
            db.executemany("INSERT INTO run_tenants VALUES (?,?,?,?,?) ON CONFLICT (run_id, source, tenant) DO UPDATE "
                           "SET status=excluded.status, summary=excluded.summary",
                           [(run_id, source, tenant, status, to_json_text(summary))
                            for source, tenant, status, summary in summaries])
            db.execute(
                "UPDATE runs SET finished=?, exit_code=?, outcome=? WHERE id=?",
                (iso(now_utc()), exit_code, outcome, run_id),
            )

    def record_missed_runs(self, records: Sequence[dict[str, Any]]) -> None:
        """Record passes the catalog could not take when they ran (see `collector._runner._run_journal`):
        a new row for a pass that never got one, the finish of one left unfinished; one transaction."""
        with self._transaction() as db:
            for record in records:
                run_id = record.get("run_id")
                if not run_id:
                    run_id = db.execute("INSERT INTO runs (started) VALUES (?) RETURNING id",
                                        (record["started"],)).fetchone()[0]
                db.execute("UPDATE runs SET finished=?, exit_code=?, outcome=? WHERE id=?",
                           (record["finished"], record["exit_code"], record["outcome"], run_id))
                db.executemany("INSERT INTO run_tenants VALUES (?,?,?,?,?) ON CONFLICT (run_id, source, tenant) "
                               "DO UPDATE SET status=excluded.status, summary=excluded.summary",
                               [(run_id, t[0], t[1], t[2], to_json_text(t[3] if len(t) > 3 else {}))
                                for t in record.get("tenants", [])])

    def mark_interrupted_runs(self) -> int:
        """Passes that died without finishing (killed) are marked so; returns how many. Only while
        no pass can be running (a `collector run` holds the store exclusively)."""
        with self._transaction() as db:
            return int(db.execute("UPDATE runs SET outcome='interrupted' WHERE finished IS NULL AND outcome IS NULL"
                                  ).rowcount)

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
        current, history = self._db.execute(
            "SELECT COUNT(*) - COUNT(resolved), COUNT(resolved) FROM quarantine "
            "WHERE source=? AND tenant=?", (source, tenant)).fetchone()
        counts["quarantined_items"], counts["quarantine_history"] = current, history
        return counts

    def evidence_counts(self, source: str, tenant: str) -> dict[str, int]:
        """Stored audio files by evidence level (see `collector._storage._proof`; "unrecorded" for files
        stored before levels were kept)."""
        return {level or "unrecorded": n for level, n in self._db.execute(
            "SELECT evidence, COUNT(*) FROM audio WHERE source=? AND tenant=? AND status='stored' GROUP BY evidence",
            (source, tenant))}

    def retention_counts(self, source: str, tenant: str) -> dict[str, Any]:
        """Recordings under a legal hold, and under a vendor retention date still to come (with the
        latest such date), for `status`."""
        held, retained, until = self._db.execute(
            "SELECT COALESCE(SUM(legal_hold), 0), COUNT(CASE WHEN retain_until>? THEN 1 END), MAX(retain_until) "
            "FROM recordings WHERE source=? AND tenant=? AND (legal_hold=1 OR retain_until IS NOT NULL)",
            (iso(now_utc()), source, tenant)).fetchone()
        return {"legal_hold": int(held), "retained": int(retained), "latest_retain_until": until}

    def leftovers(self, source: str, tenant: str) -> dict[str, int]:
        """What a job leaves for later, by `<table>_<status>`, and the tenant's recordings: counted
        through indexes over unsettled items only, so the cost does not grow with the store."""
        counts = {"recordings": self._db.execute(
            "SELECT COALESCE(SUM(recordings), 0) FROM tenant_counts WHERE source=? AND tenant=?",
            (source, tenant)).fetchone()[0]}
        for kind in KINDS:
            for status in ("pending", "waiting", "failed", "lost"):
                counts[f"{kind.table}_{status}"] = self._db.execute(
                    f"SELECT COUNT(*) FROM {kind.table} WHERE source=? AND tenant=? AND status=?",
                    (source, tenant, status)).fetchone()[0]
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

    def latest_summaries(self) -> list[dict[str, Any]]:
        """Every tenant's latest run summary (with `finished` and, as `last_success`, when its latest
        complete run ended), whichever command or worker ran it: what the metrics show."""
        rows = self._db.execute(
            "SELECT rt.source, rt.tenant, rt.status, rt.summary, r.finished, "
            "(SELECT MAX(r2.finished) FROM run_tenants ok JOIN runs r2 ON r2.id=ok.run_id WHERE ok.source=rt.source "
            "AND ok.tenant=rt.tenant AND ok.status='ok') FROM run_tenants rt JOIN runs r ON r.id=rt.run_id "
            "WHERE rt.run_id=(SELECT MAX(x.run_id) FROM run_tenants x WHERE x.source=rt.source AND x.tenant=rt.tenant) "
            "ORDER BY 1, 2").fetchall()
        return [{**json.loads(summary), "source": source, "tenant": tenant, "status": status, "finished": finished,
                 "last_success": success} for source, tenant, status, summary, finished, success in rows]

    def last_exit_code(self) -> int | None:
        """The exit code of the latest finished run (a pass, or a cluster worker's tenant job)."""
        row = self._db.execute("SELECT exit_code FROM runs WHERE finished IS NOT NULL ORDER BY id DESC LIMIT 1"
                               ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

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

    def problem_count(self, source: str, tenant: str) -> int:
        """How many items `problems` would list without a limit."""
        unions = " UNION ALL ".join(
            f"SELECT COUNT(*) FROM {kind.table} WHERE source=? AND tenant=? AND (status IN ('lost', 'quarantined', "
            "'failed', 'waiting') OR (status='pending' AND reason IS NOT NULL))" for kind in KINDS)
        rows = self._db.execute(f"{unions} UNION ALL SELECT COUNT(*) FROM quarantine WHERE source=? AND tenant=? AND "
                                "kind='metadata' AND resolved IS NULL", (source, tenant) * (len(KINDS) + 1)).fetchall()
        return sum(int(row[0]) for row in rows)

    def problems(self, source: str, tenant: str, limit: int = 20) -> list[dict[str, Any]]:
        """Items not settled, each with its reason: lost, failed, quarantined now, deferred (with when
        it can resume), waiting for the vendor; and vendor items quarantined now."""
        unions = " UNION ALL ".join(
            f"SELECT '{kind.name}' AS kind, vendor_id AS item, status, attempts, reason, not_before FROM {kind.table} "
            "WHERE source=? AND tenant=? AND (status IN ('lost', 'quarantined', 'failed', 'waiting') "
            "OR (status='pending' AND reason IS NOT NULL))"
            for kind in KINDS
        )
        rows = self._db.execute(
            f"SELECT * FROM ({unions} UNION ALL SELECT 'metadata', item_id, 'quarantined', times, reason, NULL "
            "FROM quarantine WHERE source=? AND tenant=? AND kind='metadata' AND resolved IS NULL) AS problems "
            "ORDER BY CASE status WHEN 'lost' THEN 0 WHEN 'failed' THEN 1 WHEN 'quarantined' THEN 2 ELSE 3 END "
            "LIMIT ?",
            (source, tenant) * (len(KINDS) + 1) + (limit,),
        ).fetchall()
        return [
            {"kind": kind, "id": item, "status": "deferred" if status == "pending" else status, "attempts": attempts,
             "reason": reason, **({"resumes": not_before} if not_before else {})}
            for kind, item, status, attempts, reason, not_before in rows
        ]

    def defer_pending(self, source: str, tenant: str, reason: str, not_before: str | None) -> None:
        """Give every pending audio item of a tenant the reason its downloads stopped (and when they resume)."""
        with self._transaction() as db:
            db.execute("UPDATE audio SET reason=?, not_before=? WHERE source=? AND tenant=? AND status='pending'",
                       (reason, not_before, source, tenant))
