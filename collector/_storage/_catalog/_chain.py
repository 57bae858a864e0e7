"""The evidence chain: an append-only hash chain over every event that changes what the store vouches for.

Each event is one JSON object in canonical form (keys sorted, no spaces, ASCII only: see
`collector.archive_check.canonical`) stored with its link hash,

    hash(n) = SHA-256( hash(n-1) + "\\n" + event(n) )      hash(0) = 64 zeros

so changing, removing or reordering any event breaks every link after it. Events are appended in
the same transaction as the catalog change they describe, so the chain and the catalog never
disagree after a crash: a stored file, a download quarantined, a file `verify` found damaged or
missing (re-queued or lost), an operator's `reset` or `retry`, a recording's retention or legal
hold changed. A stored file's row keeps the `seq` of the event that recorded it as it is
(`chain_seq`), so a file and its row rewritten together still disagree with the chain.

The chain's head (event count and hash) is written as a checkpoint at the end of every pass: to
the catalog, the run's summary and log and, where configured, to a write-once place the store's
writer cannot rewrite (see `collector._storage._checkpoints`). Only such a copy makes the chain prove
authenticity rather than order: whoever can write the store can rewrite the whole chain after the
last checkpoint kept elsewhere. `collector.archive_check` checks a store with Python's standard
library alone.

On PostgreSQL the head row is locked for the transaction (`SELECT ... FOR UPDATE`), so workers
append one after another; on SQLite the writer's lock does it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector._base._time import iso, now_utc
from collector.archive_check import GENESIS, canonical, link

from ._db import Database

_ADOPT_BATCH = 1000


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment: `events` events, the last one's link `head`."""

    id: int
    at: str
    run_id: int | None
    events: int
    head: str
    copies: tuple[str, ...] = ()

    def document(self, chain_id: str) -> dict[str, Any]:
        """The checkpoint as written to a write-once copy (`chain_id`: the genesis event's hash,
        which names the chain the checkpoint belongs to)."""
        return {"chain": chain_id, "events": self.events, "head": self.head, "at": self.at, "run": self.run_id}


