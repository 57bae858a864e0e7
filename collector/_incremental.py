"""The incremental pattern for listings that take a date filter: a watermark with an overlap.

Most recording APIs list newest first and accept "since" (or "from"/"startdate"). Listing
everything on every run grows with the tenant; listing only what is newer than the last run misses
recordings the vendor lists late with older timestamps, and a run killed mid-listing must not
lose arrivals. So:

- a *pass* lists from `since` = the watermark minus `overlap` (the first pass: `start`) and
  tracks the newest item time it sees (`high`, never later than the moment the pass began, so a
  clock-skewed item dated in the future cannot push the watermark past recordings not listed yet);
- every page is committed with the pass's progress (its `since`, `high` and the listing position),
  so a killed run resumes the same pass from its last committed page;
- when the pass ends, the watermark becomes `high`: the next run lists from `high - overlap`,
  which re-reads the overlap (late arrivals and recordings that arrived while the pass paged,
  which newest-first paging puts on pages already read) and nothing older.

Choose `overlap` at least as long as the vendor's documented (or observed) listing delay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ._paging import ListedPage, PageRequest, select
from ._source import Page
from ._time import iso, now_utc, parse_iso


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


class Incremental:
    """One run's incremental listing: where it starts (`since`, `resume`) and the state of each page."""

    def __init__(self, state: Mapping[str, Any] | None, *, start: datetime, overlap: timedelta,
                 now: datetime | None = None, restart_from: datetime | None = None) -> None:
        """`restart_from` (`SourceContext.restart_from`) replaces `start` after `collector reset --from`."""
        state = state or {}
        if restart_from is not None and not state:
            start = restart_from
        self.watermark = _moment(state.get("watermark"))
        progress = state.get("pass")
        if isinstance(progress, Mapping) and _moment(progress.get("since")) is not None:
            self.since = _moment(progress["since"]) or start
            self.high = _moment(progress.get("high"))
            self.began = _moment(progress.get("began")) or now or now_utc()
            self.resume = PageRequest.from_state(progress.get("next"))
        else:
            self.since = max(start, self.watermark - overlap) if self.watermark else start
            self.high = None
            self.began = now or now_utc()
            self.resume = None

    def page(self, listed: ListedPage, *, time: str) -> Page:
        """The page to yield for one listed page; `time` is the dotted path of each item's timestamp."""
        self.see(select(item, time) for item in listed.items)
        return Page(listed.items, self.state(listed.next))

    def see(self, times: Iterable[Any]) -> None:
        """Take these items' timestamps (ISO strings or aware datetimes; others are ignored) into `high`."""
        for value in times:
            moment = _moment(value)
            if moment is not None:
                moment = min(moment, self.began)
                self.high = moment if self.high is None else max(self.high, moment)

    def state(self, following: PageRequest | None) -> dict[str, Any]:
        """The sync state after a page: the pass's progress, or (at its end) the new watermark."""
        if following is None:
            marks = [m for m in (self.watermark, self.high) if m is not None]
            return {"watermark": iso(max(marks)) if marks else None, "pass": None}
        return {
            "watermark": iso(self.watermark) if self.watermark else None,
            "pass": {"since": iso(self.since), "high": iso(self.high) if self.high else None,
                     "began": iso(self.began), "next": following.to_state()},
        }
