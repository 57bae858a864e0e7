"""Parents whose children the vendor attaches later: the `revisits` table and its transitions.

    a `Revisit` from parse ──> pending ──visit──> settled       the plugin said it is complete
                                  │         ├──> pending       due again `revisit_interval` later
                                  │         ├──> expired       still incomplete at a visit at or after
                                  │         │                  its deadline (or visits kept failing
                                  │         │                  past it, `max_attempts` in a row)
                                  │         └──> unavailable   the vendor no longer has the parent
                                  └── listed again with another payload: updated (a settled or expired
                                      parent reopens)

A parent is queued in the transaction of the listing page that named it (`queue_revisits`, from
`commit_page`), due at once (or from the `not_before` the plugin gave), so the page never waits
for its children. A visit's children are committed in
one transaction with the parent's new state (`finish_visit`, from `commit_page(..., visited=)`):
a run killed between the visit and that commit leaves the parent as it was, due, and the next run
visits it again. `claim_revisits` marks `last_run`: once its listing has ended, a run visits each
parent at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector._base._revisit import Revisit
from collector._base._time import iso, now_utc, parse_iso

from ._db import Database
from ._rows import to_json_text

STATUSES = ("pending", "settled", "expired", "unavailable")


@dataclass(frozen=True)
class DueParent:
    """A parent claimed for a visit: the plugin's `Revisit` as stored, and its history so far."""

    revisit: Revisit
    visits: int
    failures: int
    first_seen: str


@dataclass(frozen=True)
class Visited:
    """What a visit found, committed with its children: `complete` as the plugin said, and how
    many recordings were stored for the first time through it."""

    item_id: str
    complete: bool
    new_children: int = 0


def queue_revisits(db: Any, dialect: Any, source: str, tenant: str, revisits: Sequence[Revisit], stamp: str,
                   interval: timedelta) -> int:
    """Record the parents a page (or a visit) named, inside its transaction; returns how many are new.

    A new parent is due at once (or from its `not_before`). One named again with another payload
    or deadline is updated (a settled or expired one reopens when its payload changed); one named
    again unchanged is left alone, so a re-listed page writes nothing.
    """
    unique = {revisit.item_id: revisit for revisit in revisits}
    if not unique:
        return 0
    existing = {row[0] for row in db.execute(
        f"SELECT item_id FROM revisits WHERE source=? AND tenant=? AND item_id {dialect.in_json_list}",
        (source, tenant, dialect.json_list(unique)))}
    db.executemany(
        "INSERT INTO revisits (source, tenant, item_id, payload, status, first_seen, due_at, deadline, visits, "
        "updated) VALUES (?,?,?,?,'pending',?,?,?,0,?) ON CONFLICT (source, tenant, item_id) DO UPDATE SET "
        "payload=excluded.payload, deadline=excluded.deadline, updated=excluded.updated, status='pending', "
        "reason=CASE WHEN revisits.status='pending' THEN revisits.reason ELSE NULL END, "
        "failures=CASE WHEN revisits.status='pending' THEN revisits.failures ELSE 0 END, "
        "due_at=CASE WHEN revisits.status='pending' THEN revisits.due_at ELSE excluded.due_at END "
        "WHERE (revisits.status='pending' AND (revisits.payload<>excluded.payload "
        "OR revisits.deadline<>excluded.deadline)) "
        "OR (revisits.status<>'pending' AND revisits.payload<>excluded.payload)",
        [(source, tenant, item_id, to_json_text(revisit.payload), stamp,
          max(stamp, iso(revisit.not_before)) if revisit.not_before else stamp, iso(revisit.deadline), stamp)
         for item_id, revisit in unique.items()],
    )
    return len(unique.keys() - existing)


def finish_visit(db: Any, source: str, tenant: str, visited: Visited, stamp: str, interval: timedelta) -> str:
    """Record a visit whose children are being committed in the same transaction; returns the
    parent's new status (`settled`, `pending` or `expired`)."""
    row = db.execute("SELECT deadline, visits, children, status FROM revisits WHERE source=? AND tenant=? "
                     "AND item_id=?", (source, tenant, visited.item_id)).fetchone()
    if row is None or row[3] != "pending":
        return row[3] if row else "settled"  # an operator reset it meanwhile: nothing to update
    deadline, visits, children = row[0], row[1] + 1, row[2] + visited.new_children
    reason: str | None = None
    due: str | None = None
    if visited.complete:
        status = "settled"
    elif deadline <= stamp:
        status = "expired"
        reason = (f"The vendor had not attached every child by the deadline ({deadline}): {children} found in "
                  f"{visits} visit{'s' if visits != 1 else ''}; the parent is no longer visited.")
    else:
        status, due = "pending", iso(parse_iso(stamp) + interval)
    db.execute("UPDATE revisits SET status=?, due_at=?, visits=?, children=?, failures=0, reason=?, updated=? "
               "WHERE source=? AND tenant=? AND item_id=?",
               (status, due, visits, children, reason, stamp, source, tenant, visited.item_id))
    return status


