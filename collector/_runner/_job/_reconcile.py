"""The reconcile task: the vendor's own count of each settled day, asked for once and kept for `report`.

Which days: the tenant's calendar days in its `timezone`, from the start of what its listing
covers (`Source.listing_period`; without one, the day of its oldest recording) to the last
settled day, the last one that ended `count_after_hours` (default: the plugin's) before this
run's listing started. Days are counted only after a run whose listing ran to its end without an
error: that listing started after the day had settled, so it reached every recording the vendor
would list for it (a plugin keeps its default beyond how late its vendor lists a recording).

When: each day once (per zone), newest first, at most `counts_per_run` questions to the vendor a
run, through the source's own HTTP client, so the tenant's rate limit covers them. Then, with the
questions left, the latest `recount_days` settled days (default: the plugin's) are counted again,
newest first: a recording the vendor adds to a day after it was counted (a late insert) then reads
short in `report` instead of staying reconciled, and a count that changes is logged. Older days
are not asked again. Days on which the catalog holds no recording are asked together, up to 31 in
one question: zero for the stretch is zero for each of its days, and a stretch the vendor counts
recordings in is halved until each such day is counted alone. Zero-recording days are counted too:
the vendor may hold recordings we never listed.

A count that fails (an HTTP error, an answer that makes no sense) is logged, this run counts no
more, and the next run asks again: it never fails the tenant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from collector._base._errors import RunError
from collector._base._redact import redact
from collector._base._time import day_bounds, iso, now_utc, parse_iso
from collector._sources._source import Source, VendorCount
from collector._storage._catalog import DayCount

from ._context import JobContext
from ._outcome import describe_error

STRETCH_DAYS = 31
"""The most days without recordings asked for in one question."""

_Bounds = Callable[[date], tuple[datetime, datetime]]
"""A day's instants [start, end), clipped to what the listing covers."""


@dataclass(frozen=True)
class Period:
    """Consecutive days (oldest first) asked for in one question, and the instants it covers."""

    days: tuple[date, ...]
    start: datetime
    end: datetime

    def __str__(self) -> str:
        first, last = self.days[0].isoformat(), self.days[-1].isoformat()
        return first if first == last else f"{first}..{last}"


class _Stop(Exception):
    """The vendor could not count: no more counting this run."""


async def run_reconcile(job: JobContext) -> None:
    """Count the tenant's settled days not counted yet, once its listing of this run has completed."""
    if type(job.source).vendor_count is Source.vendor_count or job.settings.counts_per_run == 0:
        return  # this vendor cannot count, or the entry asks for no counts
    started = now_utc()
    await job.metadata_done.wait()
    if not job.listing_complete:
        return
    try:
        await _count_days(job, started)
    except _Stop:
        pass


async def _count_days(job: JobContext, started: datetime) -> None:
    settings, catalog = job.settings, job.store.catalog
    key = (settings.plugin, settings.tenant)
    zone = ZoneInfo(settings.timezone)
    after = settings.count_after_hours
    settled = started - timedelta(hours=type(job.source).default_count_after_hours if after is None else after)
    first, stop = _guarded_period(job)
    if first is None:
        oldest = await job.store.call(catalog.oldest_start, *key)
        if oldest is None:
            return  # nothing listed yet, and no configured start to count from
        first_day = parse_iso(oldest).astimezone(zone).date()
    else:
        first_day = first.astimezone(zone).date()
    last_day = settled.astimezone(zone).date() - timedelta(days=1)
    if stop is not None:
        last_day = min(last_day, (stop - timedelta(microseconds=1)).astimezone(zone).date())
    counted = await job.store.call(catalog.counted_days, *key, settings.timezone)
    days = _days(first_day, last_day)
    wanted = [day for day in days if day.isoformat() not in counted]
    recount = type(job.source).default_recount_days if settings.recount_days is None else settings.recount_days
    again = [day for day in days[len(days) - recount:] if day.isoformat() in counted] if recount else []

    def bounds(day: date) -> tuple[datetime, datetime]:
        start, end = day_bounds(day, zone)
        return max(start, first) if first else start, min(end, stop) if stop else end

    budget = settings.counts_per_run
    for chunk in [*_chunks(sorted(wanted, reverse=True)), *_chunks(sorted(again, reverse=True))]:
        span = (bounds(chunk[-1])[0], bounds(chunk[0])[1])
        minutes = await job.store.call(catalog.minute_counts, *key, iso(span[0]), iso(span[1]))
        listed: dict[date, int] = {}
        for minute, count in minutes:
            day = parse_iso(f"{minute}:00Z").astimezone(zone).date()
            listed[day] = listed.get(day, 0) + count
        for period in _periods(chunk, listed, bounds):
            budget = await _count_period(job, period, listed, bounds, budget, counted)
            if budget <= 0:
                return