class ChainCatalog(Database):
    """Appending to the evidence chain, checkpoints, and reading the chain back."""

    def _append(self, db: Any, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Append `events` (inside the caller's transaction); returns their sequence numbers.

        Each gets `seq` and `at` (now, UTC); `None` values are left out so events stay small.
        """
        if not events:
            return []
        seq, head = db.execute("SELECT seq, hash FROM chain_head WHERE id=1" + self.dialect.for_update).fetchone()
        stamp = iso(now_utc())
        rows: list[tuple[int, str, str]] = []
        for event in events:
            seq += 1
            text = canonical({"seq": seq, "at": stamp, **{k: v for k, v in event.items() if v is not None}})
            head = link(head, text)
            rows.append((seq, text, head))
        db.executemany("INSERT INTO chain (seq, event, hash) VALUES (?,?,?)", rows)
        db.execute("UPDATE chain_head SET seq=?, hash=? WHERE id=1", (seq, head))
        return [row[0] for row in rows]

    def _after_migration(self, db: Any, version: int) -> None:
        """Start the chain when the schema that holds it is created (see `_schema`, version 6)."""
        if version == 6:
            self._start_chain(db)

    def _start_chain(self, db: Any) -> None:
        """The genesis event, then one `adopted` event per file already stored: the chain vouches
        for them from now on, as the catalog describes them now (their earlier history is the
        catalog's word alone, and the genesis event says so)."""
        db.execute("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS,))
        files = [(kind, table) for kind, table in (("audio", "audio"), ("transcript", "transcripts"))]
        adopted = sum(db.execute(f"SELECT COUNT(*) FROM {table} WHERE status='stored'").fetchone()[0]
                      for _, table in files)
        self._append(db, [{
            "type": "genesis", "vouches_from": iso(now_utc()), "adopted": adopted,
            "note": ("The chain starts here. It vouches for every event from this moment; files stored before "
                     "it are adopted as the catalog described them then."),
        }])
        for kind, table in files:
            after: tuple[str, ...] = ("", "", "")
            while batch := db.execute(
                    f"SELECT source, tenant, vendor_id, path, sha256, size, updated FROM {table} WHERE status='stored' "
                    "AND (source, tenant, vendor_id) > (?, ?, ?) ORDER BY source, tenant, vendor_id LIMIT ?",
                    (*after, _ADOPT_BATCH)).fetchall():
                seqs = self._append(db, [
                    {"type": "adopted", "kind": kind, "source": source, "tenant": tenant, "vendor_id": vendor_id,
                     "path": path, "sha256": sha256, "size": size, "stored": updated}
                    for source, tenant, vendor_id, path, sha256, size, updated in batch])
                db.executemany(f"UPDATE {table} SET chain_seq=? WHERE source=? AND tenant=? AND vendor_id=?",
                               [(seq, row[0], row[1], row[2]) for seq, row in zip(seqs, batch, strict=True)])
                after = tuple(batch[-1][:3])

    def append_event(self, event: Mapping[str, Any]) -> int:
        """Append one event in a transaction of its own (e.g. `migrate-store`'s); returns its seq."""
        with self._transaction() as db:
            return self._append(db, [event])[0]

    def fresh_chain(self) -> bool:
        """Whether the chain holds only the genesis event of a new, empty catalog (a migration's
        target, which the source's chain then replaces)."""
        rows = self._db.execute("SELECT seq, event FROM chain ORDER BY seq LIMIT 2").fetchall()
        checkpoints = self._db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        if len(rows) != 1 or checkpoints:
            return False
        event = json.loads(rows[0][1])
        return bool(event.get("type") == "genesis" and event.get("adopted") == 0)

    def forget_fresh_chain(self) -> None:
        """Remove a new catalog's own genesis (see `fresh_chain`), so another store's chain can be copied in."""
        with self._transaction() as db:
            db.execute("DELETE FROM chain")
            db.execute("DELETE FROM chain_head")

    # -- checkpoints -------------------------------------------------------------------------------

    def chain_head(self) -> tuple[int, str]:
        """How many events the chain holds, and the last one's link hash."""
        row = self._db.execute("SELECT seq, hash FROM chain_head WHERE id=1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def chain_id(self) -> str:
        """The genesis event's link hash: it names this chain in every checkpoint written elsewhere."""
        row = self._db.execute("SELECT hash FROM chain WHERE seq=1").fetchone()
        return str(row[0]) if row else GENESIS

    def checkpoint(self, run_id: int | None) -> Checkpoint:
        """Record the chain's head now (at the end of a pass) and return it."""
        stamp = iso(now_utc())
        with self._transaction() as db:
            seq, head = db.execute("SELECT seq, hash FROM chain_head WHERE id=1").fetchone()
            new_id = db.execute("INSERT INTO checkpoints (at, run_id, events, head) VALUES (?,?,?,?) RETURNING id",
                                (stamp, run_id, seq, head)).fetchone()[0]
        return Checkpoint(int(new_id), stamp, run_id, int(seq), str(head))

    def checkpoint_copied(self, checkpoint: Checkpoint, copies: Sequence[str]) -> None:
        """Remember where copies of a checkpoint were written (places outside the store)."""
        with self._transaction() as db:
            db.execute("UPDATE checkpoints SET copies=? WHERE id=?", (json.dumps(list(copies)), checkpoint.id))

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first."""
        return [Checkpoint(int(i), at, run_id, int(events), head, tuple(json.loads(copies)) if copies else ())
                for i, at, run_id, events, head, copies in self._db.execute(
                    "SELECT id, at, run_id, events, head, copies FROM checkpoints ORDER BY id")]

    def chain_events(self, after: int = 0, upto: int | None = None,
                     batch: int = 5000) -> Iterator[tuple[int, str, str]]:
        """Every event after `after` (up to `upto`), in order, as (seq, canonical JSON, link hash);
        memory stays flat."""
        limit = self.chain_head()[0] if upto is None else upto
        yield from self._stream("SELECT seq, event, hash FROM chain WHERE seq>? AND seq<=? ORDER BY seq",
                                (after, limit), batch)

    def chain_export(self) -> Iterator[dict[str, Any]]:
        """The chain, its head, its checkpoints and the stored files' rows, as the records
        `collector.archive_check --export` reads (one JSON object a line).

        The head is read first and nothing newer than it is exported, so a store being written
        meanwhile still exports a chain that ends where its head says; a row changed during the
        export may show as a problem (export again when no pass runs)."""
        seq, head = self.chain_head()
        yield {"record": "head", "seq": seq, "hash": head}
        for number, event, link_hash in self.chain_events(upto=seq):
            yield {"record": "event", "seq": number, "event": event, "hash": link_hash}
        for checkpoint in self.checkpoints():
            if checkpoint.events <= seq:
                yield {"record": "checkpoint", "id": checkpoint.id, "at": checkpoint.at, "run": checkpoint.run_id,
                       "events": checkpoint.events, "head": checkpoint.head}
        for kind, table in (("audio", "audio"), ("transcript", "transcripts")):
            for source, tenant, vendor_id, path, sha256, size, chain_seq in self._stream(
                    f"SELECT source, tenant, vendor_id, path, sha256, size, chain_seq FROM {table} "
                    "WHERE status='stored' AND (chain_seq IS NULL OR chain_seq<=?) ORDER BY source, tenant, vendor_id",
                    (seq,), 5000):
                yield {"record": "file", "kind": kind, "source": source, "tenant": tenant, "vendor_id": vendor_id,
                       "path": path, "sha256": sha256, "size": size, "chain_seq": chain_seq}


__all__ = ["ChainCatalog", "Checkpoint"]
