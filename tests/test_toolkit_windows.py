"""The time-window planner (`collector.TimeWindows`): pure, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from collector import TimeWindows, Window, iso
from collector._windows import align_down

UTC = timezone.utc
START = datetime(2026, 3, 1, 0, 17, tzinfo=UTC)
HOUR = timedelta(hours=1)


def windows(state: dict[str, Any] | None, now: datetime, *, size: timedelta = HOUR, lookback: timedelta = 3 * HOUR,
            settle: timedelta = 2 * HOUR, start: datetime = START) -> list[Window]:
    plan = TimeWindows(size=size, lookback=lookback, settle=settle, start=start, unsettled=True)
    return plan.sweep(state, now=now).windows


def state_at(watermark: datetime, start: datetime = START) -> dict[str, Any]:
    return {"version": 2, "start": iso(start), "watermark": iso(watermark)}


def test_first_run_starts_at_start_and_follows_the_grid_up_to_now() -> None:
    now = datetime(2026, 3, 1, 5, 40, tzinfo=UTC)
    planned = windows(None, now)
    assert planned[0].start == START
    assert [w.end.hour for w in planned[:-1]] == [1, 2, 3, 4, 5]
    assert planned[-1].end == now
    assert all(a.end == b.start for a, b in zip(planned, planned[1:])), "windows must be contiguous"


def test_only_windows_older_than_the_settle_delay_are_final_and_they_form_a_prefix() -> None:
    planned = windows(None, datetime(2026, 3, 1, 5, 40, tzinfo=UTC))
    assert [w.final for w in planned] == [True, True, True, False, False, False]


def test_later_runs_resweep_the_lookback_before_the_watermark_on_the_grid() -> None:
    planned = windows(state_at(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)), datetime(2026, 3, 2, 13, 30, tzinfo=UTC),
                      lookback=timedelta(hours=2, minutes=30))
    assert planned[0].start == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 07:30 aligned down to the grid
    assert planned[-1].end == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)


def test_the_lookback_never_reaches_before_start() -> None:
    assert windows(state_at(START + HOUR), START + 5 * HOUR, lookback=timedelta(days=3))[0].start == START


def test_the_watermark_advances_over_final_windows_only_and_never_backwards() -> None:
    old = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    plan = TimeWindows(size=HOUR, lookback=3 * HOUR, settle=2 * HOUR, start=START, unsettled=True)
    sweep = plan.sweep(state_at(old), now=datetime(2026, 3, 2, 15, 10, tzinfo=UTC))
    marks = [(page.state or {}).get("watermark") for page in (sweep.page(w) for w in sweep.windows)]
    assert marks == [iso(old), iso(old), iso(old), "2026-03-02T11:00:00.000000Z", "2026-03-02T12:00:00.000000Z",
                     "2026-03-02T13:00:00.000000Z", None, None, None]


def test_a_state_written_in_another_zone_or_format_still_applies() -> None:
    moved = START.astimezone(timezone(timedelta(hours=-6)))
    older_format = {"version": 1, "start": "2026-03-01T00:17:00.000Z", "watermark": "2026-03-05T06:00:00.000Z"}
    assert windows(older_format, datetime(2026, 3, 5, 7, 0, tzinfo=UTC), start=moved)[0].start == datetime(
        2026, 3, 5, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("stored", [{}, {"start": iso(START)}, {"start": iso(START), "watermark": "garbage"},
                                    {"start": iso(START), "watermark": "2026-03-05T06:00:00"},
                                    state_at(datetime(2026, 3, 5, tzinfo=UTC), START - timedelta(days=30))])
def test_unusable_or_foreign_states_start_from_start(stored: dict[str, Any]) -> None:
    assert windows(stored, START + 2 * HOUR)[0].start == START


def test_a_start_in_the_future_plans_nothing() -> None:
    plan = TimeWindows(size=HOUR, lookback=HOUR, settle=HOUR, start=START, unsettled=True)
    sweep = plan.sweep(None, now=START - HOUR)
    assert sweep.windows == [] and sweep.describe() == "Nothing to sweep yet."


def test_small_windows_scale_down_for_tests() -> None:
    planned = windows(None, START + timedelta(seconds=1), size=timedelta(milliseconds=250), settle=timedelta(0))
    assert len(planned) == 4 and all(w.final for w in planned)


def test_without_unsettled_windows_the_sweep_stops_at_the_settle_delay() -> None:
    plan = TimeWindows(size=HOUR, lookback=HOUR, settle=2 * HOUR, first_run=timedelta(hours=6))
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    planned = plan.sweep(None, now=now).windows
    assert planned[0].start == datetime(2026, 3, 1, 6, tzinfo=UTC) and planned[-1].end == now - 2 * HOUR
    assert all(w.final for w in planned)


def test_align_down_counts_from_the_unix_epoch() -> None:
    assert align_down(datetime(2026, 3, 1, 5, 59, 59, tzinfo=UTC), HOUR) == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert align_down(datetime(2026, 3, 1, 5, 30, tzinfo=UTC), timedelta(days=1)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_a_zero_window_or_no_start_is_refused() -> None:
    with pytest.raises(ValueError):
        TimeWindows(size=timedelta(0), lookback=HOUR, settle=HOUR, start=START)
    with pytest.raises(ValueError):
        TimeWindows(size=HOUR, lookback=HOUR, settle=HOUR)
