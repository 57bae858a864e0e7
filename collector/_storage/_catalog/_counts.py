"""The vendor's own count of each settled day (`vendor_counts`), and what `collector report` reads.

A row holds one day of one tenant in the zone it was counted in (`day` is the local date,
`day_start`/`day_end` the UTC instants the count covered: the whole day, or its part from the
tenant's configured start), how it was counted, and `missing`: the vendor ids the count named
that the catalog did not hold when it was made. The job that fills it is
`collector._runner._job._reconcile`; the report compares it with the recordings listed, stored and
proven per day.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from collector._base._time import iso, now_utc

from ._db import Database
from ._evidence import Scope

_BATCH = 500


@dataclass(frozen=True)
class DayCount:
    """The vendor's count of one day of a tenant, as `vendor_counts` holds it."""

    source: str
    tenant: str
    day: str
    zone: str
    start: str
    end: str
    count: int
    method: str
    missing: tuple[str, ...] | None = None
    at: str = ""


@dataclass(frozen=True)
class ReportRow:
    """One recording as the report counts it: its day, its audio's status and proof, its holds."""

    source: str
    tenant: str
    vendor_id: str
    start: str
    media: str
    held: bool
    audio: str | None
    evidence: str | None
    verified: bool
    not_before: str | None
    transcript: str | None


class CountsCatalog(Database):
    """The vendor's counts per day, and the per-recording rows of the report."""

    # -- counting (the reconcile task) -------------------------------------------------------------

    def counted_days(self, source: str, tenant: str, zone: str) -> dict[str, tuple[str, int]]:
        """The days of a tenant counted in `zone`, with when each was counted and the count."""
        rows = self._db.execute("SELECT day, at, vendor_count FROM vendor_counts WHERE source=? AND tenant=? "
                                "AND zone=?", (source, tenant, zone)).fetchall()
        return {day: (at, int(count)) for day, at, count in rows}

    def oldest_start(self, source: str, tenant: str) -> str | None:
        """When the tenant's oldest recording in the catalog starts (None: it has none)."""
        row = self._db.execute("SELECT MIN(start_utc) FROM recordings WHERE source=? AND tenant=?",
                               (source, tenant)).fetchone()
        return row[0] if row else None

    def minute_counts(self, source: str, tenant: str, since: str, until: str) -> list[tuple[str, int]]:
        """How many of the tenant's recordings start in [since, until), per UTC minute
        ('YYYY-MM-DDTHH:MM'): every zone's midnight falls on a minute, so the caller can sort
        minutes into its own days, daylight saving included."""
        return [(minute, int(count)) for minute, count in self._db.execute(
            "SELECT substr(start_utc, 1, 16), COUNT(*) FROM recordings WHERE source=? AND tenant=? "
            "AND start_utc>=? AND start_utc<? GROUP BY 1", (source, tenant, since, until)).fetchall()]

    def record_vendor_counts(self, counts: Sequence[DayCount], ids: Collection[str] | None = None) -> list[str]:
        """Store the vendor's count of some days (replacing earlier counts of them); with `ids` (the
        vendor ids a one-day count named) also which of them the catalog lacks, which it returns."""
        if not counts:
            return []
        source, tenant = counts[0].source, counts[0].tenant
        stamp = iso(now_utc())
        with self._transaction((source, tenant)) as db:
            missing = sorted(set(ids) - self._known(db, source, tenant, ids)) if ids is not None else []
            db.executemany(
                "INSERT INTO vendor_counts (source, tenant, day, zone, day_start, day_end, vendor_count, method, "
                "missing, at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (source, tenant, day) DO UPDATE SET "
                "zone=excluded.zone, day_start=excluded.day_start, day_end=excluded.day_end, "
                "vendor_count=excluded.vendor_count, method=excluded.method, missing=excluded.missing, at=excluded.at",
                [(c.source, c.tenant, c.day, c.zone, c.start, c.end, c.count, c.method,
                  json.dumps(missing) if ids is not None else None, stamp) for c in counts])
        return missing

    # -- the report --------------------------------------------------------------------------------

    def vendor_day_counts(self, scope: Scope) -> list[DayCount]:
        """The vendor's counts of the days in `scope` (its tenants; days overlapping its period)."""
        where, params = scope.overlapping("day_start", "day_end")
        rows = self._db.execute("SELECT source, tenant, day, zone, day_start, day_end, vendor_count, method, missing, "
                                f"at FROM vendor_counts{where} ORDER BY 1, 2, 3", params).fetchall()
        return [DayCount(source, tenant, day, zone, start, end, int(count), method,
                         tuple(json.loads(missing)) if missing else None, at)
                for source, tenant, day, zone, start, end, count, method, missing, at in rows]

    def report_rows(self, scope: Scope) -> Iterator[ReportRow]:
        """Every recording in `scope` as the report counts it, streamed (memory stays flat)."""
        where, params = scope.sql()
        now = iso(now_utc())
        for (source, tenant, vendor_id, start, media, hold, retain, audio, evidence, verified, not_before,
             transcript) in self._stream(
                "SELECT r.source, r.tenant, r.vendor_id, r.start_utc, r.media, r.legal_hold, r.retain_until, a.status, "
                "a.evidence, a.last_verified, a.not_before, t.status FROM recordings r LEFT JOIN audio a "
                "USING (source, tenant, vendor_id) LEFT JOIN transcripts t USING (source, tenant, vendor_id) "
                f"WHERE 1=1{where} ORDER BY r.source, r.tenant, r.start_utc, r.vendor_id", params, _BATCH):
            yield ReportRow(source, tenant, vendor_id, start, media, bool(hold) or bool(retain and retain > now), audio,
                            evidence, verified is not None, not_before, transcript)

    def known_ids(self, source: str, tenant: str, ids: Collection[str]) -> set[str]:
        """Which of these vendor ids the catalog holds for the tenant."""
        return self._known(self._db, source, tenant, ids) if ids else set()

    def _known(self, db: Any, source: str, tenant: str, ids: Collection[str]) -> set[str]:
        return {row[0] for row in db.execute(
            f"SELECT vendor_id FROM recordings WHERE source=? AND tenant=? AND vendor_id {self.dialect.in_json_list}",
            (source, tenant, self.dialect.json_list(ids))).fetchall()}


__all__ = ["CountsCatalog", "DayCount", "ReportRow"]