class RevisitsCatalog(Database):
    """Claiming parents due for a visit, recording failed visits, and what `status` shows of them."""

    def claim_revisits(self, source: str, tenant: str, run_id: int, limit: int, *,
                       again: bool = False) -> list[DueParent]:
        """Take up to `limit` pending parents that are due, the longest due first, marking them as
        visited in this run; parents visited in this run already only when `again`."""
        stamp = iso(now_utc())
        with self._transaction((source, tenant)) as db:
            rows = db.execute(
                "SELECT item_id, payload, deadline, visits, failures, first_seen FROM revisits WHERE source=? "
                "AND tenant=? AND due_at IS NOT NULL AND due_at<=? AND (? OR last_run IS NULL OR last_run<>?) "
                "ORDER BY due_at LIMIT ?", (source, tenant, stamp, again, run_id, limit)).fetchall()
            db.executemany("UPDATE revisits SET last_run=? WHERE source=? AND tenant=? AND item_id=?",
                           [(run_id, source, tenant, row[0]) for row in rows])
        return [DueParent(Revisit(item_id, json.loads(payload), parse_iso(deadline)), visits, failures, first)
                for item_id, payload, deadline, visits, failures, first in rows]

    def next_revisit_due(self, source: str, tenant: str, run_id: int, *, again: bool = False) -> datetime | None:
        """When the next pending parent falls due (not yet visited in this run, unless `again`);
        None when none is pending."""
        row = self._db.execute(
            "SELECT MIN(due_at) FROM revisits WHERE source=? AND tenant=? AND due_at IS NOT NULL "
            "AND (? OR last_run IS NULL OR last_run<>?)", (source, tenant, again, run_id)).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def revisit_failed(self, source: str, tenant: str, item_id: str, reason: str, interval: timedelta,
                       max_failures: int) -> str:
        """A visit failed (the vendor, or the plugin): visit again after `interval`, keeping the reason;
        past the deadline, `max_failures` failed visits in a row expire the parent. Returns its status."""
        now = now_utc()
        stamp = iso(now)
        with self._transaction((source, tenant)) as db:
            row = db.execute("SELECT deadline, failures, status FROM revisits WHERE source=? AND tenant=? "
                             "AND item_id=?", (source, tenant, item_id)).fetchone()
            if row is None or row[2] != "pending":
                return row[2] if row else "settled"
            failures = row[1] + 1
            if row[0] <= stamp and failures >= max_failures:
                status, due = "expired", None
                reason = (f"Its deadline ({row[0]}) passed and {failures} visits in a row failed; the parent is no "
                          f"longer visited. The last failure: {reason}")
            else:
                status, due = "pending", iso(now + interval)
            db.execute("UPDATE revisits SET status=?, due_at=?, failures=?, visits=visits+1, reason=?, updated=? "
                       "WHERE source=? AND tenant=? AND item_id=?",
                       (status, due, failures, reason, stamp, source, tenant, item_id))
        return status

    def revisit_unavailable(self, source: str, tenant: str, item_id: str, reason: str) -> None:
        """The vendor no longer has the parent: it is not visited again (final)."""
        with self._transaction((source, tenant)) as db:
            db.execute("UPDATE revisits SET status='unavailable', due_at=NULL, visits=visits+1, reason=?, updated=? "
                       "WHERE source=? AND tenant=? AND item_id=? AND status='pending'",
                       (reason, iso(now_utc()), source, tenant, item_id))

    def revisit_counts(self, source: str, tenant: str) -> dict[str, Any]:
        """Parents by status, the children found through visits, and when the next pending one is due."""
        counts: dict[str, Any] = dict.fromkeys(STATUSES, 0)
        children = 0
        for status, n, found in self._db.execute(
                "SELECT status, COUNT(*), COALESCE(SUM(children), 0) FROM revisits WHERE source=? AND tenant=? "
                "GROUP BY status", (source, tenant)):
            counts[status] = n
            children += int(found)
        row = self._db.execute("SELECT MIN(due_at) FROM revisits WHERE source=? AND tenant=? AND due_at IS NOT NULL",
                               (source, tenant)).fetchone()
        return {**counts, "children": children, "next_due": row[0] if row else None}

    def revisit_problems(self, source: str, tenant: str, limit: int = 20) -> list[dict[str, Any]]:
        """Parents that ended without settling (expired, unavailable) and pending ones whose last
        visit failed, each with its reason, the latest first."""
        rows = self._db.execute(
            "SELECT item_id, status, visits, reason, deadline FROM revisits WHERE source=? AND tenant=? "
            "AND (status IN ('expired', 'unavailable') OR (status='pending' AND reason IS NOT NULL)) "
            "ORDER BY updated DESC LIMIT ?", (source, tenant, limit)).fetchall()
        return [{"kind": "revisit", "id": item_id, "status": status, "attempts": visits, "reason": reason,
                 "deadline": deadline} for item_id, status, visits, reason, deadline in rows]
