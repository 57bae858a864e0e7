"""The time-window planner: sweeping a vendor that lists recordings between two instants.

Some vendors list by time range and page within it (or not at all), and save a recording some
time after its call ended. A run then sweeps a sequence of windows:

- windows lie on a grid of `size`-long cells counted from the Unix epoch, so every run asks for
  the same windows and a window's count can be compared from run to run;
- the first run starts at `start` (or `first_run` before now); later runs at the watermark minus
  `lookback` (never before `start`), so every run re-sweeps a trailing lookback where late
  arrivals appear; changing `start` in the configuration starts over from the new `start`;
- a window is *final* once its end is at least `settle` in the past. Windows that are not final
  are swept too when `unsettled=True` (recent recordings are collected at once), but their pages
  carry no state; otherwise the sweep stops at `now - settle`;
- a final window moves the watermark over it when it is complete. One that did not reconcile
  (its listing disagreed with the vendor's count) is *held*: the watermark moves back to its
  start, later windows are still swept but not covered, and the next run sweeps it again; after
  `accept_after` runs (0: never) it is accepted as listed and reported. A window whose request
  fails ends the sync: the state stays at the last committed window and the next run sweeps the
  failed window again. A window is never skipped.
- with `open_overlap`, a window that is not final yet is not listed whole on every run: the
  newest item time each run saw in it (`WindowSweep.see`, or `page(..., time=...)`) is kept, and
  the next run lists it from that time minus `open_overlap` (`Window.since`). Once final, a window
  is listed whole once more, and only that listing moves the watermark: the narrowing saves
  requests on recent windows and never decides what is complete. `WindowSweep.pages` does the
  bookkeeping for a window listed with `paginate`.

`DateWindows` (`collector._sources._datewindows`) plans the same sweep in whole dates of the vendor's zone.

The state is plain JSON: {"version", "start", "watermark", "held": {"start", "runs"},
"open": {<window start>: <newest time seen in it>}}.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Generic, TypeVar

from collector._base._dates import parse_time
from collector._base._time import iso, now_utc, parse_iso

from ._paging import ItemField, ListedPage, pick
from ._source import ListingCount, Page

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE_VERSION = 2


@dataclass(frozen=True)
class Window:
    """One window [start, end) of a sweep; `final` once its end is older than the settle delay.

    `since` is where this run lists it from: `start`, or, for a window that is not final and was
    listed in part by earlier runs (`TimeWindows(open_overlap=...)`), the newest time they saw in
    it minus the overlap. Ask the vendor for [since, end).
    """

    start: datetime
    end: datetime
    final: bool
    since: datetime = field(default=None, compare=False)  # type: ignore[assignment]  # None: `start`

    def __post_init__(self) -> None:
        if self.since is None:
            object.__setattr__(self, "since", self.start)

    def __str__(self) -> str:
        return f"{iso(self.start, 'milliseconds')}..{iso(self.end, 'milliseconds')}"


class WindowOutcome(str, enum.Enum):
    """What committing a window did to the watermark."""

    OPEN = "open"  # not final yet: no state
    ADVANCED = "advanced"  # the watermark covers it
    HELD = "held"  # did not reconcile: swept again next run
    ACCEPTED = "accepted"  # did not reconcile for `accept_after` runs: covered anyway


def align_down(moment: datetime, step: timedelta) -> datetime:
    """The grid point at or before `moment` (the grid: multiples of `step` since the Unix epoch)."""
    return EPOCH + ((moment - EPOCH) // step) * step


def _truncate(moment: datetime, precision: timedelta) -> datetime:
    return align_down(moment.astimezone(UTC), precision)


class TimeWindows:
    """How a source sweeps time: grid, start, lookback, settle delay, and what to do with mismatches.

    `open_overlap` (None: off) re-lists a window that is not final from the newest time seen in it
    minus this overlap, instead of whole (see the module's notes); `zone` is the vendor's zone for
    item times written without one (read by `WindowSweep.see`).
    """

    def __init__(self, *, size: timedelta, lookback: timedelta, settle: timedelta, start: datetime | None = None,
                 first_run: timedelta | None = None, end: datetime | None = None, unsettled: bool = False,
                 accept_after: int = 0, precision: timedelta = timedelta(milliseconds=1),
                 open_overlap: timedelta | None = None, zone: tzinfo | str | None = None) -> None:
        if size <= timedelta(0):
            raise ValueError("the window must be longer than zero")
        if start is None and first_run is None:
            raise ValueError("give a start, or how far back the first run reaches (first_run)")
        self.size, self.lookback, self.settle = max(size, precision), lookback, settle
        self.start = None if start is None else _truncate(start, precision)
        self.first_run, self.end, self.unsettled = first_run, end, unsettled
        self.accept_after, self.precision = accept_after, precision
        self.open_overlap, self.zone = open_overlap, zone

    def sweep(self, state: Mapping[str, Any] | None, *, now: datetime | None = None,
              restart_from: datetime | None = None) -> WindowSweep[Window]:
        """This run's sweep, given the committed state (None on the first run); `restart_from`
        (`SourceContext.restart_from`) is where a first run begins after `collector reset --from`."""
        now = _truncate(now or now_utc(), self.precision)
        configured = iso(self.start) if self.start else None
        watermark: datetime | None = None
        held: tuple[datetime, int] | None = None
        opened: dict[str, datetime] = {}
        # A state swept from another `start` no longer applies (one without a start predates the key).
        if state and ("start" not in state or _parse(state.get("start")) == self.start):
            watermark = _parse(state.get("watermark"))
            held_state = state.get("held")
            if isinstance(held_state, Mapping) and (held_start := _parse(held_state.get("start"))) is not None:
                held = (held_start, int(held_state.get("runs") or 0))
            if isinstance(state.get("open"), Mapping):
                opened = {key: seen for key, value in state["open"].items() if (seen := _parse(value)) is not None}
        if watermark is None and restart_from is not None:
            begin = _truncate(restart_from, self.precision)
        elif watermark is None:
            begin = self.start if self.start is not None else now - (self.first_run or timedelta(0))
        else:
            begin = watermark - self.lookback
            if self.start is not None:
                begin = max(begin, self.start)
        floor = self.start if self.start is not None and restart_from is None else None
        windows = [self._resumed(window, opened) for window in self._plan(begin, now, floor)]
        opened = {iso(w.start): opened[iso(w.start)] for w in windows if not w.final and iso(w.start) in opened}
        return WindowSweep(self, windows, configured, watermark, held, opened, now)

    def _plan(self, begin: datetime, now: datetime, floor: datetime | None) -> list[Window]:
        """The windows from `begin` (not before `floor`) up to now or the settle delay, on the grid."""
        settled = now - self.settle
        stop = now if self.unsettled else settled
        if self.end is not None:
            stop = min(stop, self.end)
        windows: list[Window] = []
        cursor = align_down(begin, self.size)
        if floor is not None:
            cursor = max(cursor, floor)
        while cursor < stop:
            end = min(align_down(cursor, self.size) + self.size, stop)
            windows.append(Window(cursor, end, final=end <= settled))
            cursor = end
        return windows

    def _resumed(self, window: Window, opened: Mapping[str, datetime]) -> Window:
        """An open window listed in part before, from its newest time seen minus the overlap."""
        seen = opened.get(iso(window.start))
        if window.final or self.open_overlap is None or seen is None:
            return window
        since = min(max(window.start, seen - self.open_overlap), window.end)
        return Window(window.start, window.end, window.final, since)


def _parse(value: Any) -> datetime | None:
    try:
        return parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


W_co = TypeVar("W_co", bound=Window, covariant=True)


class WindowSweep(Generic[W_co]):
    """One run's windows, oldest first, and the state each committed window earns (a `DateWindows`
    sweep's windows are `DateWindow`s)."""

    def __init__(self, plan: TimeWindows, windows: Sequence[W_co], start: str | None,
                 watermark: datetime | None, held: tuple[datetime, int] | None,
                 opened: Mapping[str, datetime] | None = None, now: datetime | None = None) -> None:
        self.plan = plan
        self.windows = list(windows)
        self.watermark = watermark
        self._start = start
        self._held = held
        self._blocked = False
        self._opened = dict(opened or {})
        self._now = now or now_utc()
        self.unreadable = 0
        """Item times `see` could not read this run (they do not narrow an open window)."""
        self.last_outcome: WindowOutcome | None = None
        """What the latest `close` (or `page`) did."""

    def see(self, window: Window, items: Iterable[Any], *, time: ItemField) -> None:
        """Note the newest item time listed in a window that is not final (`time`: a dotted path or a
        function of the item), so that the next run lists it from there (`open_overlap`). Times
        outside the window, in the future or unreadable are not taken."""
        if window.final or self.plan.open_overlap is None:
            return
        key = iso(window.start)
        for item in items:
            if not isinstance(item, Mapping):
                continue
            try:
                moment = parse_time(pick(item, time), zone=self.plan.zone)
            except ValueError:
                self.unreadable += 1
                continue
            if window.start <= moment < window.end and moment <= self._now:
                self._opened[key] = max(moment, self._opened.get(key, moment))

    def page(self, window: Window, items: Sequence[Any] = (), *, complete: bool = True,
             vendor_count: int | None = None, listed: int | None = None, time: ItemField | None = None) -> Page:
        """The page to yield for a window's last (or only) items, with the state it earns.

        `complete=False` says the window did not reconcile. `vendor_count` is the vendor's own
        count for the window, and `listed` how many distinct items it gave (default: `items`),
        kept as evidence for `collector report`. `time` (with `open_overlap`) is where the items'
        times are, passed to `see`. Yield a window's earlier pages as plain `Page(items)` (no
        state) and finish it with this.
        """
        if time is not None:
            self.see(window, items, time=time)
        outcome = self.close(window, complete)
        if outcome is WindowOutcome.OPEN:  # an unsettled window is read again later: no evidence yet
            return Page(items, self.state()) if self.plan.open_overlap is not None else Page(items)
        count = ListingCount(window.start, window.end, vendor_count, len(items) if listed is None else listed)
        return Page(items, self.state(), count)

    async def pages(self, window: Window, listing: AsyncIterable[ListedPage], *,
                    time: ItemField | None = None) -> AsyncIterator[Page]:
        """The pages to yield for one window's listing (`paginate` over [window.since, window.end)):
        each page's items as they come (no state), and the window closed with the last one.

        `time` feeds every page to `see` (for `open_overlap`). The vendor's `total` on the last
        page (if its paginator reads one) is kept as the window's count beside the items listed;
        a pass that started again (an expired page token) counts from its restart.
        """
        count = 0
        async for listed in listing:
            count = len(listed.items) + (0 if listed.restarted else count)
            if time is not None:
                self.see(window, listed.items, time=time)
            if listed.next is None:
                yield self.page(window, listed.items, vendor_count=listed.total, listed=count)
            else:
                yield Page(listed.items)

    def close(self, window: Window, complete: bool = True) -> WindowOutcome:
        """Apply one window's result (call in order) and say what it did to the watermark."""
        self.last_outcome = self._close(window, complete)
        return self.last_outcome

    def _close(self, window: Window, complete: bool) -> WindowOutcome:
        if not window.final:
            return WindowOutcome.OPEN
        holds = self._held is not None and window.start <= self._held[0] < window.end
        outcome = WindowOutcome.ADVANCED
        if not complete:
            runs = self._held[1] + 1 if holds and self._held else 1
            if self._blocked or not self.plan.accept_after or runs < self.plan.accept_after:
                if not self._blocked:
                    self._held = (window.start, runs)
                self._blocked = True
                self.watermark = window.start if self.watermark is None else min(self.watermark, window.start)
                return WindowOutcome.HELD
            outcome = WindowOutcome.ACCEPTED
        if self._blocked:
            return outcome
        if holds:
            self._held = None
        self.watermark = window.end if self.watermark is None else max(self.watermark, window.end)
        return outcome

    @property
    def held_runs(self) -> int:
        """How many runs the window holding the watermark back has failed (0 when none does)."""
        return self._held[1] if self._held else 0

    def state(self) -> dict[str, Any]:
        """The state to commit now."""
        state: dict[str, Any] = {"version": STATE_VERSION, "start": self._start,
                                 "watermark": iso(self.watermark) if self.watermark else None}
        if self._held is not None:
            state["held"] = {"start": iso(self._held[0]), "runs": self._held[1]}
        if self._opened:
            state["open"] = {key: iso(seen) for key, seen in sorted(self._opened.items())}
        return state

    def describe(self) -> str:
        """A sentence for the run summary: what was swept and where the watermark stands."""
        if not self.windows:
            return "Nothing to sweep yet."
        mark = iso(self.watermark, "milliseconds") if self.watermark else "nothing yet"
        return (f"Swept {len(self.windows)} window(s) from {iso(self.windows[0].start, 'milliseconds')} to "
                f"{iso(self.windows[-1].end, 'milliseconds')}; settled up to {mark}.")
