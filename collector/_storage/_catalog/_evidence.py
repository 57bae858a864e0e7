"""What the evidence commands read and write: verify's findings and positions, the vendor's listing
counts, reports, exports, and the operator's `reset` and `retry`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collector._base._model import RecordingKey
from collector._base._time import iso, now_utc

from ._chain import ChainCatalog
from ._work import AUDIO, KINDS, TRANSCRIPT, WorkKind

_BATCH = 500


@dataclass(frozen=True)
class Scope:
    """Which recordings a command covers: some tenants (none: all), recordings started in [since, until)."""

    tenants: tuple[tuple[str, str], ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def key(self) -> str:
        """A stable name for this scope (where a sliced `verify` of it continues)."""
        text = json.dumps([sorted(self.tenants), self.since and iso(self.since), self.until and iso(self.until)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def overlapping(self, start_column: str, end_column: str) -> tuple[str, list[Any]]:
        """A WHERE clause (or "") selecting rows of this scope's tenants whose period [start, end)
        overlaps [since, until), and its parameters (for per-window and per-day rows)."""
        parts: list[str] = []
        params: list[Any] = []
        if self.tenants:
            parts.append("(" + " OR ".join("(source=? AND tenant=?)" for _ in self.tenants) + ")")
            params += [name for pair in self.tenants for name in pair]
        if self.since is not None:
            parts.append(f"{end_column}>?")
            params.append(iso(self.since))
        if self.until is not None:
            parts.append(f"{start_column}<?")
            params.append(iso(self.until))
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def sql(self, alias: str = "r") -> tuple[str, list[Any]]:
        """A WHERE fragment (starting with AND) selecting this scope's recordings, and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.tenants:
            parts.append("(" + " OR ".join(f"({alias}.source=? AND {alias}.tenant=?)" for _ in self.tenants) + ")")
            params += [name for pair in self.tenants for name in pair]
        if self.since is not None:
            parts.append(f"{alias}.start_utc>=?")
            params.append(iso(self.since))
        if self.until is not None:
            parts.append(f"{alias}.start_utc<?")
            params.append(iso(self.until))
        return "".join(f" AND {part}" for part in parts), params


@dataclass(frozen=True)
class StoredFile:
    """A file the catalog says the store holds, with what it must be."""

    kind: WorkKind
    key: RecordingKey
    path: str
    size: int | None
    sha256: str | None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    duration: float | None = None
    media: str = "available"
    evidence: str | None = None
    """What proved it when it was stored (see `collector._storage._proof`); None for audio stored before
    levels were kept, and for transcripts (ours: their sha256 is their proof)."""
    announced_size: int | None = None
    """The size the vendor announced for the recording's audio, if it did."""

    @property
    def position(self) -> list[str]:
        """Where a verify that stopped after this file continues."""
        return [*self.key, self.kind.name]


@dataclass
class Finding:
    """A stored file that is not what the catalog says."""

    file: StoredFile
    problem: str  # missing, size, sha256, decode
    detail: str
    action: str = ""  # requeued, lost
    moved_to: str | None = None


