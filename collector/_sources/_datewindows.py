"""Date windows: a sweep in whole dates of the vendor's zone, inclusive at both ends, of bounded span.

Many vendors filter by date, not by instant: `from_date=2026-11-01&to_date=2026-11-30`, both
dates included, "at most one month per request", dates in the vendor's own zone. `DateWindows`
plans exactly such requests and keeps everything else of `TimeWindows` (the watermark over final
windows, the lookback, held windows that did not reconcile, open windows re-listed from their
newest time with `open_overlap`):

- windows are cells of whole days in `zone`: `days=N` (N-day cells counted from 1970-01-01, so
  every run asks for the same ones) or `months=M` (calendar months, quarters with M=3); a window
  never spans more than one cell, and the first and last may be shorter (from `start`; up to today
  or the last settled day);
- `DateWindow.first` and `.last` are the dates to ask for (both included); `.start` and `.end` are
  the instants they cover ([first 00:00, the day after last 00:00) in `zone`: 23 or 25 hours a day
  across a clock change);
- a window is final once the day after its last date has begun at least `settle` ago; the open
  window of today (with `unsettled=True`) asks up to today, inclusive;
- an open window listed in part before starts at the date of its newest time seen minus
  `open_overlap` (whole dates only: a day is never cut).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, cast

from collector._base._time import day_bounds, iso

from ._windows import TimeWindows, Window, WindowSweep

_EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class DateWindow(Window):
    """A window of whole dates: ask the vendor for `first` to `last`, both included."""

    first: date = field(default=None)  # type: ignore[assignment]  # always set by the planner
    last: date = field(default=None)  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


class DateWindows(TimeWindows):
    """Sweeps in whole dates of the vendor's `zone`, at most `days` days or `months` calendar months
    per window, inclusive ends; otherwise as `TimeWindows` (`lookback`, `settle`, `start`, `first_run`,
    `unsettled`, `accept_after`, `open_overlap`). `start` and `end` are dates (or instants, read
    as their date in `zone`); `end` is the last date collected."""

    def __init__(self, *, zone: tzinfo | str, days: int | None = None, months: int | None = None,
                 lookback: timedelta, settle: timedelta, start: date | datetime | None = None,
                 first_run: timedelta | None = None, end: date | datetime | None = None, unsettled: bool = False,
                 accept_after: int = 0, open_overlap: timedelta | None = None) -> None:
        if (days is None) == (months is None):
            raise ValueError("give the longest window as days=N or months=N (one of them)")
        if (days or months or 0) < 1:
            raise ValueError("a date window spans at least one day (or one month)")
        self.days, self.months = days, months
        self.tz = zoneinfo.ZoneInfo(zone) if isinstance(zone, str) else zone
        self.last_day = self._day(end) if end is not None else None
        first = day_bounds(self._day(start), self.tz)[0] if start is not None else None
        super().__init__(size=timedelta(days=days or 31 * (months or 1)), lookback=lookback, settle=settle,
                         start=first, first_run=first_run, unsettled=unsettled, accept_after=accept_after,
                         precision=timedelta(seconds=1), open_overlap=open_overlap, zone=self.tz)

    def sweep(self, state: Mapping[str, Any] | None, *, now: datetime | None = None,
              restart_from: datetime | None = None) -> WindowSweep[DateWindow]:
        """As `TimeWindows.sweep`, with `DateWindow`s."""
        sweep = super().sweep(state, now=now, restart_from=restart_from)
        return cast("WindowSweep[DateWindow]", sweep)  # `_plan` and `_resumed` make DateWindows only

    def _day(self, value: date | datetime) -> date:
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise ValueError("a naive datetime names no instant: give a date, or an aware datetime")
            return value.astimezone(self.tz).date()
        return value

    def _cell(self, day: date) -> tuple[date, date]:
        """The first and last dates of the cell holding `day`."""
        if self.days is not None:
            first = date.fromordinal(_EPOCH_DAY + (day.toordinal() - _EPOCH_DAY) // self.days * self.days)
            return first, first + timedelta(days=self.days - 1)
        assert self.months is not None
        index = (day.year * 12 + day.month - 1) // self.months * self.months
        first = date(index // 12, index % 12 + 1, 1)
        following = index + self.months
        return first, date(following // 12, following % 12 + 1, 1) - timedelta(days=1)

    def _plan(self, begin: datetime, now: datetime, floor: datetime | None) -> list[Window]:
        settled = now - self.settle
        last = now.astimezone(self.tz).date() if self.unsettled else settled.astimezone(self.tz).date() - timedelta(1)
        if self.last_day is not None:
            last = min(last, self.last_day)
        day = self._cell(begin.astimezone(self.tz).date())[0]
        if floor is not None:
            day = max(day, floor.astimezone(self.tz).date())
        windows: list[Window] = []
        while day <= last:
            until = min(self._cell(day)[1], last)
            start, end = day_bounds(day, self.tz)[0], day_bounds(until, self.tz)[1]
            windows.append(DateWindow(start, end, end <= settled, first=day, last=until))
            day = until + timedelta(days=1)
        return windows

    def _resumed(self, window: Window, opened: Mapping[str, datetime]) -> Window:
        seen = opened.get(iso(window.start))
        if window.final or self.open_overlap is None or seen is None or not isinstance(window, DateWindow):
            return window
        first = min(max(window.first, (seen - self.open_overlap).astimezone(self.tz).date()), window.last)
        return DateWindow(window.start, window.end, window.final, day_bounds(first, self.tz)[0],
                          first=first, last=window.last)
