"""Date windows and reconciliation: how offset paging over a newest-first list loses nothing.

Pure logic, no I/O, so every rule here is unit-tested on its own.

The problem: `GET /v1/recordings` pages with `from`/`quantity` over a list sorted newest first. A
recording that arrives during a run lands at the front and shifts every offset by one: the next
page repeats an item and the new one is never seen. The remedy:

- Only *closed* date windows are paged: windows whose end lies at least `settle` in the past, so
  new calls (dated now) cannot land in them. Windows are cells of a fixed grid (multiples of the
  window size since 1970-01-01 UTC) cut to the range being read, so a window keeps its identity
  from one run to the next.
- Each window is read completely, page after page, and what was listed is checked against the
  `total` the vendor reports for it (`WindowRead`): it reconciles when every page reported the
  same total and the number of distinct recordings listed equals it. A window that does not
  reconcile (a late recording landed in it, a page shifted) is read again.
- The watermark (`Progress`) only moves over windows that reconciled, and moves back to the start
  of one that did not. A window that keeps failing for `accept_after` runs is accepted as it is
  (reported), so one inconsistent window cannot make every later run re-read everything after it.
- Later runs start `lookback` before the watermark, which catches recordings the vendor lists
  late (processing delays) and changes to recent recordings (analysis finished, tags, notes).

Bounds are sent as `startdate = start - 1 s` and `enddate = end`, both at whole seconds: whether
the vendor treats either bound as inclusive or exclusive (undocumented), adjacent windows overlap
by one second, so a recording dated exactly on a boundary is always listed. The overlap can list a
recording twice across windows; the catalog's upsert makes that harmless.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OVERLAP = timedelta(seconds=1)
STATE_VERSION = 1


def whole_seconds(moment: datetime) -> datetime:
    """`moment` in UTC, rounded down to a whole second."""
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def format_date(moment: datetime) -> str:
    """The date format sent to the vendor: ISO 8601 in UTC at whole seconds, as in its example."""
    return whole_seconds(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str) -> datetime:
    """A date from the state or the vendor (ISO 8601; a missing zone means UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Window:
    """The half-open date range [start, end) of recordings read together."""

    start: datetime
    end: datetime

    def query(self) -> dict[str, str]:
        """`startdate`/`enddate` for this window (one second of overlap before the start)."""
        return {"startdate": format_date(self.start - OVERLAP), "enddate": format_date(self.end)}

    def __str__(self) -> str:
        return f"{format_date(self.start)}..{format_date(self.end)}"


def grid_size(size: timedelta) -> timedelta:
    """The window size in whole seconds (at least one)."""
    return timedelta(seconds=max(1, int(size.total_seconds())))


def plan_windows(begin: datetime, end: datetime, size: timedelta) -> list[Window]:
    """The grid cells of `size` that meet [begin, end), cut to that range, oldest first."""
    begin, end, step = whole_seconds(begin), whole_seconds(end), grid_size(size)
    windows: list[Window] = []
    cell = EPOCH + ((begin - EPOCH) // step) * step
    while cell < end:
        start, stop = max(cell, begin), min(cell + step, end)
        if start < stop:
            windows.append(Window(start, stop))
        cell += step
    return windows


def read_range(
    watermark: datetime | None,
    *,
    now: datetime,
    start_date: datetime | None,
    end_date: datetime | None,
    lookback: timedelta,
    settle: timedelta,
    first_run: timedelta,
) -> tuple[datetime, datetime]:
    """The [begin, end) a run reads: from the start date (first run) or watermark - lookback, to the
    last closed moment (`now - settle`, or `end_date` if earlier). Never before `start_date`."""
    if watermark is None:
        begin = start_date if start_date is not None else now - first_run
    else:
        begin = watermark - lookback
        if start_date is not None:
            begin = max(begin, start_date)
    end = now - settle
    if end_date is not None:
        end = min(end, end_date)
    return whole_seconds(begin), whole_seconds(end)


@dataclass
class WindowRead:
    """One complete read of a window, page by page, and whether it reconciles with the vendor's total."""

    keys: set[str] = field(default_factory=set)
    totals: list[int] = field(default_factory=list)
    offset: int = 0
    pages: int = 0
    exhausted: bool = False

    def add(self, total: int, keys: Iterable[str], count: int) -> None:
        """Record one page: the `total` it reported, the keys of its items, how many items it held."""
        self.totals.append(total)
        self.keys.update(keys)
        self.offset += count
        self.pages += 1
        self.exhausted = self.exhausted or count == 0

    @property
    def done(self) -> bool:
        """True once the listing reached the latest total (or the vendor sent an empty page)."""
        return self.exhausted or (bool(self.totals) and self.offset >= self.totals[-1])

    @property
    def reconciled(self) -> bool:
        """Every page reported the same total and exactly that many distinct recordings were listed."""
        return bool(self.totals) and len(set(self.totals)) == 1 and len(self.keys) == self.totals[0]

    def describe(self) -> str:
        """What did not add up, as a phrase for a note or a log line."""
        totals = sorted(set(self.totals))
        said = f"{totals[0]}" if len(totals) == 1 else f"{', '.join(map(str, totals))} (it changed while paging)"
        return f"listed {len(self.keys)} distinct recordings in {self.pages} pages, the vendor's total said {said}"


class Outcome(str, enum.Enum):
    """What a window's result did to the watermark."""

    ADVANCED = "advanced"  # reconciled: the watermark may cover it
    HELD = "held"  # did not reconcile: the watermark stays before it; read again next run
    ACCEPTED = "accepted"  # did not reconcile for `accept_after` runs: covered anyway, reported


@dataclass
class Progress:
    """The sync state: the watermark, and the window holding it back (if any) with its failed runs."""

    watermark: datetime | None = None
    held_start: datetime | None = None
    held_runs: int = 0
    blocked: bool = False
    """Set when a window of this run was held: later windows are still read, but not covered."""

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Progress:
        """The progress stored in the catalog (None on the first run)."""
        if not state:
            return cls()
        held = state.get("held") or {}
        return cls(
            watermark=parse_date(state["watermark"]) if state.get("watermark") else None,
            held_start=parse_date(held["start"]) if held.get("start") else None,
            held_runs=int(held.get("runs", 0)),
        )

    def to_state(self) -> dict[str, Any]:
        """The state to commit (JSON-ready)."""
        state: dict[str, Any] = {"version": STATE_VERSION}
        if self.watermark is not None:
            state["watermark"] = format_date(self.watermark)
        if self.held_start is not None:
            state["held"] = {"start": format_date(self.held_start), "runs": self.held_runs}
        return state

    def record(self, window: Window, reconciled: bool, accept_after: int) -> Outcome:
        """Apply one window's result (windows come oldest first) and say what it did."""
        holds = self.held_start is not None and window.start <= self.held_start < window.end
        outcome = Outcome.ADVANCED
        if not reconciled:
            runs = self.held_runs + 1 if holds else 1
            if self.blocked or not accept_after or runs < accept_after:
                if not self.blocked:
                    self.held_start, self.held_runs = window.start, runs
                self.blocked = True
                self.watermark = window.start if self.watermark is None else min(self.watermark, window.start)
                return Outcome.HELD
            outcome = Outcome.ACCEPTED
        if self.blocked:
            return outcome
        if holds:
            self.held_start, self.held_runs = None, 0
        self.watermark = window.end if self.watermark is None else max(self.watermark, window.end)
        return outcome
