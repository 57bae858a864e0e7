"""Window planning and the sync state: pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from collector_xima._windows import SyncState, Window, advance, align_down, iso, plan_windows

UTC = timezone.utc
START = datetime(2026, 3, 1, 0, 17, tzinfo=UTC)
HOUR = timedelta(hours=1)


def plan(state: SyncState, now: datetime, *, window: timedelta = HOUR, lookback: timedelta = 3 * HOUR,
         settle: timedelta = 2 * HOUR) -> list[Window]:
    return plan_windows(state, now=now, window=window, lookback=lookback, settle_delay=settle)


def test_first_run_starts_at_start_and_follows_the_grid_up_to_now() -> None:
    now = datetime(2026, 3, 1, 5, 40, tzinfo=UTC)
    windows = plan(SyncState.load(None, START), now)
    assert windows[0].start == START
    assert [w.end.hour for w in windows[:-1]] == [1, 2, 3, 4, 5]
    assert windows[-1].end == now
    assert all(a.end == b.start for a, b in zip(windows, windows[1:])), "windows must be contiguous"


def test_only_windows_older_than_the_settle_delay_are_final_and_they_form_a_prefix() -> None:
    now = datetime(2026, 3, 1, 5, 40, tzinfo=UTC)
    windows = plan(SyncState.load(None, START), now)
    finals = [w.final for w in windows]
    assert finals == [True, True, True, False, False, False]
    assert all(w.end <= now - 2 * HOUR for w in windows if w.final)


def test_later_runs_resweep_the_lookback_before_the_watermark_on_the_grid() -> None:
    state = SyncState(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), START)
    windows = plan(state, datetime(2026, 3, 2, 13, 30, tzinfo=UTC), lookback=timedelta(hours=2, minutes=30))
    assert windows[0].start == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 07:30 aligned down to the grid
    assert windows[-1].end == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)


def test_the_lookback_never_reaches_before_start() -> None:
    state = SyncState(START + HOUR, START)
    assert plan(state, START + 5 * HOUR, lookback=timedelta(days=3))[0].start == START


def test_the_watermark_advances_over_final_windows_only_and_never_backwards() -> None:
    old = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    state = SyncState(old, START)
    now = datetime(2026, 3, 2, 15, 10, tzinfo=UTC)
    pages = []
    for window in plan(state, now):
        state, page_state = advance(state, window)
        pages.append(page_state)
    # Re-swept windows (07:00-10:00) keep the old watermark; 10:00-13:00 move it; the rest commit no state.
    assert [p["watermark"] if p else None for p in pages] == [
        iso(old), iso(old), iso(old), "2026-03-02T11:00:00.000Z", "2026-03-02T12:00:00.000Z",
        "2026-03-02T13:00:00.000Z", None, None, None,
    ]
    assert state.watermark == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def test_a_window_that_is_not_final_commits_no_state() -> None:
    state = SyncState(None, START)
    new, page_state = advance(state, Window(START, START + HOUR, final=False))
    assert page_state is None and new is state


def test_state_round_trips_and_a_changed_start_starts_over() -> None:
    state = SyncState(datetime(2026, 3, 5, 6, 0, tzinfo=UTC), START)
    stored = state.dump()
    assert stored == {"version": 1, "start": "2026-03-01T00:17:00.000Z", "watermark": "2026-03-05T06:00:00.000Z"}
    assert SyncState.load(stored, START) == state
    assert SyncState.load(stored, START.astimezone(timezone(timedelta(hours=-6)))) == state  # same instant
    earlier = START - timedelta(days=30)
    assert SyncState.load(stored, earlier) == SyncState(None, earlier)


@pytest.mark.parametrize("stored", [{}, {"start": iso(START)}, {"start": iso(START), "watermark": "garbage"},
                                    {"start": iso(START), "watermark": "2026-03-05T06:00:00"}])
def test_unusable_states_start_from_start(stored: dict[str, object]) -> None:
    assert SyncState.load(stored, START) == SyncState(None, START)


def test_a_start_in_the_future_plans_nothing() -> None:
    assert plan(SyncState.load(None, START), START - HOUR) == []


def test_small_windows_scale_down_for_tests() -> None:
    now = START + timedelta(seconds=1)
    windows = plan(SyncState.load(None, START), now, window=timedelta(milliseconds=250), settle=timedelta(0))
    assert len(windows) == 4 and all(w.final for w in windows)


def test_align_down_counts_from_the_unix_epoch() -> None:
    assert align_down(datetime(2026, 3, 1, 5, 59, 59, tzinfo=UTC), HOUR) == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert align_down(datetime(2026, 3, 1, 5, tzinfo=UTC), HOUR) == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert align_down(datetime(2026, 3, 1, 5, 30, tzinfo=UTC), timedelta(days=1)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_zero_window_is_refused() -> None:
    with pytest.raises(ValueError):
        plan(SyncState.load(None, START), START + HOUR, window=timedelta(0))