async def _count_period(job: JobContext, whole: Period, listed: dict[date, int],
                        bounds: _Bounds, budget: int, before: Mapping[str, tuple[str, int]]) -> int:
    """Ask for one period (halving a stretch the vendor counts recordings in); returns the budget left."""
    stack = [whole]
    while stack and budget > 0:
        period = stack.pop()
        budget -= 1
        answer = await _ask(job, period)
        if len(period.days) == 1 or answer.count == 0:
            await _record(job, period, answer, listed, bounds, before)
            continue
        middle = len(period.days) // 2
        for days in (period.days[:middle], period.days[middle:]):  # the newer half is asked first
            stack.append(Period(days, bounds(days[0])[0], bounds(days[-1])[1]))
    return budget


async def _ask(job: JobContext, period: Period) -> VendorCount:
    try:
        answer = await job.source.vendor_count(period.start, period.end)
        if answer is None:
            raise _Stop  # the vendor cannot count this period: nothing to log
        if not isinstance(answer, VendorCount):
            raise TypeError(f"vendor_count returned {type(answer).__name__}, not a VendorCount")
        return answer
    except (_Stop, RunError, asyncio.CancelledError):
        raise
    except Exception as exc:  # noqa: BLE001 - a vendor's error or bad answer never fails the tenant
        reason = redact(describe_error(exc, "The vendor's count makes no sense"))
        job.log.warning("The vendor's count of %s for %s failed: %s It is asked for again next run.", period,
                        job.summary.label, reason, extra={"event": "vendor_count_failed", "period": str(period),
                                                          "reason": reason})
        raise _Stop from None


async def _record(job: JobContext, period: Period, answer: VendorCount, listed: dict[date, int],
                  bounds: _Bounds, before: Mapping[str, tuple[str, int]]) -> None:
    settings = job.settings
    method = answer.method if len(period.days) == 1 else f"{answer.method}, {len(period.days)} days at once"
    rows = [DayCount(settings.plugin, settings.tenant, day.isoformat(), settings.timezone, iso(bounds(day)[0]),
                     iso(bounds(day)[1]), answer.count, method) for day in period.days]
    ids = answer.ids if len(period.days) == 1 else None
    missing = await job.store.call(job.store.catalog.record_vendor_counts, rows, ids)
    ours = sum(listed.get(day, 0) for day in period.days)
    job.log.info("The vendor counts %d recording(s) on %s (%s); %d listed.", answer.count, period, method, ours,
                 extra={"event": "vendor_count", "period": str(period), "vendor_count": answer.count, "listed": ours})
    for day in period.days:
        if (earlier := before.get(day.isoformat())) is not None and earlier[1] != answer.count:
            job.log.warning("The vendor's count of %s changed since %s: %d then, %d now (recordings added to or "
                            "removed from a day already counted).", day, earlier[0], earlier[1], answer.count,
                            extra={"event": "vendor_count_changed", "day": day.isoformat(),
                                   "before": earlier[1], "vendor_count": answer.count})
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        job.log.warning("The vendor counts %d recording(s) on %s that it never listed: %s.", len(missing), period,
                        redact(shown), extra={"event": "never_listed", "period": str(period), "missing": len(missing)})


def _guarded_period(job: JobContext) -> tuple[datetime | None, datetime | None]:
    """The source's `listing_period`, or no bounds when the plugin fails to say."""
    try:
        first, stop = job.source.listing_period()
    except Exception:  # a plugin bug only loses the bounds
        job.log.exception("The plugin's listing_period failed; days are counted from the oldest recording.")
        return None, None
    return _aware(first), _aware(stop)


def _aware(moment: datetime | None) -> datetime | None:
    """A plugin's naive instant, read as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _chunks(days: Sequence[date]) -> list[list[date]]:
    """Days (newest first) in groups spanning at most `STRETCH_DAYS` calendar days."""
    chunks: list[list[date]] = []
    for day in days:
        if chunks and (chunks[-1][0] - day).days < STRETCH_DAYS:
            chunks[-1].append(day)
        else:
            chunks.append([day])
    return chunks


def _periods(chunk: Sequence[date], listed: dict[date, int], bounds: _Bounds) -> list[Period]:
    """A chunk's questions, newest first: each day with recordings alone, runs of consecutive days
    without any together."""
    groups: list[list[date]] = []
    for day in chunk:  # newest first
        joins = groups and not listed.get(day) and not listed.get(groups[-1][-1]) \
            and (groups[-1][-1] - day).days == 1
        if joins:
            groups[-1].append(day)
        else:
            groups.append([day])
    return [Period(tuple(reversed(group)), bounds(group[-1])[0], bounds(group[0])[1]) for group in groups]
