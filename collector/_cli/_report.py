"""`collector report`: per tenant and day, the vendor's own count beside what we listed, stored and proved.

The evidence a compliance officer files. For each tenant and day it shows the vendor's count of
the day (asked for once the day settled: `collector._runner._job._reconcile`), the recordings listed to
us (in the catalog), those whose audio is stored, those whose stored file is proven (evidence
`checksum` or `complete`, see `collector._storage._proof`), those held (a legal hold, or a retention date
still ahead), and the difference vendor - listed. A day is **reconciled** only when the vendor's
count equals the recordings listed, every listed recording is stored or unavailable for a stated
reason (no media, access denied, refused on download, audio not collected for this tenant), and
every stored file is proven. Otherwise the day says what is short and names it: recordings the
vendor counted but never listed (when its count named them), listed ones not stored (and why),
stored files that only decode. A day whose count is not known reads "not counted yet" (the plugin
can count; the day has not settled or its turn has not come) or "no vendor count" (the plugin
cannot count, or is not installed where the report runs).

Days are calendar days in each tenant's own zone, the one its vendor counts were made in (its
`timezone`; UTC for a tenant not counted yet), or all in `--timezone` (counts made in another zone
then do not fit its days and are left out, saying so). The vendor's counts per listing window
(`ListingCount`, e.g. 14-day windows) stay in the JSON as `windows`.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from collector._storage._catalog import Catalog, DayCount, Scope
from collector._storage._proof import PROVEN

COLUMNS = ("vendor", "listed", "stored", "proven", "unavailable", "held", "difference")
NAMED = 5
"""How many ids a finding names (the JSON has the same few; `export` has them all)."""

RECONCILED, SHORT, OVER = "reconciled", "short", "over"
NOT_COUNTED, NO_COUNT = "not counted yet", "no vendor count"

_WHY = {"none": "no media", "denied": "access denied"}
_NOT_STORED = {"pending": "queued", "waiting": "waiting for the vendor", "quarantined": "quarantined",
               "failed": "failed", "lost": "lost"}


@dataclass
class Named:
    """How many recordings a finding is about, and the first few of their ids."""

    count: int = 0
    ids: list[str] = field(default_factory=list)

    def add(self, vendor_id: str) -> None:
        """Count one more, naming it while fewer than `NAMED` are named."""
        self.count += 1
        if len(self.ids) < NAMED:
            self.ids.append(vendor_id)

    def names(self) -> str:
        """The ids, and how many more there are."""
        more = self.count - len(self.ids)
        return ", ".join(self.ids) + (f" and {more} more" if more > 0 else "")


@dataclass
class Line:
    """One tenant's day (or its totals): the vendor's count, what we hold of it, and why it is short."""

    source: str
    tenant: str
    day: str
    zone: str
    vendor: int | None = None
    method: str | None = None
    counted_at: str | None = None
    count_period: tuple[str, str] | None = None
    listed: int = 0
    audio: collections.Counter[str] = field(default_factory=collections.Counter)
    evidence: collections.Counter[str] = field(default_factory=collections.Counter)
    verified: int = 0
    held: int = 0
    unavailable_why: collections.Counter[str] = field(default_factory=collections.Counter)
    transcripts: collections.Counter[str] = field(default_factory=collections.Counter)
    resume: str | None = None
    never_listed: list[str] = field(default_factory=list)
    not_stored: Named = field(default_factory=Named)
    decodes_only: Named = field(default_factory=Named)
    no_level: Named = field(default_factory=Named)
    uncounted: str = NOT_COUNTED
    """What a missing vendor count means here: "not counted yet", "no vendor count", or "counted in
    <zone> days" (a count made in another zone than the report's)."""
    days: collections.Counter[str] = field(default_factory=collections.Counter)
    """For totals: how many days are in each state."""
    counted_listed: int = 0
    """For totals: the recordings listed on the days that were counted."""

    @property
    def label(self) -> str:
        """`source/tenant`, or "all tenants" for the grand total."""
        return f"{self.source}/{self.tenant}" if self.source else "all tenants"

    @property
    def stored(self) -> int:
        """Listed recordings whose audio is stored."""
        return self.audio.get("stored", 0)

    @property
    def unavailable(self) -> int:
        """Listed recordings without audio for a stated reason (including audio not collected)."""
        return self.audio.get("unavailable", 0) + self.audio.get("not collected", 0)

    @property
    def proven(self) -> int:
        """Stored files whose evidence proves them intact."""
        return sum(self.evidence.get(level, 0) for level in PROVEN)

    @property
    def difference(self) -> int | None:
        """The vendor's count minus the recordings listed (None until counted; for totals, over the
        days counted)."""
        if self.vendor is None:
            return None
        return self.vendor - (self.counted_listed if self.day == "total" else self.listed)

    def count(self, column: str) -> int | None:
        """The value of one of `COLUMNS`."""
        value: int | None = getattr(self, column)
        return value

    def findings(self) -> list[str]:
        """What keeps this day from reconciling, as sentences naming the recordings."""
        found: list[str] = []
        if self.vendor is not None and self.vendor > self.listed:
            never = f" (never listed: {', '.join(self.never_listed)})" if self.never_listed else ""
            found.append(f"short: vendor counts {self.vendor}, {self.listed} listed{never}")
        elif self.vendor is not None and self.vendor < self.listed:
            when = f" (counted {self.counted_at[:16].replace('T', ' ')})" if self.counted_at else ""
            found.append(f"vendor counts {self.vendor}, {self.listed} listed{when}")
        if self.not_stored.count:
            why = ", ".join(f"{n} {_why_not(status, self.resume)}" for status, n in sorted(self.audio.items())
                            if status in _NOT_STORED)
            found.append(f"{_n(self.not_stored.count, 'listed recording')} not stored ({why}): "
                         f"{self.not_stored.names()}")
        if self.decodes_only.count:
            found.append(f"{_n(self.decodes_only.count, 'stored file')} decode only: {self.decodes_only.names()}")
        if self.no_level.count:
            found.append(f"{_n(self.no_level.count, 'stored file')} without an evidence level (verify --decode "
                         f"records it): {self.no_level.names()}")
        return found

    @property
    def state(self) -> str:
        """reconciled, short, over (the vendor counts fewer than were listed), or why there is no count."""
        if self.not_stored.count or self.decodes_only.count or self.no_level.count or (
                self.vendor is not None and self.vendor > self.listed):
            return SHORT
        if self.vendor is None:
            return self.uncounted
        return OVER if self.vendor < self.listed else RECONCILED

    def describe(self) -> str:
        """The state as the tables show it: the findings, or the state word (and notes)."""
        if self.day == "total":
            return ", ".join(f"{_n(n, 'day')} {state}" for state, n in self.days.most_common())
        found = self.findings()
        if self.vendor is None and found:
            found.append(self.uncounted)
        text = "; ".join(found) or self.state
        start = self.count_period[0] if self.count_period else None
        if start and not found and _local_time(start, self.zone) != "00:00":
            text += f" (counted from {_local_time(start, self.zone)}, where the collection starts)"
        return text

    def add(self, other: Line) -> None:
        """Add a day's (or a tenant's) counts into these totals."""
        if other.vendor is not None:
            self.vendor = (self.vendor or 0) + other.vendor
        self.listed += other.listed
        for mine, theirs in ((self.audio, other.audio), (self.evidence, other.evidence),
                             (self.unavailable_why, other.unavailable_why), (self.transcripts, other.transcripts)):
            mine.update(theirs)
        self.verified += other.verified
        self.held += other.held
        if other.resume and (self.resume is None or other.resume > self.resume):
            self.resume = other.resume
        if other.day == "total":
            self.days.update(other.days)
            self.counted_listed += other.counted_listed
        else:
            self.days[other.state] += 1
            self.counted_listed += other.listed if other.vendor is not None else 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, every count spelled out and every finding named."""
        total = self.day == "total"
        return {
            "source": self.source, "tenant": self.tenant, "day": self.day, "zone": self.zone,
            "vendor_count": self.vendor, "listed": self.listed, "stored": self.stored, "proven": self.proven,
            "unavailable": self.unavailable, "held": self.held, "difference": self.difference,
            "state": self.describe() if total else self.state,
            "reconciled": set(self.days) == {RECONCILED} if total else self.state == RECONCILED,
            "findings": [] if total else self.findings(), "days": dict(self.days) if total else None,
            "count_method": self.method, "counted_at": self.counted_at,
            "count_start": self.count_period[0] if self.count_period else None,
            "count_end": self.count_period[1] if self.count_period else None,
            "never_listed": self.never_listed, "not_stored": self.not_stored.ids,
            "decodes_only": self.decodes_only.ids, "without_evidence": self.no_level.ids,
            "evidence": dict(self.evidence), "verified": self.verified,
            "unavailable_why": dict(self.unavailable_why), "waiting": self.audio.get("waiting", 0),
            "deferred": self.audio.get("pending", 0), "deferred_until": self.resume,
            "quarantined": self.audio.get("quarantined", 0), "failed": self.audio.get("failed", 0),
            "lost": self.audio.get("lost", 0), "transcripts": dict(self.transcripts),
        }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _why_not(status: str, resume: str | None) -> str:
    if status == "pending" and resume:
        return f"deferred until {resume[:10]}"
    return _NOT_STORED[status]


def _local_time(instant: str, zone: str) -> str:
    return _parse(instant).astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


@dataclass
class WindowLine:
    """A listing window as the plugin reported it while listing: the vendor's count beside ours."""

    source: str
    tenant: str
    start: str
    end: str
    vendor: int | None
    listed: int


