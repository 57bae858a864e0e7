"""`collector report`: per tenant and day, what the vendor listed and where every recording stands.

The evidence a compliance officer files: for each tenant and day (the recordings' start, in UTC
unless another zone is asked for), the vendor's own count beside ours, and what became of each
recording's audio: stored (and verified), unavailable and why, waiting for the vendor, deferred
(with when it can resume), quarantined now, failed, lost. The vendor's count comes from the
listing windows the plugin reported (`ListingCount`): a day is reconciled only when windows with a
vendor count cover it exactly; otherwise it reads "not reconciled", and windows that straddle days
are listed on their own. Totals per tenant and overall close the report.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from ._catalog import Catalog, Scope

COLUMNS = ("vendor", "recordings", "stored", "verified", "unavailable", "waiting", "deferred", "quarantined",
           "failed", "lost")


@dataclass
class Line:
    """One tenant's day (or its totals): the counts `COLUMNS` names, and the details behind them."""

    source: str
    tenant: str
    day: str
    vendor: int | None = None
    recordings: int = 0
    audio: collections.Counter[str] = field(default_factory=collections.Counter)
    verified: int = 0
    unavailable_why: collections.Counter[str] = field(default_factory=collections.Counter)
    transcripts: collections.Counter[str] = field(default_factory=collections.Counter)
    resume: str | None = None
    reconciled: bool = False

    @property
    def label(self) -> str:
        """`source/tenant`."""
        return f"{self.source}/{self.tenant}"

    def count(self, column: str) -> int | None:
        """The value of one of `COLUMNS`."""
        if column == "vendor":
            return self.vendor if self.reconciled else None
        if column == "recordings":
            return self.recordings
        if column == "verified":
            return self.verified
        return self.audio.get("pending" if column == "deferred" else column, 0)

    @property
    def complete(self) -> bool:
        """Every listed recording's audio is settled (stored, or unavailable for a stated reason)."""
        open_ = sum(self.audio.get(s, 0) for s in ("pending", "waiting", "quarantined", "failed", "lost"))
        return open_ == 0 and (not self.reconciled or self.vendor == self.recordings)

    def add(self, other: Line) -> None:
        """Add another line's counts into this one (for totals)."""
        self.recordings += other.recordings
        self.audio.update(other.audio)
        self.verified += other.verified
        self.unavailable_why.update(other.unavailable_why)
        self.transcripts.update(other.transcripts)
        if other.resume and (self.resume is None or other.resume > self.resume):
            self.resume = other.resume

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, every count spelled out."""
        return {
            "source": self.source, "tenant": self.tenant, "day": self.day,
            "vendor_count": self.vendor if self.reconciled else None, "reconciled": self.reconciled,
            "recordings": self.recordings, "stored": self.audio.get("stored", 0), "verified": self.verified,
            "unavailable": self.audio.get("unavailable", 0), "unavailable_why": dict(self.unavailable_why),
            "waiting": self.audio.get("waiting", 0), "deferred": self.audio.get("pending", 0),
            "deferred_until": self.resume, "quarantined": self.audio.get("quarantined", 0),
            "failed": self.audio.get("failed", 0), "lost": self.audio.get("lost", 0),
            "transcripts": dict(self.transcripts),
        }


@dataclass
class WindowLine:
    """A listing window that does not fit inside one day: the vendor's count beside ours."""

    source: str
    tenant: str
    start: str
    end: str
    vendor: int | None
    listed: int
    recordings: int


@dataclass
class Report:
    """The whole report: lines per tenant and day, per-tenant totals, straddling windows, the grand total."""

    zone: str
    scope: Scope
    days: list[Line]
    totals: list[Line]
    windows: list[WindowLine]
    total: Line


_WHY = {"none": "no media", "denied": "access denied"}


def build_report(catalog: Catalog, scope: Scope, zone: tzinfo, zone_name: str) -> Report:
    """Count everything in `scope` per tenant and local day (in `zone`)."""
    lines: dict[tuple[str, str, str], Line] = {}
    starts: dict[tuple[str, str], list[datetime]] = collections.defaultdict(list)
    for (source, tenant, _vendor_id, _, start, *_rest), (audio_status, media, last_verified, transcript) in _rows(
            catalog, scope):
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        day = moment.astimezone(zone).date().isoformat()
        line = lines.setdefault((source, tenant, day), Line(source, tenant, day))
        line.recordings += 1
        starts[(source, tenant)].append(moment)
        if audio_status is not None:
            line.audio[audio_status] += 1
            if audio_status == "stored" and last_verified:
                line.verified += 1
            if audio_status == "unavailable":
                line.unavailable_why[_WHY.get(media, "refused on download")] += 1
        if transcript is not None:
            line.transcripts[transcript] += 1
    _deferrals(catalog, scope, lines, zone)
    windows = _reconcile(catalog, scope, lines, starts, zone)
    days = [lines[key] for key in sorted(lines)]
    totals: dict[tuple[str, str], Line] = {}
    for line in days:
        totals.setdefault((line.source, line.tenant), Line(line.source, line.tenant, "total")).add(line)
    total = Line("", "", "total")
    for line in totals.values():
        total.add(line)
    return Report(zone_name, scope, days, [totals[key] for key in sorted(totals)], windows, total)


def _rows(catalog: Catalog, scope: Scope) -> Any:
    for row in catalog.export_rows(scope):
        yield row[:5], (row[13], row[10], row[21], row[22])


def _deferrals(catalog: Catalog, scope: Scope, lines: dict[tuple[str, str, str], Line], zone: tzinfo) -> None:
    where, params = scope.sql()
    for source, tenant, start, not_before in catalog.query(
            "SELECT r.source, r.tenant, r.start_utc, a.not_before FROM audio a JOIN recordings r "
            f"USING (source, tenant, vendor_id) WHERE a.status='pending' AND a.not_before IS NOT NULL{where}", params):
        day = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(zone).date().isoformat()
        line = lines.get((source, tenant, day))
        if line is not None and (line.resume is None or not_before > line.resume):
            line.resume = not_before


def _reconcile(catalog: Catalog, scope: Scope, lines: dict[tuple[str, str, str], Line],
               starts: dict[tuple[str, str], list[datetime]], zone: tzinfo) -> list[WindowLine]:
    """Put the vendor's counts on the days its windows cover exactly; return the windows that straddle days."""
    covered: dict[tuple[str, str, str], list[tuple[datetime, datetime, int | None]]] = collections.defaultdict(list)
    straddling: list[WindowLine] = []
    for source, tenant, start_text, end_text, vendor, listed in catalog.listing_windows(scope):
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00")).astimezone(zone)
        end = datetime.fromisoformat(end_text.replace("Z", "+00:00")).astimezone(zone)
        if start.date() == (end - timedelta(microseconds=1)).date():
            covered[(source, tenant, start.date().isoformat())].append((start, end, vendor))
        else:
            ours = sum(1 for moment in starts.get((source, tenant), []) if start <= moment < end)
            straddling.append(WindowLine(source, tenant, start_text, end_text, vendor, listed, ours))
    for key, windows in covered.items():
        line = lines.setdefault(key, Line(*key))
        windows.sort()
        day = date.fromisoformat(key[2])
        first = datetime(day.year, day.month, day.day, tzinfo=zone)
        edges_meet = all(a[1] >= b[0] for a, b in zip(windows, windows[1:]))
        whole = windows[0][0] <= first and windows[-1][1] >= first + timedelta(days=1) and edges_meet
        if whole and all(vendor is not None for _, _, vendor in windows):
            line.vendor = sum(vendor or 0 for _, _, vendor in windows)
            line.reconciled = True
    return straddling
