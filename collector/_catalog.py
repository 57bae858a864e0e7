"""The SQLite catalog: what the store holds, what is still to do, and every run's summary.

One database file beside the audio. Each table has one job:

- `recordings`   normalized metadata plus the vendor payload, keyed (source, tenant, vendor_id);
- `audio`, `transcripts`   one work row per recording: pending, stored (with path, sha256, size,
                 probe), quarantined, unavailable, failed, and for transcripts not_ready / none;
- `sync_state`   each tenant's cursor or watermark, written in the same transaction as the page
                 of recordings it covers, so state never runs ahead of what is committed;
- `quarantine`   bad vendor items with the reason, de-duplicated, kept for a person to look at;
- `audit`        what we told the vendor (e.g. the download justification a tenant requires);
- `egress`       bytes downloaded per tenant, for rolling egress budgets;
- `runs`, `run_tenants`   every run's per-tenant summary.

Every method is one transaction. The catalog is used from one thread at a time (the store runs
it on a dedicated worker thread), and in WAL mode so `collector status` can read during a run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from ._model import MediaAvailability, Party, Recording, RecordingKey

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    call_id TEXT, start_utc TEXT NOT NULL, end_utc TEXT, duration REAL,
    direction TEXT NOT NULL, parties TEXT NOT NULL, tags TEXT NOT NULL,
    media TEXT NOT NULL, media_size INTEGER, extras TEXT NOT NULL, raw TEXT NOT NULL,
    first_seen TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE TABLE IF NOT EXISTS audio (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_run INTEGER, reason TEXT,
    path TEXT, sha256 TEXT, size INTEGER, container TEXT, codec TEXT, sample_rate INTEGER,
    channels INTEGER, decoded_duration REAL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE INDEX IF NOT EXISTS audio_todo ON audio (source, tenant, status);
CREATE TABLE IF NOT EXISTS transcripts (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_run INTEGER, reason TEXT,
    retry_until TEXT NOT NULL, path TEXT, segments INTEGER, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE INDEX IF NOT EXISTS transcripts_todo ON transcripts (source, tenant, status);
CREATE TABLE IF NOT EXISTS sync_state (
    source TEXT NOT NULL, tenant TEXT NOT NULL, state TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant)
);
CREATE TABLE IF NOT EXISTS quarantine (
    source TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, fingerprint TEXT NOT NULL,
    item_id TEXT, reason TEXT NOT NULL, payload TEXT, path TEXT,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, tenant, kind, fingerprint)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    at TEXT NOT NULL, action TEXT NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS egress (
    source TEXT NOT NULL, tenant TEXT NOT NULL, at TEXT NOT NULL, bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS egress_by_tenant ON egress (source, tenant, at);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, exit_code INTEGER, outcome TEXT
);
CREATE TABLE IF NOT EXISTS run_tenants (
    run_id INTEGER NOT NULL, source TEXT NOT NULL, tenant TEXT NOT NULL, status TEXT NOT NULL,
    summary TEXT NOT NULL, PRIMARY KEY (run_id, source, tenant)
);
"""

def now_utc() -> datetime:
    """The current time, in UTC (one place, so every timestamp in the catalog agrees)."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """The catalog's timestamp format: ISO 8601 in UTC with a Z, microseconds, sortable as text."""
    if moment.utcoffset() != _NO_OFFSET:
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


_NO_OFFSET = timedelta(0)


def _json(value: Any) -> str:
    """Compact UTF-8 JSON for catalog columns (pydantic-core's serializer: this runs per recording)."""
    return to_json(value, fallback=str, inf_nan_mode="null").decode("utf-8")


_PARTIES = TypeAdapter(list[Party])


@dataclass(frozen=True)
class Rejected:
    """A vendor item that could not be mapped to a recording, and why."""

    item_id: str | None
    reason: str
    payload: Any


@dataclass(frozen=True)
class PageCounts:
    """What committing one page changed (`new_ids`: the vendor ids stored for the first time)."""

    new: int
    updated: int
    quarantined: int
    new_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StoredAudio:
    """A verified audio file as recorded in the catalog."""

    path: str
    sha256: str
    size: int
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float