@dataclass
class Report:
    """The whole report: a line per tenant and day, per-tenant totals, listing windows, the grand total."""

    zone: str | None
    """The zone every day is in, or None when tenants' own zones differ."""
    scope: Scope
    days: list[Line]
    totals: list[Line]
    windows: list[WindowLine]
    total: Line


def build_report(catalog: Catalog, scope: Scope, zone: tzinfo | None, zone_name: str | None,
                 can_count: Mapping[str, bool]) -> Report:
    """Count everything in `scope` per tenant and day: in `zone` when given, else in each tenant's own.

    `can_count` says, per source name, whether its plugin can state the vendor's count (a source
    it does not name reads "no vendor count" where a day has none)."""
    counts: dict[tuple[str, str], list[DayCount]] = collections.defaultdict(list)
    for day_count in catalog.vendor_day_counts(scope):
        counts[(day_count.source, day_count.tenant)].append(day_count)
    zones: dict[tuple[str, str], str] = {}
    for key, rows in counts.items():
        zones[key] = max(rows, key=lambda row: row.at).zone  # the zone of the latest counts
    lines: dict[tuple[str, str, str], Line] = {}
    tz_cache: dict[str, tzinfo] = {}

    def line_of(source: str, tenant: str, day: str) -> Line:
        line = lines.get((source, tenant, day))
        if line is None:
            name = zone_name or zones.get((source, tenant), "UTC")
            line = lines[(source, tenant, day)] = Line(source, tenant, day, name)
            counted_in = zones.get((source, tenant))
            if counted_in is not None and counted_in != name:
                line.uncounted = f"counted in {counted_in} days"
            elif not can_count.get(source, False):
                line.uncounted = NO_COUNT
        return line

    for item in catalog.report_rows(scope):
        name = zone_name or zones.get((item.source, item.tenant), "UTC")
        local = tz_cache.get(name) or tz_cache.setdefault(name, zone or ZoneInfo(name))
        line = line_of(item.source, item.tenant, _parse(item.start).astimezone(local).date().isoformat())
        _count(line, item.vendor_id, item.media, item.audio, item.evidence, item.verified, item.not_before)
        line.held += item.held
        if item.transcript is not None:
            line.transcripts[item.transcript] += 1
    for (source, tenant), rows in counts.items():
        name = zone_name or zones[(source, tenant)]
        fitting = [row for row in rows if row.zone == name]
        missing = {vendor_id for row in fitting for vendor_id in row.missing or ()}
        known = catalog.known_ids(source, tenant, missing) if missing else set()
        for row in fitting:
            if not _in_scope(row, scope):  # a day cut by --from/--to: its count is for the whole day
                if (source, tenant, row.day) in lines:
                    lines[(source, tenant, row.day)].uncounted = "only part of the day is in --from/--to"
                continue
            line = line_of(source, tenant, row.day)
            line.vendor, line.method, line.counted_at = row.count, row.method, row.at
            line.count_period = (row.start, row.end)
            line.never_listed = sorted(set(row.missing or ()) - known)[:NAMED]
    days = [lines[key] for key in sorted(lines)]
    totals: dict[tuple[str, str], Line] = {}
    for line in days:
        totals.setdefault((line.source, line.tenant), Line(line.source, line.tenant, "total", line.zone)).add(line)
    everything = Line("", "", "total", zone_name or "")
    for total in totals.values():
        everything.add(total)
    shared = {line.zone for line in days}
    windows = [WindowLine(*window) for window in catalog.listing_windows(scope)]
    return Report(zone_name or (shared.pop() if len(shared) == 1 else None), scope, days,
                  [totals[key] for key in sorted(totals)], windows, everything)


