"""Window planning, reconciliation and the watermark (pure logic, no HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from collector_imagicle._windows import (
    Outcome,
    Progress,
    Window,
    WindowRead,
    format_date,
    plan_windows,
    read_range,
)

UTC = timezone.utc
H = timedelta(hours=1)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- planning ---------------------------------------------------------------------------------------


def test_windows_follow_a_fixed_grid_cut_to_the_range() -> None:
    windows = plan_windows(t("2026-03-01 10:30:00"), t("2026-03-01 13:15:00"), H)
    assert [(w.start, w.end) for w in windows] == [
        (t("2026-03-01 10:30:00"), t("2026-03-01 11:00:00")),
        (t("2026-03-01 11:00:00"), t("2026-03-01 12:00:00")),
        (t("2026-03-01 12:00:00"), t("2026-03-01 13:00:00")),
        (t("2026-03-01 13:00:00"), t("2026-03-01 13:15:00")),
    ]


def test_windows_cover_the_range_without_gaps_and_at_whole_seconds() -> None:
    begin, end = t("2026-03-01 10:30:00.700000"), t("2026-03-02 09:00:59.900000")
    windows = plan_windows(begin, end, timedelta(hours=5, milliseconds=300))
    assert windows[0].start == t("2026-03-01 10:30:00") and windows[-1].end == t("2026-03-02 09:00:59")
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
    assert all(w.start.microsecond == 0 and w.end.microsecond == 0 for w in windows)


def test_no_window_when_nothing_is_closed_yet() -> None:
    assert plan_windows(t("2026-03-01 10:00:00"), t("2026-03-01 10:00:00"), H) == []
    assert plan_windows(t("2026-03-01 10:00:00"), t("2026-03-01 09:00:00"), H) == []


def test_the_query_overlaps_the_previous_window_by_one_second() -> None:
    window = Window(t("2026-03-01 10:00:00"), t("2026-03-01 11:00:00"))
    assert window.query() == {"startdate": "2026-03-01T09:59:59Z", "enddate": "2026-03-01T11:00:00Z"}
    assert format_date(datetime(2021, 4, 25, 12, 24, 40, 999, tzinfo=timezone(timedelta(hours=2)))) == \
        "2021-04-25T10:24:40Z"


def test_the_first_run_starts_at_start_date_or_thirty_days_back() -> None:
    now = t("2026-03-10 12:00:00")
    common = {"now": now, "end_date": None, "lookback": 2 * H, "settle": timedelta(minutes=15),
              "first_run": timedelta(days=30)}
    assert read_range(None, start_date=t("2026-01-01 00:00:00"), **common) == \
        (t("2026-01-01 00:00:00"), t("2026-03-10 11:45:00"))
    assert read_range(None, start_date=None, **common)[0] == t("2026-02-08 12:00:00")


def test_later_runs_look_back_but_never_before_start_date_nor_past_end_date() -> None:
    now = t("2026-03-10 12:00:00")
    common = {"now": now, "lookback": 48 * H, "settle": timedelta(0), "first_run": timedelta(days=30)}
    watermark = t("2026-03-09 00:00:00")
    assert read_range(watermark, start_date=None, end_date=None, **common) == (t("2026-03-07 00:00:00"), now)
    assert read_range(watermark, start_date=t("2026-03-08 00:00:00"), end_date=t("2026-03-09 06:00:00"),
                      **common) == (t("2026-03-08 00:00:00"), t("2026-03-09 06:00:00"))


# -- reconciliation ---------------------------------------------------------------------------------


def test_a_window_read_reconciles_when_the_distinct_ids_match_a_steady_total() -> None:
    read = WindowRead()
    read.add(5, ["a", "b"], 2)
    assert not read.done
    read.add(5, ["c", "d"], 2)
    read.add(5, ["e"], 1)
    assert read.done and read.reconciled and read.offset == 5


def test_a_shifted_page_does_not_reconcile() -> None:
    # "n" arrived at the front after the first page: "b" is listed twice and "n" never.
    read = WindowRead()
    read.add(4, ["a", "b"], 2)
    read.add(5, ["b", "c"], 2)
    read.add(5, ["d"], 1)
    assert read.done and not read.reconciled
    assert "listed 4 distinct recordings in 3 pages" in read.describe() and "changed while paging" in read.describe()


def test_a_total_that_counts_more_than_is_listed_does_not_reconcile() -> None:
    read = WindowRead()
    read.add(3, ["a", "b"], 2)
    read.add(3, [], 0)
    assert read.done and not read.reconciled


def test_a_server_side_page_cap_only_moves_the_offset_by_what_was_sent() -> None:
    read = WindowRead()
    read.add(5, ["a", "b"], 2)  # asked for 100, got 2
    assert read.offset == 2 and not read.done


def test_an_empty_window_reconciles_in_one_request() -> None:
    read = WindowRead()
    read.add(0, [], 0)
    assert read.done and read.reconciled


# -- the watermark ----------------------------------------------------------------------------------

W1 = Window(t("2026-03-01 00:00:00"), t("2026-03-02 00:00:00"))
W2 = Window(t("2026-03-02 00:00:00"), t("2026-03-03 00:00:00"))
W3 = Window(t("2026-03-03 00:00:00"), t("2026-03-04 00:00:00"))


def test_the_watermark_moves_over_reconciled_windows_only() -> None:
    progress = Progress()
    assert progress.record(W1, True, 5) is Outcome.ADVANCED
    assert progress.record(W2, False, 5) is Outcome.HELD
    progress.record(W3, True, 5)
    assert progress.watermark == W2.start
    assert progress.to_state() == {"version": 1, "watermark": "2026-03-02T00:00:00Z",
                                   "held": {"start": "2026-03-02T00:00:00Z", "runs": 1}}


def test_a_window_behind_the_watermark_that_fails_pulls_it_back() -> None:
    progress = Progress(watermark=W3.end)
    progress.record(W2, False, 5)
    assert progress.watermark == W2.start


def test_a_held_window_that_reconciles_later_releases_the_watermark() -> None:
    progress = Progress.from_state({"watermark": "2026-03-02T00:00:00Z",
                                    "held": {"start": "2026-03-02T00:00:00Z", "runs": 2}})
    progress.record(W1, True, 5)
    progress.record(W2, True, 5)
    progress.record(W3, True, 5)
    assert progress.watermark == W3.end and progress.held_start is None
    assert "held" not in progress.to_state()


def test_a_window_that_never_reconciles_is_accepted_after_the_configured_runs() -> None:
    state = None
    outcomes = []
    for _ in range(3):
        progress = Progress.from_state(state)
        outcomes.append(progress.record(W2, False, 3))
        progress.record(W3, True, 3)
        state = progress.to_state()
    assert outcomes == [Outcome.HELD, Outcome.HELD, Outcome.ACCEPTED]
    assert state == {"version": 1, "watermark": "2026-03-04T00:00:00Z"}


@pytest.mark.parametrize("runs", [1, 10])
def test_zero_means_a_mismatch_is_never_accepted(runs: int) -> None:
    progress = Progress.from_state({"watermark": "2026-03-02T00:00:00Z",
                                    "held": {"start": "2026-03-02T00:00:00Z", "runs": runs}})
    assert progress.record(W2, False, 0) is Outcome.HELD
    assert progress.held_runs == runs + 1 and progress.watermark == W2.start


def test_the_held_window_is_recognised_when_the_window_is_longer_this_run() -> None:
    progress = Progress.from_state({"watermark": "2026-03-02T00:00:00Z",
                                    "held": {"start": "2026-03-02T00:00:00Z", "runs": 1}})
    progress.record(Window(W2.start, W3.end), False, 5)
    assert progress.held_runs == 2
