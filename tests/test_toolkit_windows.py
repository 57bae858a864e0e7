"""The window planners (`collector.TimeWindows`, `collector.DateWindows`): pure, no I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from collector import DateWindows, TimeWindows, Window, iso
from collector._sources._windows import align_down

UTC = UTC
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
    assert all(a.end == b.start for a, b in itertools.pairwise(planned)), "windows must be contiguous"


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


# -- open windows re-listed from their newest time ----------------------------------------------

def test_an_open_window_is_listed_from_its_newest_time_seen_and_whole_once_final() -> None:
    plan = TimeWindows(size=timedelta(days=7), lookback=timedelta(0), settle=timedelta(days=1), start=START,
                       unsettled=True, open_overlap=timedelta(minutes=10))
    now = START + timedelta(days=3)
    sweep = plan.sweep(None, now=now)
    (window,) = sweep.windows
    assert not window.final and window.since == window.start
    page = sweep.page(window, [{"at": iso(START + timedelta(days=2))}, {"at": "2099-01-01T00:00:00Z"}, "junk",
                               {"at": "garbage"}], time="at")
    assert page.state is not None and page.state["open"] == {iso(window.start): iso(START + timedelta(days=2))}
    assert page.state["watermark"] is None and sweep.unreadable == 1  # the future time is not taken either
    again = plan.sweep(page.state, now=now + HOUR).windows[0]
    assert again.start == window.start and again.since == START + timedelta(days=2, minutes=-10)
    final = plan.sweep(page.state, now=START + timedelta(days=9)).windows[0]
    assert final.final and final.since == final.start  # a final window is listed whole once more
    assert "open" not in plan.sweep(page.state, now=START + timedelta(days=9)).state()


def test_without_open_overlap_open_windows_carry_no_state() -> None:
    plan = TimeWindows(size=HOUR, lookback=HOUR, settle=HOUR, start=START, unsettled=True)
    sweep = plan.sweep(None, now=START + timedelta(minutes=30))
    assert sweep.page(sweep.windows[0], [{"at": iso(START)}], time="at").state is None


# -- date windows: whole dates of the vendor's zone, inclusive ends, a bounded span ---------------

def test_date_windows_are_calendar_months_with_inclusive_ends_in_the_vendors_zone() -> None:
    plan = DateWindows(zone="America/New_York", months=1, lookback=timedelta(days=2), settle=timedelta(hours=6),
                       start=date(2026, 9, 15), unsettled=True)
    sweep = plan.sweep(None, now=datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
    assert [(w.first, w.last, w.final) for w in sweep.windows] == [
        (date(2026, 9, 15), date(2026, 9, 30), True), (date(2026, 10, 1), date(2026, 10, 31), True),
        (date(2026, 11, 1), date(2026, 11, 30), True), (date(2026, 12, 1), date(2026, 12, 3), False)]
    november = sweep.windows[2]
    assert november.start == datetime(2026, 11, 1, 4, tzinfo=UTC)  # EDT midnight
    assert november.end == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST midnight: the clocks went back
    assert str(november) == "2026-11-01..2026-11-30"
    states = [sweep.page(w).state for w in sweep.windows]
    assert states[2] is not None and states[2]["watermark"] == "2026-12-01T05:00:00.000000Z" and states[3] is None


def test_date_windows_of_n_days_never_span_more_and_stop_at_the_last_settled_day() -> None:
    plan = DateWindows(zone="Europe/Paris", days=31, lookback=timedelta(0), settle=timedelta(hours=2),
                       start=date(2026, 1, 1))
    windows = plan.sweep(None, now=datetime(2026, 6, 9, 23, 30, tzinfo=UTC)).windows  # 01:30 on 10 June in Paris
    assert all((w.last - w.first).days < 31 for w in windows) and all(w.final for w in windows)
    assert windows[0].first == date(2026, 1, 1) and windows[-1].last == date(2026, 6, 8)  # 9 June settles at 02:00
    later = plan.sweep(None, now=datetime(2026, 6, 10, 0, 30, tzinfo=UTC)).windows  # 02:30 in Paris
    assert later[-1].last == date(2026, 6, 9)
    assert all(a.last + timedelta(days=1) == b.first for a, b in itertools.pairwise(windows))
    stopped = DateWindows(zone="Europe/Paris", days=31, lookback=timedelta(0), settle=timedelta(0),
                          start=date(2026, 1, 1), end=date(2026, 2, 10))
    assert stopped.sweep(None, now=datetime(2026, 6, 10, tzinfo=UTC)).windows[-1].last == date(2026, 2, 10)


def test_an_open_date_window_resumes_from_the_date_of_its_newest_time_seen() -> None:
    plan = DateWindows(zone="Europe/Paris", months=1, lookback=timedelta(0), settle=timedelta(0),
                       start=date(2026, 3, 1), unsettled=True, open_overlap=timedelta(hours=1))
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    sweep = plan.sweep(None, now=now)
    (march,) = sweep.windows
    state = sweep.page(march, [{"at": "2026-03-18 00:30:00"}], time="at").state  # Paris time: zone of the plan
    assert state is not None
    resumed = plan.sweep(state, now=now + HOUR).windows[0]
    assert (resumed.first, resumed.last) == (date(2026, 3, 17), date(2026, 3, 20))  # 23:30 the day before
    assert resumed.since == datetime(2026, 3, 16, 23, tzinfo=UTC)


def test_date_windows_need_one_span() -> None:
    with pytest.raises(ValueError):
        DateWindows(zone="UTC", lookback=HOUR, settle=HOUR, start=date(2026, 1, 1))
    with pytest.raises(ValueError):
        DateWindows(zone="UTC", days=7, months=1, lookback=HOUR, settle=HOUR, start=date(2026, 1, 1))
