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

**Safe only when lateness is bounded.** A watermark finds a recording only if the vendor lists it
under a time no older than `overlap` before the newest time a pass has seen. A vendor that lists
a recording under a time other than when it became visible (a recording attached to a call hours
after the call started and listed under the call's start; back-dated imports; clock skew beyond the
overlap) makes a watermark lose it for good, silently. Use a change feed (`ChangeFeed`) there, or
re-list settled windows (`TimeWindows`), and compare with the vendor's count (`vendor_count`).

**Times it cannot read are never ignored silently.** Item times are read with `parse_time` (ISO
8601, RFC 2822, epoch seconds or milliseconds; `zone` for times written without one). An item
whose time is missing or unreadable does not move the watermark (its item still goes to `parse`,
which decides about it); when a whole pass saw no readable time but unreadable ones, the watermark
could never move and every run would list everything again: the pass ends with a `TenantError`
naming the field and the shape of the first value (never the value), and its last page is not
committed. (After the first pass, a pass always re-reads the item that set the watermark, so this
never fires on a pass that merely listed one malformed newcomer.)

Choose `overlap` at least as long as the vendor's documented (or observed) listing delay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

from collector._base._dates import parse_time, value_shape
from collector._base._errors import TenantError
from collector._base._time import iso, now_utc, parse_iso

from ._paging import ItemField, ListedPage, PageRequest, pick
from ._source import Page


def _moment(value: Any) -> datetime | None:
    """An instant from our own state (always ISO 8601 in UTC), or None."""
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


class Incremental:
    """One run's incremental listing: where it starts (`since`, `resume`) and the state of each page.

    `unreadable` counts the items of this run whose time could not be read (see the module's
    notes); `unreadable_shape` describes the first such value without revealing it.
    """

    def __init__(self, state: Mapping[str, Any] | None, *, start: datetime, overlap: timedelta,
                 now: datetime | None = None, restart_from: datetime | None = None,
                 zone: tzinfo | str | None = None) -> None:
        """`restart_from` (`SourceContext.restart_from`) replaces `start` after `collector reset --from`;
        `zone` is the vendor's documented zone for item times written without one."""
        state = state or {}
        if restart_from is not None and not state:
            start = restart_from
        self.zone = zone
        self.unreadable = 0
        self.unreadable_shape: str | None = None
        self._field = "time"
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

    def page(self, listed: ListedPage, *, time: ItemField) -> Page:
        """The page to yield for one listed page; `time` is where each item's timestamp is (a dotted
        path, or a function of the item). Items that are not objects are left to the core, which
        quarantines them."""
        self._field = time if isinstance(time, str) else getattr(time, "__name__", "time")
        self.see(pick(item, time) for item in listed.items if isinstance(item, Mapping))
        return Page(listed.items, self.state(listed.next))

    def see(self, times: Iterable[Any]) -> None:
        """Take these timestamps into `high` (any format `parse_time` reads); a missing or unreadable
        one is counted in `unreadable` instead."""
        for value in times:
            try:
                moment = parse_time(value, zone=self.zone)
            except ValueError:
                self.unreadable += 1
                if self.unreadable_shape is None:
                    self.unreadable_shape = value_shape(value)
                continue
            moment = min(moment, self.began)
            self.high = moment if self.high is None else max(self.high, moment)

    def state(self, following: PageRequest | None) -> dict[str, Any]:
        """The sync state after a page: the pass's progress, or (at its end) the new watermark.

        Raises `TenantError` at the end of a pass that could read no item time at all but found
        unreadable ones (see the module's notes).
        """
        if following is None:
            if self.high is None and self.unreadable:
                raise TenantError(
                    f"The watermark could not read the `{self._field}` of any of the {self.unreadable} item(s) "
                    f"this pass listed (the first was {self.unreadable_shape}), so it can never move and every "
                    "run would list everything again. `parse_time` reads ISO 8601, RFC 2822 and epoch "
                    "seconds or milliseconds; check the field's path, or give `zone=` for times written "
                    "without a zone. The pass's last page was not committed.")
            marks = [m for m in (self.watermark, self.high) if m is not None]
            return {"watermark": iso(max(marks)) if marks else None, "pass": None}
        return {
            "watermark": iso(self.watermark) if self.watermark else None,
            "pass": {"since": iso(self.since), "high": iso(self.high) if self.high else None,
                     "began": iso(self.began), "next": following.to_state()},
        }
