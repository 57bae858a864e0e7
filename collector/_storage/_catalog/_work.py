"""Work items: each recording's audio and transcript, from queued to stored (or why not).

A work kind carries its own table and the transitions every item of it goes through:

    pending ──claim──> (tried in this run) ──> stored
       │                                  ├──> waiting      the vendor is still processing it: asked
       │                                  │                 again on later runs, no attempt counted,
       │                                  │                 until `wait_until`, then `expired_status`
       │                                  ├──> pending      a transient failure (an attempt counted),
       │                                  │                 or `failed` once `max_attempts` are spent
       │                                  ├──> unavailable  final: the vendor has nothing we may fetch
       │                                  └──> quarantined  bad content (audio is retried while
       │                                                    attempts last)
       └── queued as `waiting` or `unavailable` when the listing says so already.

`claim` hands each due item to at most one worker per run (`last_run`), oldest recording first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector._base._model import MediaAvailability, Recording, RecordingKey
from collector._base._time import iso, now_utc

from ._chain import ChainCatalog
from ._rows import RECORDING_COLUMNS, StoredAudio, WorkPlan, row_to_recording, to_json_text


@dataclass(frozen=True)
class WorkKind:
    """One kind of work per recording: its table, its name in messages, what a wait ends in."""

    name: str
    table: str
    expired_status: str
    expired_reason: str
    retry_quarantined: bool


AUDIO = WorkKind("audio", "audio", "failed",
                 "The vendor was still processing the media when its waiting period ended.", retry_quarantined=True)
TRANSCRIPT = WorkKind("transcript", "transcripts", "unavailable",
                      "No transcript appeared within the waiting period.", retry_quarantined=False)
KINDS = (AUDIO, TRANSCRIPT)

_NOT_LISTED = {
    MediaAvailability.NONE: "The vendor lists no audio for this recording.",
    MediaAvailability.DENIED: "The vendor denies access to this recording's media.",
}
PROCESSING_REASON = "The vendor is still processing the media."


MEDIA_GRACE = timedelta(days=1)
"""However old its call, audio first listed while the vendor still processes it may wait this long
from that listing (at most the waiting period itself): a recording the vendor imported long after
its call (a back-dated arrival) is not failed on its first "not ready"."""


def wait_deadline(recording: Recording, wait: timedelta, at_least: datetime | None = None) -> str:
    """Until when an item of `recording` may wait for the vendor: `wait` after the call ended, and
    not before `at_least`.

    Counted from the call, not from when we first asked: a vendor that has not produced a
    transcript months after a call never will, and a backfill must not ask for it for a week.
    Audio is given `MEDIA_GRACE` from its first listing on top (the vendor said "processing",
    which is a promise a transcript's absence is not).
    """
    ended = recording.end or (recording.start + timedelta(seconds=recording.duration or 0))
    deadline = ended + wait
    return iso(max(deadline, at_least) if at_least is not None else deadline)


class WorkCatalog(ChainCatalog):
    """Queueing, claiming and finishing work items of every kind."""

    # -- queueing (inside commit_page's transaction) -----------------------------------------------

    @staticmethod
    def _queue_audio(db: Any, recordings: Iterable[Recording], stamp: str, plan: WorkPlan,
                     previous_media: Mapping[str, str] | None = None) -> None:
        """Create audio work rows; re-queue audio whose listed media status changed since.

        Only a change of the listed status re-queues: audio found unavailable on download (a 403)
        stays so when a re-sweep lists the recording again unchanged.
        """
        rows: list[tuple[Any, ...]] = []
        reopen: list[tuple[Any, ...]] = []
        previous_media = previous_media or {}
        grace = now_utc() + min(plan.media_wait, MEDIA_GRACE)
        for r in recordings:
            until, start = wait_deadline(r, plan.media_wait, grace), iso(r.start)
            if r.media is MediaAvailability.AVAILABLE:
                rows.append((r.source, r.tenant, r.vendor_id, "pending", None, until, start, stamp))
                if previous_media.get(r.vendor_id, MediaAvailability.AVAILABLE.value) != r.media.value:
                    reopen.append((start, stamp, r.source, r.tenant, r.vendor_id))
            elif r.media is MediaAvailability.PROCESSING:
                rows.append((r.source, r.tenant, r.vendor_id, "waiting", PROCESSING_REASON, until, start, stamp))
            else:
                rows.append((r.source, r.tenant, r.vendor_id, "unavailable", _NOT_LISTED[r.media], until, None, stamp))
        db.executemany(
            "INSERT INTO audio (source, tenant, vendor_id, status, reason, wait_until, due_at, updated) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            rows,
        )
        if reopen:
            # Media that was unavailable or processing and now is available is queued again.
            db.executemany(
                "UPDATE audio SET status='pending', attempts=0, reason=NULL, due_at=?, updated=? "
                "WHERE source=? AND tenant=? AND vendor_id=? AND status IN ('unavailable', 'waiting')",
                reopen,
            )

    @staticmethod
    def _queue_transcripts(db: Any, recordings: Iterable[Recording], stamp: str, plan: WorkPlan) -> None:
        db.executemany(
            "INSERT INTO transcripts (source, tenant, vendor_id, status, wait_until, due_at, updated) "
            "VALUES (?,?,?,'pending',?,?,?) ON CONFLICT DO NOTHING",
            [(r.source, r.tenant, r.vendor_id, wait_deadline(r, plan.transcript_wait), iso(r.start), stamp)
             for r in recordings],
        )

    def queue_missing_work(self, source: str, tenant: str, plan: WorkPlan) -> None:
        """Create work rows for recordings collected while audio or transcripts were switched off.

        Only when a kind's rows may be missing (`work_coverage` says whether every recording of
        the tenant has one), so a run of a big store does not look through all its recordings.
        """
        stamp = iso(now_utc())
        with self._transaction((source, tenant)) as db:
            for kind, wanted in ((AUDIO, plan.audio), (TRANSCRIPT, plan.transcripts)):
                if not wanted or db.execute("SELECT 1 FROM work_coverage WHERE source=? AND tenant=? AND kind=?",
                                            (source, tenant, kind.name)).fetchone():
                    continue
                missing = [
                    row_to_recording(row)
                    for row in db.execute(
                        f"SELECT {RECORDING_COLUMNS} FROM recordings r WHERE source=? AND tenant=? AND NOT EXISTS "
                        f"(SELECT 1 FROM {kind.table} w WHERE w.source=r.source AND w.tenant=r.tenant "
                        "AND w.vendor_id=r.vendor_id)",
                        (source, tenant),
                    )
                ]
                if kind is AUDIO:
                    self._queue_audio(db, missing, stamp, plan)
                else:
                    self._queue_transcripts(db, missing, stamp, plan)
                db.execute("INSERT INTO work_coverage VALUES (?,?,?) ON CONFLICT DO NOTHING",
                           (source, tenant, kind.name))

    def expire_waits(self, source: str, tenant: str) -> None:
        """Settle the items whose waiting period for the vendor has ended (each kind's `expired_status`)."""
        stamp = iso(now_utc())
        with self._transaction((source, tenant)) as db:
            for kind in KINDS:
                db.execute(
                    f"UPDATE {kind.table} SET status=?, reason=?, due_at=NULL, updated=? WHERE source=? AND tenant=? "
                    "AND status='waiting' AND wait_until<?",
                    (kind.expired_status, kind.expired_reason, stamp, source, tenant, stamp),
                )

    # -- claiming ------------------------------------------------------------------------------------

    def claim(self, kind: WorkKind, source: str, tenant: str, run_id: int, limit: int) -> list[Recording]:
        """Take up to `limit` recordings whose `kind` is due, oldest first, marking them as tried in this run.

        Due (`due_at` set to the recording's start): pending, waiting for the vendor (once the
        vendor's estimate, `not_before`, has passed), or (audio) quarantined with attempts left.
        The claim walks a partial index of due items only, so it costs the same however many items
        the store has settled.
        """
        with self._transaction((source, tenant)) as db:
            rows = db.execute(
                f"SELECT {RECORDING_COLUMNS} FROM {kind.table} w JOIN recordings r USING (source, tenant, vendor_id) "
                "WHERE w.source=? AND w.tenant=? AND w.due_at IS NOT NULL AND (w.last_run IS NULL OR w.last_run<>?) "
                "AND (w.status<>'waiting' OR w.not_before IS NULL OR w.not_before<=?) "
                "ORDER BY w.due_at LIMIT ?",
                (source, tenant, run_id, iso(now_utc()), limit),
            ).fetchall()
            db.executemany(
                f"UPDATE {kind.table} SET last_run=? WHERE source=? AND tenant=? AND vendor_id=?",
                [(run_id, source, tenant, row[2]) for row in rows],
            )
        return [row_to_recording(row) for row in rows]

    # -- transitions -----------------------------------------------------------------------------------

    def audio_stored_many(self, files: Sequence[tuple[RecordingKey, StoredAudio]]) -> None:
        """Record verified audio files and their egress in one transaction (one fsync for them all)."""
        stamp = iso(now_utc())
        with self._transaction(*{key[:2] for key, _ in files}) as db:
            seqs = self._append(db, [stored_event(AUDIO, key, stored) for key, stored in files])
            db.executemany(
                "UPDATE audio SET status='stored', reason=NULL, damaged=NULL, not_before=NULL, due_at=NULL, "
                "attempts=attempts+1, "
                "path=?, sha256=?, size=?, container=?, codec=?, sample_rate=?, channels=?, decoded_duration=?, "
                "evidence=?, checks=?, fetched=?, endpoint=?, request_id=?, content_length=?, chain_seq=?, "
                "last_verified=?, updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                [(stored.path, stored.sha256, stored.size, stored.container, stored.codec, stored.sample_rate,
                  stored.channels, stored.duration, stored.evidence, json.dumps(list(stored.checks)),
                  stored.fetched or stamp, stored.endpoint, stored.request_id, stored.content_length, seq,
                  stamp, stamp, *key) for seq, (key, stored) in zip(seqs, files, strict=True)],
            )
            db.executemany("INSERT INTO egress VALUES (?,?,?,?)",
                           [(key.source, key.tenant, stamp, stored.size) for key, stored in files])
            for key, _ in files:
                self._resolve_quarantine(db, AUDIO, key, stamp)

    def transcript_stored(self, key: RecordingKey, path: str, segments: int, sha256: str, size: int) -> None:
        """Record a stored transcript file."""
        stamp = iso(now_utc())
        with self._transaction(key[:2]) as db:
            [seq] = self._append(db, [{"type": "stored", "kind": TRANSCRIPT.name, **_item(key), "path": path,
                                       "sha256": sha256, "size": size, "segments": segments}])
            db.execute(
                "UPDATE transcripts SET status='stored', reason=NULL, damaged=NULL, not_before=NULL, due_at=NULL, "
                "attempts=attempts+1, path=?, segments=?, sha256=?, size=?, fetched=?, chain_seq=?, last_verified=?, "
                "updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                (path, segments, sha256, size, stamp, seq, stamp, stamp, *key),
            )
            self._resolve_quarantine(db, TRANSCRIPT, key, stamp)

    @staticmethod
    def _resolve_quarantine(db: Any, kind: WorkKind, key: RecordingKey, stamp: str) -> None:
        """An item once quarantined is now stored correctly: its quarantine entry becomes history."""
        db.execute("UPDATE quarantine SET resolved=? WHERE source=? AND tenant=? AND kind=? AND item_id=? "
                   "AND resolved IS NULL", (stamp, key.source, key.tenant, kind.name, key.vendor_id))

    def waiting(self, kind: WorkKind, key: RecordingKey, reason: str, wait: timedelta,
                not_before: datetime | None = None) -> None:
        """The vendor is still processing the item: ask again on a later run, no attempt counted;
        when the vendor gave an estimate, not before `not_before` (claims skip it until then).

        An item whose waiting period is already over is settled at once (`kind.expired_status`).
        """
        now = now_utc()
        with self._transaction(key[:2]) as db:
            db.execute(
                f"UPDATE {kind.table} SET status='waiting', reason=?, wait_until=COALESCE(wait_until, ?), "
                "not_before=?, updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                (reason, iso(now + wait), iso(not_before) if not_before else None, iso(now), *key),
            )
            db.execute(
                f"UPDATE {kind.table} SET status=?, reason=?, due_at=NULL WHERE source=? AND tenant=? AND vendor_id=? "
                "AND wait_until<?", (kind.expired_status, kind.expired_reason, *key, iso(now)),
            )

    def unavailable(self, kind: WorkKind, key: RecordingKey, reason: str) -> None:
        """Record that the vendor has nothing we may fetch for this item (final; `lost` if `verify`
        had found our copy of it damaged)."""
        with self._transaction(key[:2]) as db:
            db.execute(
                f"UPDATE {kind.table} SET status=CASE WHEN damaged IS NULL THEN 'unavailable' ELSE 'lost' END, "
                "reason=?, attempts=attempts+1, due_at=NULL, updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                (reason, iso(now_utc()), *key),
            )

    def deferred(self, kind: WorkKind, key: RecordingKey, reason: str, max_attempts: int) -> bool:
        """Leave the item for a later run; returns True if this was the last allowed attempt."""
        with self._transaction(key[:2]) as db:
            row = db.execute(
                f"SELECT attempts, damaged FROM {kind.table} WHERE source=? AND tenant=? AND vendor_id=?", tuple(key)
            ).fetchone()
            attempts = (row[0] if row else 0) + 1
            final = attempts >= max_attempts
            if final:
                reason = f"{reason} The collector gave up after {attempts} runs."
            status = "pending" if not final else "lost" if row and row[1] else "failed"
            db.execute(
                f"UPDATE {kind.table} SET status=?, reason=?, attempts=?, updated=?, "
                "due_at=CASE WHEN ? THEN NULL ELSE due_at END WHERE source=? AND tenant=? AND vendor_id=?",
                (status, reason, attempts, iso(now_utc()), final, *key),
            )
        return final

    def quarantined(self, kind: WorkKind, key: RecordingKey, reason: str, *, max_attempts: int, payload: Any = None,
                    path: str | None = None, size: int = 0, sha256: str | None = None) -> None:
        """Quarantine bad content: a download that is not intact audio (kept at `path`, its bytes
        counted as egress, tried again while attempts last) or a transcript payload that could not
        be read (kept in the catalog; final)."""
        stamp = iso(now_utc())
        with self._transaction(key[:2]) as db:
            self._append(db, [{"type": "quarantined", "kind": kind.name, **_item(key), "path": path,
                               "sha256": sha256, "size": size or None, "reason": reason}])
            db.execute(
                f"UPDATE {kind.table} SET status='quarantined', reason=?, attempts=attempts+1, "
                f"due_at=CASE WHEN ? AND attempts+1<? THEN due_at ELSE NULL END, "
                f"{'path=?, ' if kind is AUDIO else ''}updated=? WHERE source=? AND tenant=? AND vendor_id=?",
                (reason, kind.retry_quarantined, max_attempts, *((path,) if kind is AUDIO else ()), stamp, *key),
            )
            db.execute(
                "INSERT INTO quarantine (source, tenant, kind, fingerprint, item_id, reason, payload, path, "
                "first_seen, "
                "last_seen) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source, tenant, kind, fingerprint) DO UPDATE SET "
                "reason=excluded.reason, payload=excluded.payload, path=excluded.path, last_seen=excluded.last_seen, "
                "times=quarantine.times+1",
                (key.source, key.tenant, kind.name, key.vendor_id, key.vendor_id, reason,
                 None if payload is None else to_json_text(payload), path, stamp, stamp),
            )
            if size:
                db.execute("INSERT INTO egress VALUES (?,?,?,?)", (key.source, key.tenant, stamp, size))

    # -- retention ---------------------------------------------------------------------------------------

    def retention_due(self, source: str, tenant: str, limit: int = 500) -> list[tuple[RecordingKey, str, str | None,
                                                                                     bool]]:
        """Stored audio whose recording's retention or legal hold changed since it was stored (the
        object's lock is to follow): (key, path, retain_until, legal_hold)."""
        rows = self._db.execute(
            "SELECT a.vendor_id, a.path, r.retain_until, r.legal_hold FROM audio a JOIN recordings r "
            "USING (source, tenant, vendor_id) WHERE a.source=? AND a.tenant=? AND a.retention_due=1 LIMIT ?",
            (source, tenant, limit)).fetchall()
        return [(RecordingKey(source, tenant, vendor_id), path, until, bool(hold))
                for vendor_id, path, until, hold in rows]

    def retention_applied(self, done: Sequence[tuple[RecordingKey, str, str | None, bool]]) -> None:
        """The objects' locks now follow their recordings' retention (`until`: the lock's new end,
        None where no lock was changed): chained, and no longer due."""
        if not done:
            return
        with self._transaction(*{key[:2] for key, *_ in done}) as db:
            self._append(db, [{"type": "lock", "kind": AUDIO.name, **_item(key), "path": path, "retain_until": until,
                               "legal_hold": hold} for key, path, until, hold in done if until is not None])
            db.executemany("UPDATE audio SET retention_due=NULL WHERE source=? AND tenant=? AND vendor_id=?",
                           [tuple(key) for key, *_ in done])

    def held(self, key: RecordingKey) -> bool:
        """Whether the recording is under the vendor's legal hold or a retention date still to come:
        then no command deletes or overwrites its files."""
        row = self._db.execute("SELECT legal_hold, retain_until FROM recordings WHERE source=? AND tenant=? "
                               "AND vendor_id=?", tuple(key)).fetchone()
        return bool(row and (row[0] or (row[1] and row[1] > iso(now_utc()))))

    # -- egress ------------------------------------------------------------------------------------------

    def record_egress(self, key: RecordingKey, size: int) -> None:
        """Count bytes downloaded that produced no stored file (the vendor still counts them)."""
        if size:
            with self._transaction(key[:2]) as db:
                db.execute("INSERT INTO egress VALUES (?,?,?,?)", (key.source, key.tenant, iso(now_utc()), size))

    def oldest_egress_since(self, source: str, tenant: str, since: datetime) -> datetime | None:
        """When the oldest download counted in a rolling window happened (it leaves the window first)."""
        row = self._db.execute("SELECT MIN(at) FROM egress WHERE source=? AND tenant=? AND at>=?",
                               (source, tenant, iso(since))).fetchone()
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")) if row and row[0] else None

    def egress_since(self, source: str, tenant: str, since: datetime) -> int:
        """Bytes downloaded from a tenant since `since` (rolling egress budgets)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(bytes), 0) FROM egress WHERE source=? AND tenant=? AND at>=?",
            (source, tenant, iso(since)),
        ).fetchone()
        return int(row[0])


def _item(key: RecordingKey) -> dict[str, str]:
    """An item's identity as chain events name it."""
    return {"source": key.source, "tenant": key.tenant, "vendor_id": key.vendor_id}


def stored_event(kind: WorkKind, key: RecordingKey, stored: StoredAudio) -> dict[str, Any]:
    """The chain event of a stored audio file: what it is, what proved it, where it came from."""
    return {"type": "stored", "kind": kind.name, **_item(key), "path": stored.path, "sha256": stored.sha256,
            "size": stored.size, "evidence": stored.evidence, "checks": list(stored.checks),
            "fetched": stored.fetched, "endpoint": stored.endpoint, "request_id": stored.request_id,
            "content_length": stored.content_length}


def fingerprint(payload_json: str) -> str:
    """The key under which a quarantined payload is kept once, however often it is listed."""
    return hashlib.sha256(payload_json.encode("utf-8", "surrogatepass")).hexdigest()
