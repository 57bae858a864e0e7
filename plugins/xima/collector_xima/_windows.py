"""Planning the time windows one run sweeps, and the sync state it commits (pure functions).

Xima lists recordings between two instants and documents no paging and no change feed, and a
recording can be saved some time after its call ended. So a run sweeps a sequence of windows:

- it starts at the configured `start` on the first run, and at `watermark - lookback` later on
  (never before `start`): every run re-sweeps a trailing lookback, where late arrivals appear;
- window edges lie on a grid of `window`-long steps counted from the Unix epoch (the first
  window may begin off-grid, at `start`), so every run asks for the same windows and a
  window's answer can be compared from run to run; the last window ends at "now";
- a window is *final* once its end is at least `settle_delay` in the past. Final windows form a
  prefix of the plan; each final window's page carries the new watermark (its end, and never
  less than the stored one). Windows that are not final are fetched, so recent recordings are
  collected at once, but their pages carry no state: the watermark stays behind them.

The core commits each page's items and state in one transaction, so the watermark only ever
covers windows whose recordings are committed. A window whose request fails raises: the core
stops the metadata for this run with the state at the last committed page, and the next run
sweeps the failed window again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
STATE_VERSION = 1


@dataclass(frozen=True)
class Window:
    """One metadata request's time range; `final` when its end is older than the settle delay."""

    start: datetime
    end: datetime
    final: bool


@dataclass(frozen=True)
class SyncState:
    """What a tenant's sync state holds: the watermark and the `start` it was reached from.

    `watermark`: every window before it was swept after it settled and its recordings are
    committed. `start`: the configured start the watermark belongs to; when the configuration's
    `start` changes, the old watermark no longer applies and the next run starts over from the
    new `start` (re-sweeping is idempotent, so nothing is doubled).
    """

    watermark: datetime | None
    start: datetime

    @classmethod
    def load(cls, state: Mapping[str, Any] | None, start: datetime) -> SyncState:
        """The state to plan from, given the stored one (None on the first run) and the configured start."""
        start = start.astimezone(timezone.utc)
        if not state or state.get("start") != iso(start):
            return cls(None, start)
        watermark = state.get("watermark")
        if not isinstance(watermark, str):
            return cls(None, start)
        try:
            moment = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
        except ValueError:
            return cls(None, start)
        if moment.tzinfo is None:
            return cls(None, start)
        return cls(moment.astimezone(timezone.utc), start)

    def dump(self) -> dict[str, Any]:
        """The JSON form committed with a page."""
        return {
            "version": STATE_VERSION,
            "start": iso(self.start),
            "watermark": iso(self.watermark) if self.watermark is not None else None,
        }


def iso(moment: datetime) -> str:
    """A UTC instant as ISO 8601 with milliseconds and a Z (how the state stores times)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def whole_ms(moment: datetime) -> datetime:
    """`moment` in UTC, cut to whole milliseconds (Xima's precision, and the requests')."""
    moment = moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def align_down(moment: datetime, step: timedelta) -> datetime:
    """The grid point at or before `moment` (the grid: multiples of `step` since the Unix epoch)."""
    offset = (moment - EPOCH) // step
    return EPOCH + offset * step


def sweep_origin(state: SyncState, lookback: timedelta) -> datetime:
    """Where this run's sweep begins: `start`, or `watermark - lookback` but never before `start`."""
    if state.watermark is None:
        return state.start
    return max(state.start, state.watermark - lookback)


def plan_windows(
    state: SyncState, *, now: datetime, window: timedelta, lookback: timedelta, settle_delay: timedelta
) -> list[Window]:
    """The windows this run sweeps, oldest first, from the sweep origin up to `now`."""
    if window <= timedelta(0):
        raise ValueError("the window must be longer than zero")
    now = whole_ms(now)
    settled = now - settle_delay
    cursor = whole_ms(max(state.start, align_down(sweep_origin(state, lookback), window)))
    windows = []
    while cursor < now:
        end = min(align_down(cursor, window) + window, now)
        windows.append(Window(cursor, end, final=end <= settled))
        cursor = end
    return windows


def advance(state: SyncState, window: Window) -> tuple[SyncState, dict[str, Any] | None]:
    """The state after `window` is committed, and the page state to commit with it (None: keep).

    Only a final window moves the watermark, and never backwards (re-swept lookback windows end
    before the stored watermark). Call it in plan order: final windows form a prefix.
    """
    if not window.final:
        return state, None
    watermark = window.end if state.watermark is None else max(state.watermark, window.end)
    new = SyncState(watermark, state.start)
    return new, new.dump()