def _count(line: Line, vendor_id: str, media: str, audio: str | None, evidence: str | None, verified: bool,
           not_before: str | None) -> None:
    """Count one listed recording into its day."""
    line.listed += 1
    status = audio or "not collected"  # no audio row: the tenant does not collect audio
    line.audio[status] += 1
    if status == "stored":
        line.verified += verified
        line.evidence[evidence or "none"] += 1
        if evidence not in PROVEN:
            (line.decodes_only if evidence else line.no_level).add(vendor_id)
    elif status == "unavailable":
        line.unavailable_why[_WHY.get(media, "refused on download")] += 1
    elif status == "not collected":
        line.unavailable_why["audio not collected"] += 1
    else:
        line.not_stored.add(vendor_id)
        if status == "pending" and not_before and (line.resume is None or not_before > line.resume):
            line.resume = not_before


def _in_scope(row: DayCount, scope: Scope) -> bool:
    """Whether a counted day lies wholly in the report's period (a day cut by --from/--to has only
    part of its recordings in the report)."""
    start, end = _parse(row.start), _parse(row.end)
    return (scope.since is None or start >= scope.since) and (scope.until is None or end <= scope.until)


__all__ = ["COLUMNS", "NOT_COUNTED", "NO_COUNT", "OVER", "RECONCILED", "SHORT", "Line", "Report", "WindowLine",
           "build_report"]