@dataclass
class VerifyPosition:
    """Where a sliced verify of one scope continues, and how far its current cycle has come."""

    position: list[str] | None = None
    files: int = 0
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EvidenceCatalog(ChainCatalog):
    """Verify, report, export, reset and retry."""

    # -- verify ------------------------------------------------------------------------------------

    def stored_files(self, scope: Scope, after: Sequence[str] | None, limit: int = _BATCH) -> list[StoredFile]:
        """Stored audio and transcript files in `scope`, in key order, after position `after`."""
        where, params = scope.sql()
        union = (
            "SELECT a.source, a.tenant, a.vendor_id, 'audio' AS kind, a.path, a.size, a.sha256, a.codec, "
            "a.sample_rate, a.channels, a.decoded_duration, r.media, a.evidence, r.media_size FROM audio a "
            f"JOIN recordings r USING (source, tenant, vendor_id) WHERE a.status='stored'{where} "
            "UNION ALL SELECT t.source, t.tenant, t.vendor_id, 'transcript', t.path, t.size, t.sha256, NULL, NULL, "
            "NULL, NULL, r.media, NULL, NULL FROM transcripts t JOIN recordings r USING (source, tenant, vendor_id) "
            f"WHERE t.status='stored'{where}"
        )
        sql = f"SELECT * FROM ({union}) AS files"
        values = params + params
        if after:
            sql += " WHERE (source, tenant, vendor_id, kind) > (?, ?, ?, ?)"
            values += list(after)
        rows = self._db.execute(f"{sql} ORDER BY source, tenant, vendor_id, kind LIMIT ?", (*values, limit))
        kinds = {kind.name: kind for kind in KINDS}
        return [StoredFile(kinds[kind], RecordingKey(source, tenant, vendor_id), path, size, sha, codec, rate, channels,
                           duration, media, evidence, announced)
                for (source, tenant, vendor_id, kind, path, size, sha, codec, rate, channels, duration, media, evidence,
                     announced) in rows]

    def verified(self, files: Sequence[StoredFile]) -> None:
        """Record that these files were read back intact now."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            for kind in KINDS:
                db.executemany(f"UPDATE {kind.table} SET last_verified=? WHERE source=? AND tenant=? AND vendor_id=?",
                               [(stamp, *f.key) for f in files if f.kind is kind])

    def evidence_found(self, files: Sequence[tuple[StoredFile, str, Sequence[str]]]) -> None:
        """Record the evidence level `verify --decode` derived for files stored before levels were kept."""
        with self._transaction() as db:
            db.executemany("UPDATE audio SET evidence=?, checks=? WHERE source=? AND tenant=? AND vendor_id=? "
                           "AND evidence IS NULL",
                           [(level, json.dumps(list(checks)), *file.key) for file, level, checks in files])

    def damaged(self, finding: Finding) -> str:
        """Record a damaged or missing file: re-queue it (or mark it lost when the vendor no longer
        lists its media); returns the action taken. The finding is kept with the time it was found."""
        file, stamp = finding.file, iso(now_utc())
        lost = file.kind is AUDIO and file.media != "available"
        action = "lost" if lost else "requeued"
        reason = (f"verify found the stored file {finding.problem} ({finding.detail}) at {stamp}; "
                  + ("the vendor no longer offers its media, so it is lost." if lost else "it is fetched again."))
        if finding.moved_to:
            reason += f" The damaged copy was kept at {finding.moved_to}."
        with self._transaction() as db:
            [seq] = self._append(db, [{
                "type": "damaged", "kind": file.kind.name, "source": file.key.source, "tenant": file.key.tenant,
                "vendor_id": file.key.vendor_id, "path": file.path, "sha256": file.sha256, "problem": finding.problem,
                "detail": finding.detail, "action": action, "kept_at": finding.moved_to}])
            db.execute(
                f"UPDATE {file.kind.table} SET chain_seq=? WHERE source=? AND tenant=? AND vendor_id=?",
                (seq, *file.key))
            db.execute(
                f"UPDATE {file.kind.table} SET status=?, attempts=0, reason=?, damaged=?, last_run=NULL, updated=?, "
                "due_at=CASE WHEN ? THEN NULL ELSE (SELECT start_utc FROM recordings r WHERE r.source=? AND "
                "r.tenant=? AND r.vendor_id=?) END WHERE source=? AND tenant=? AND vendor_id=?",
                ("lost" if lost else "pending", reason, stamp, stamp, lost, *file.key, *file.key),
            )
            db.execute(
                "INSERT INTO findings (source, tenant, vendor_id, kind, problem, path, found, detail, action) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (*file.key, file.kind.name, finding.problem, file.path, stamp, finding.detail, action),
            )
        return action

    def orphan(self, source: str, tenant: str, path: str) -> None:
        """Record a file in the store that the catalog does not know."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO findings (source, tenant, vendor_id, kind, problem, path, found, detail, action) "
                "VALUES (?,?,NULL,'file','unknown',?,?,?,'listed')",
                (source, tenant, path, iso(now_utc()), "The catalog knows no recording for this file."),
            )

    def known_path(self, path: str) -> bool:
        """True if the catalog holds a stored (or quarantined) file at this store-relative path."""
        return any(self._db.execute(f"SELECT 1 FROM {table} WHERE path=? LIMIT 1", (path,)).fetchone()
                   for table in ("audio", "transcripts"))

    def verify_position(self, scope: Scope) -> VerifyPosition:
        """Where a verify of `scope` continues (nothing: from the start of a new cycle)."""
        row = self._db.execute("SELECT position, files, bytes FROM verify_positions WHERE scope=?",
                               (scope.key(),)).fetchone()
        if row is None:
            return VerifyPosition()
        return VerifyPosition(json.loads(row[0]) if row[0] else None, row[1], row[2])

    def save_verify_position(self, scope: Scope, position: VerifyPosition) -> None:
        """Remember where a verify of `scope` stopped (None: its cycle is complete)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO verify_positions VALUES (?,?,?,?,?) ON CONFLICT(scope) DO UPDATE SET "
                "position=excluded.position, files=excluded.files, bytes=excluded.bytes, updated=excluded.updated",
                (scope.key(), json.dumps(position.position) if position.position else None, position.files,
                 position.bytes, iso(now_utc())),
            )

    def lost_items(self, scope: Scope) -> int:
        """How many items in `scope` are lost (damaged or missing, and the vendor no longer has them)."""
        where, params = scope.sql()
        return sum(self._db.execute(
            f"SELECT COUNT(*) FROM {kind.table} w JOIN recordings r USING (source, tenant, vendor_id) "
            f"WHERE w.status='lost'{where}", params).fetchone()[0] for kind in KINDS)

    # -- operations --------------------------------------------------------------------------------

    def record_operation(self, command: str, detail: str, source: str | None = None, tenant: str | None = None) -> None:
        """Keep what an operator's command did (reset, retry, verify), in the evidence chain too."""
        with self._transaction() as db:
            self._append(db, [{"type": command, "source": source, "tenant": tenant, "detail": detail}])
            db.execute("INSERT INTO operations (at, command, source, tenant, detail) VALUES (?,?,?,?,?)",
                       (iso(now_utc()), command, source, tenant, detail))

    def reset_tenant(self, source: str, tenant: str, since: datetime | None) -> None:
        """Forget a tenant's sync state: its next run lists from the start (or from `since`)."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            db.execute("DELETE FROM sync_state WHERE source=? AND tenant=?", (source, tenant))
            db.execute("INSERT INTO restarts VALUES (?,?,?,?) ON CONFLICT(source, tenant) DO UPDATE SET "
                       "since=excluded.since, requested=excluded.requested",
                       (source, tenant, iso(since) if since else None, stamp))
            detail = f"sync state cleared; the next run lists from {iso(since) if since else 'the start'}"
            self._append(db, [{"type": "reset", "source": source, "tenant": tenant, "detail": detail}])
            db.execute("INSERT INTO operations (at, command, source, tenant, detail) VALUES (?,?,?,?,?)",
                       (stamp, "reset", source, tenant, detail))

    def restart_from(self, source: str, tenant: str) -> datetime | None:
        """The date a pending `reset --from` asked the next run to list from."""
        row = self._db.execute("SELECT since FROM restarts WHERE source=? AND tenant=?", (source, tenant)).fetchone()
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")) if row and row[0] else None

    def retry(self, scope: Scope, statuses: Sequence[str]) -> int:
        """Queue given-up items again (`statuses` such as failed, quarantined); returns how many."""
        where, params = scope.sql()
        marks = ",".join("?" * len(statuses))
        stamp = iso(now_utc())
        total = 0
        with self._transaction() as db:
            for kind in KINDS:
                cursor = db.execute(
                    f"UPDATE {kind.table} SET status='pending', attempts=0, last_run=NULL, not_before=NULL, "
                    f"due_at=(SELECT start_utc FROM recordings r WHERE r.source={kind.table}.source AND "
                    f"r.tenant={kind.table}.tenant AND r.vendor_id={kind.table}.vendor_id), "
                    f"reason='queued again by `collector retry` at {stamp}', updated=? WHERE status IN ({marks}) "
                    f"AND (source, tenant, vendor_id) IN (SELECT source, tenant, vendor_id FROM recordings r "
                    f"WHERE 1=1{where})",
                    (stamp, *statuses, *params),
                )
                total += cursor.rowcount
            detail = f"{total} item(s) with status {', '.join(statuses)} queued again"
            self._append(db, [{"type": "retry", "detail": detail, "scope": _scope_of(scope)}])
            db.execute("INSERT INTO operations (at, command, source, tenant, detail) VALUES (?,?,NULL,NULL,?)",
                       (stamp, "retry", detail))
        return total

    # -- report and export -------------------------------------------------------------------------

    def listing_windows(self, scope: Scope) -> list[tuple[str, str, str, str, int | None, int]]:
        """The vendor's own count per listing window (source, tenant, start, end, vendor count, listed)."""
        where, params = scope.overlapping("window_start", "window_end")
        return list(self._db.execute("SELECT source, tenant, window_start, window_end, vendor_count, listed FROM "
                                     f"listings{where} ORDER BY 1, 2, 3", params).fetchall())

    def export_rows(self, scope: Scope) -> Iterator[tuple[Any, ...]]:
        """Every recording in `scope` with its files, their evidence and chain of custody, and the
        recording's audit rows, streamed (constant memory however many)."""
        where, params = scope.sql()
        yield from self._stream(
            "SELECT r.source, r.tenant, r.vendor_id, r.call_id, r.start_utc, r.end_utc, r.duration, r.direction, "
            "r.parties, r.tags, r.media, r.media_size, r.extras, a.status, a.path, a.sha256, a.size, a.codec, "
            "a.sample_rate, a.channels, a.decoded_duration, a.last_verified, t.status, t.path, t.sha256, "
            "r.retain_until, r.legal_hold, a.evidence, a.checks, a.fetched, a.endpoint, a.request_id, "
            "a.content_length, a.chain_seq, t.fetched, t.chain_seq, "
            f"(SELECT {self.dialect.json_rows('x.at, x.action, x.detail')} FROM audit x WHERE x.source=r.source "
            "AND x.tenant=r.tenant AND x.vendor_id=r.vendor_id) "
            "FROM recordings r LEFT JOIN audio a USING (source, tenant, vendor_id) "
            f"LEFT JOIN transcripts t USING (source, tenant, vendor_id) WHERE 1=1{where} "
            "ORDER BY r.source, r.tenant, r.start_utc, r.vendor_id", params, _BATCH)


def _scope_of(scope: Scope) -> dict[str, Any]:
    """A scope as a chain event records it."""
    return {"tenants": [list(pair) for pair in scope.tenants], "since": scope.since and iso(scope.since),
            "until": scope.until and iso(scope.until)}


__all__ = ["AUDIO", "TRANSCRIPT", "EvidenceCatalog", "Finding", "Scope", "StoredFile", "VerifyPosition"]