class Catalog:
    """The store's SQLite database; each public method is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"The catalog {path} was written by a newer recording-collector (schema {version}); upgrade."
            )
        self._create_schema()

    def _create_schema(self) -> None:
        with self._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- metadata --------------------------------------------------------------------------------

    def commit_page(
        self,
        source: str,
        tenant: str,
        recordings: Sequence[Recording],
        rejects: Sequence[Rejected],
        state: dict[str, Any] | None,
        *,
        audio: bool,
        transcripts: bool,
        transcript_wait: timedelta,
    ) -> PageCounts:
        """Upsert a page of recordings, queue their work, quarantine rejects, and save the state.

        All in one transaction: if the process dies before it commits, none of it happened and
        the state still points before this page, so the next run fetches the page again.
        """
        stamp = iso(now_utc())
        unique = {r.vendor_id: r for r in recordings}  # a page listing an id twice keeps the last
        with self._transaction() as db:
            existing = dict(
                db.execute(
                    "SELECT vendor_id, media FROM recordings WHERE source=? AND tenant=? "
                    "AND vendor_id IN (SELECT value FROM json_each(?))",
                    (source, tenant, _json(list(unique))),
                ).fetchall()
            )
            before = db.total_changes
            db.executemany(_UPSERT_RECORDING, (_recording_row(r, stamp) for r in unique.values()))
            changed = db.total_changes - before
            new = len(unique) - len(existing)
            if audio:
                self._queue_audio(db, unique.values(), stamp, previous_media=existing)
            if transcripts:
                self._queue_transcripts(db, unique.values(), stamp, transcript_wait)
            quarantined = self._quarantine_items(db, source, tenant, rejects, stamp)
            if state is not None:
                db.execute(
                    "INSERT INTO sync_state VALUES (?,?,?,?) ON CONFLICT(source, tenant) "
                    "DO UPDATE SET state=excluded.state, updated=excluded.updated",
                    (source, tenant, json.dumps(state, separators=(",", ":")), stamp),  # strict: no str() fallback
                )
        return PageCounts(new=new, updated=changed - new, quarantined=quarantined,
                          new_ids=frozenset(unique.keys() - existing.keys()))

    @staticmethod
    def _queue_audio(db: sqlite3.Connection, recordings: Iterable[Recording], stamp: str,
                     previous_media: dict[str, str] | None = None) -> None:
        """Create audio work rows; re-queue audio the vendor has made available since it listed it.

        Only a change of the listed media status re-queues: audio found unavailable on download
        (a 403) stays so when a re-sweep lists the recording again unchanged.
        """
        rows: list[tuple[str, str, str, str, str | None, str]] = []
        reopen = []
        previous_media = previous_media or {}
        for r in recordings:
            if r.media is MediaAvailability.AVAILABLE:
                rows.append((r.source, r.tenant, r.vendor_id, "pending", None, stamp))
                if previous_media.get(r.vendor_id, MediaAvailability.AVAILABLE.value) != r.media.value:
                    reopen.append((stamp, r.source, r.tenant, r.vendor_id))
            else:
                reason = ("The vendor lists no audio for this recording." if r.media is MediaAvailability.NONE
                          else "The vendor denies access to this recording's media.")
                rows.append((r.source, r.tenant, r.vendor_id, "unavailable", reason, stamp))
        db.executemany(
            "INSERT OR IGNORE INTO audio (source, tenant, vendor_id, status, reason, updated) VALUES (?,?,?,?,?,?)",
            rows,
        )
        if reopen:
            # Media that was unavailable and now is (access granted later) is queued again.
            db.executemany(
                "UPDATE audio SET status='pending', attempts=0, reason=NULL, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=? AND status='unavailable'",
                reopen,
            )

    @staticmethod
    def _queue_transcripts(
        db: sqlite3.Connection, recordings: Iterable[Recording], stamp: str, wait: timedelta
    ) -> None:
        rows = []
        for r in recordings:
            ended = r.end or (r.start + timedelta(seconds=r.duration or 0))
            rows.append((r.source, r.tenant, r.vendor_id, "pending", iso(ended + wait), stamp))
        db.executemany(
            "INSERT OR IGNORE INTO transcripts (source, tenant, vendor_id, status, retry_until, updated) "
            "VALUES (?,?,?,?,?,?)",
            rows,
        )

    @staticmethod
    def _quarantine_items(
        db: sqlite3.Connection, source: str, tenant: str, rejects: Sequence[Rejected], stamp: str
    ) -> int:
        new = 0
        for reject in rejects:
            payload = _json(reject.payload)
            fingerprint = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
            cursor = db.execute(
                "INSERT INTO quarantine (source, tenant, kind, fingerprint, item_id, reason, payload, first_seen, "
                "last_seen) VALUES (?,?,'metadata',?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                "last_seen=excluded.last_seen, times=times+1, reason=excluded.reason RETURNING times",
                (source, tenant, fingerprint, reject.item_id, reject.reason, payload, stamp, stamp),
            )
            new += cursor.fetchone()[0] == 1
        return new

    def load_state(self, source: str, tenant: str) -> dict[str, Any] | None:
        """The tenant's last committed sync state, or None before its first page."""
        row = self._db.execute(
            "SELECT state FROM sync_state WHERE source=? AND tenant=?", (source, tenant)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def queue_missing_work(self, source: str, tenant: str, *, audio: bool, transcripts: bool,
                           transcript_wait: timedelta) -> None:
        """Create work rows for recordings collected while audio or transcripts were switched off."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            for table, wanted in (("audio", audio), ("transcripts", transcripts)):
                if not wanted:
                    continue
                missing = [
                    _row_to_recording(row)
                    for row in db.execute(
                        f"SELECT {_RECORDING_COLUMNS} FROM recordings r WHERE source=? AND tenant=? AND NOT EXISTS "
                        f"(SELECT 1 FROM {table} w WHERE w.source=r.source AND w.tenant=r.tenant "
                        "AND w.vendor_id=r.vendor_id)",
                        (source, tenant),
                    )
                ]
                if table == "audio":
                    self._queue_audio(db, missing, stamp)
                else:
                    self._queue_transcripts(db, missing, stamp, transcript_wait)

    # -- audio -----------------------------------------------------------------------------------

    def claim_audio(self, source: str, tenant: str, run_id: int, limit: int, max_attempts: int) -> list[Recording]:
        """Take up to `limit` recordings whose audio is due, marking them as tried in this run."""
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_RECORDING_COLUMNS} FROM audio a JOIN recordings r USING (source, tenant, vendor_id) "
                "WHERE a.source=? AND a.tenant=? AND (a.last_run IS NULL OR a.last_run<>?) "
                "AND (a.status='pending' OR (a.status='quarantined' AND a.attempts<?)) "
                "ORDER BY r.start_utc LIMIT ?",
                (source, tenant, run_id, max_attempts, limit),
            ).fetchall()
            db.executemany(
                "UPDATE audio SET last_run=? WHERE source=? AND tenant=? AND vendor_id=?",
                [(run_id, source, tenant, row[2]) for row in rows],
            )
        return [_row_to_recording(row) for row in rows]

    def audio_stored(self, key: RecordingKey, stored: StoredAudio) -> None:
        """Record a verified audio file and the egress it cost."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            db.execute(
                "UPDATE audio SET status='stored', reason=NULL, attempts=attempts+1, path=?, sha256=?, size=?, "
                "container=?, codec=?, sample_rate=?, channels=?, decoded_duration=?, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=?",
                (stored.path, stored.sha256, stored.size, stored.container, stored.codec, stored.sample_rate,
                 stored.channels, stored.duration, stamp, *key),
            )
            db.execute("INSERT INTO egress VALUES (?,?,?,?)", (key.source, key.tenant, stamp, stored.size))

    def audio_quarantined(self, key: RecordingKey, reason: str, path: str | None, size: int) -> None:
        """Record a download that was not intact audio (kept in quarantine, retried while attempts last)."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            db.execute(
                "UPDATE audio SET status='quarantined', reason=?, attempts=attempts+1, path=?, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=?",
                (reason, path, stamp, *key),
            )
            db.execute(
                "INSERT INTO quarantine (source, tenant, kind, fingerprint, item_id, reason, path, first_seen, "
                "last_seen) VALUES (?,?,'audio',?,?,?,?,?,?) ON CONFLICT DO UPDATE SET reason=excluded.reason, "
                "path=excluded.path, last_seen=excluded.last_seen, times=times+1",
                (key.source, key.tenant, key.vendor_id, key.vendor_id, reason, path, stamp, stamp),
            )
            if size:
                db.execute("INSERT INTO egress VALUES (?,?,?,?)", (key.source, key.tenant, stamp, size))

    def audio_unavailable(self, key: RecordingKey, reason: str) -> None:
        """Record that the vendor has no audio we may fetch for this recording (final)."""
        self._set_status("audio", key, "unavailable", reason, count_attempt=True)

    def audio_deferred(self, key: RecordingKey, reason: str, max_attempts: int) -> bool:
        """Leave the audio for a later run; returns True if this was the last allowed attempt."""
        return self._defer("audio", key, reason, max_attempts)

    def record_egress(self, key: RecordingKey, size: int) -> None:
        """Count bytes downloaded that produced no stored file (the vendor still counts them)."""
        if size:
            with self._transaction() as db:
                db.execute("INSERT INTO egress VALUES (?,?,?,?)", (key.source, key.tenant, iso(now_utc()), size))

    def egress_since(self, source: str, tenant: str, since: datetime) -> int:
        """Bytes downloaded from a tenant since `since` (rolling egress budgets)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM egress WHERE source=? AND tenant=? AND at>=?",
            (source, tenant, iso(since)),
        ).fetchone()
        return int(row[0])

    # -- transcripts -----------------------------------------------------------------------------

    def claim_transcripts(self, source: str, tenant: str, run_id: int, limit: int) -> list[Recording]:
        """Take up to `limit` recordings whose transcript is due (never asked, or not ready yet)."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            db.execute(
                "UPDATE transcripts SET status='none', reason='No transcript appeared within the waiting period.', "
                "updated=? WHERE source=? AND tenant=? AND status='not_ready' AND retry_until<?",
                (stamp, source, tenant, stamp),
            )
            rows = db.execute(
                f"SELECT {_RECORDING_COLUMNS} FROM transcripts t JOIN recordings r USING (source, tenant, vendor_id) "
                "WHERE t.source=? AND t.tenant=? AND t.status IN ('pending', 'not_ready') "
                "AND (t.last_run IS NULL OR t.last_run<>?) ORDER BY r.start_utc LIMIT ?",
                (source, tenant, run_id, limit),
            ).fetchall()
            db.executemany(
                "UPDATE transcripts SET last_run=? WHERE source=? AND tenant=? AND vendor_id=?",
                [(run_id, source, tenant, row[2]) for row in rows],
            )
        return [_row_to_recording(row) for row in rows]

    def transcript_stored(self, key: RecordingKey, path: str, segments: int) -> None:
        """Record a stored transcript file."""
        with self._transaction() as db:
            db.execute(
                "UPDATE transcripts SET status='stored', reason=NULL, attempts=attempts+1, path=?, segments=?, "
                "updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                (path, segments, iso(now_utc()), *key),
            )

    def transcript_not_ready(self, key: RecordingKey, *, final: bool) -> None:
        """Record that the vendor has no transcript yet (asked again later) or none at all (final)."""
        if final:
            self._set_status("transcripts", key, "none", "The vendor has no transcript for this recording.")
        else:
            self._set_status("transcripts", key, "not_ready", "The transcript is not ready yet.")

    def transcript_deferred(self, key: RecordingKey, reason: str, max_attempts: int) -> bool:
        """Leave the transcript for a later run; returns True if this was the last allowed attempt."""
        return self._defer("transcripts", key, reason, max_attempts)

    def transcript_rejected(self, key: RecordingKey, reason: str, payload: Any) -> None:
        """Quarantine a transcript payload that could not be understood (final; payload kept)."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            db.execute(
                "UPDATE transcripts SET status='quarantined', reason=?, attempts=attempts+1, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=?",
                (reason, stamp, *key),
            )
            db.execute(
                "INSERT INTO quarantine (source, tenant, kind, fingerprint, item_id, reason, payload, first_seen, "
                "last_seen) VALUES (?,?,'transcript',?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                "reason=excluded.reason, payload=excluded.payload, last_seen=excluded.last_seen, times=times+1",
                (key.source, key.tenant, key.vendor_id, key.vendor_id, reason, _json(payload), stamp, stamp),
            )

    # -- shared helpers --------------------------------------------------------------------------

    def _set_status(self, table: str, key: RecordingKey, status: str, reason: str,
                    count_attempt: bool = False) -> None:
        with self._transaction() as db:
            db.execute(
                f"UPDATE {table} SET status=?, reason=?, attempts=attempts+?, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=?",
                (status, reason, int(count_attempt), iso(now_utc()), *key),
            )

    def _defer(self, table: str, key: RecordingKey, reason: str, max_attempts: int) -> bool:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT attempts FROM {table} WHERE source=? AND tenant=? AND vendor_id=?", tuple(key)
            ).fetchone()
            attempts = (row[0] if row else 0) + 1
            final = attempts >= max_attempts
            status = "failed" if final else "pending"
            if final:
                reason = f"{reason} (gave up after {attempts} attempts)"
            db.execute(
                f"UPDATE {table} SET status=?, reason=?, attempts=?, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=?",
                (status, reason, attempts, iso(now_utc()), *key),
            )
        return final

    def audit(self, key: RecordingKey, action: str, detail: str) -> None:
        """Record something we told the vendor about a recording (our side of its access audit)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO audit (source, tenant, vendor_id, at, action, detail) VALUES (?,?,?,?,?,?)",
                (*key, iso(now_utc()), action, detail),
            )

    # -- runs and status -------------------------------------------------------------------------

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
                (run_id, source, tenant, status, _json(summary)),
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
        for table in ("audio", "transcripts"):
            for status, n in self._db.execute(
                f"SELECT status, COUNT(*) FROM {table} WHERE source=? AND tenant=? GROUP BY status", (source, tenant)
            ):
                counts[f"{table}_{status}"] = n
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
        """Items waiting or given up on, with the reason: quarantined, failed, deferred, unavailable."""
        rows = self._db.execute(
            "SELECT 'audio', vendor_id, status, attempts, reason FROM audio WHERE source=? AND tenant=? "
            "AND (status IN ('quarantined', 'failed') OR (status='pending' AND reason IS NOT NULL)) "
            "UNION ALL SELECT 'transcript', vendor_id, status, attempts, reason FROM transcripts "
            "WHERE source=? AND tenant=? "
            "AND (status IN ('quarantined', 'failed') OR (status='pending' AND reason IS NOT NULL)) "
            "UNION ALL SELECT 'metadata', item_id, 'quarantined', times, reason FROM quarantine "
            "WHERE source=? AND tenant=? AND kind='metadata' LIMIT ?",
            (source, tenant) * 3 + (limit,),
        ).fetchall()
        return [
            {"kind": kind, "id": item, "status": status, "attempts": attempts, "reason": reason}
            for kind, item, status, attempts, reason in rows
        ]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (tests, status, benchmarks)."""
        return self._db.execute(sql, params).fetchall()


_RECORDING_COLUMNS = (
    "r.source, r.tenant, r.vendor_id, r.call_id, r.start_utc, r.end_utc, r.duration, r.direction, "
    "r.parties, r.tags, r.media, r.media_size, r.extras, r.raw"
)

_UPSERT_RECORDING = """
INSERT INTO recordings (source, tenant, vendor_id, call_id, start_utc, end_utc, duration, direction, parties,
    tags, media, media_size, extras, raw, first_seen, updated)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(source, tenant, vendor_id) DO UPDATE SET
    call_id=excluded.call_id, start_utc=excluded.start_utc, end_utc=excluded.end_utc,
    duration=excluded.duration, direction=excluded.direction, parties=excluded.parties, tags=excluded.tags,
    media=excluded.media, media_size=excluded.media_size, extras=excluded.extras, raw=excluded.raw,
    updated=excluded.updated
WHERE recordings.raw IS NOT excluded.raw OR recordings.extras IS NOT excluded.extras
"""


def _recording_row(r: Recording, stamp: str) -> tuple[Any, ...]:
    return (
        r.source, r.tenant, r.vendor_id, r.call_id, iso(r.start), iso(r.end) if r.end else None, r.duration,
        r.direction.value, _PARTIES.dump_json(r.parties, exclude_defaults=True).decode(), _json(r.tags),
        r.media.value, r.media_size, _json(r.extras), _json(r.raw), stamp, stamp,
    )


def _row_to_recording(row: Sequence[Any]) -> Recording:
    (source, tenant, vendor_id, call_id, start, end, duration, direction, parties, tags, media, media_size,
     extras, raw) = row
    return Recording(
        source=source, tenant=tenant, vendor_id=vendor_id, call_id=call_id, start=start, end=end,
        duration=duration, direction=direction, parties=json.loads(parties), tags=json.loads(tags),
        media=media, media_size=media_size, extras=json.loads(extras), raw=json.loads(raw),
    )
