"""Time helpers every module and plugin shares: one clock, one timestamp format, one parser.

The catalog, the sync states and the vendors' query strings all carry instants as text. Writing
them in one place means they sort, compare and round-trip the same way everywhere: ISO 8601 in
UTC with a `Z`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

_NO_OFFSET = timedelta(0)


def now_utc() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime, timespec: str = "microseconds") -> str:
    """`moment` as ISO 8601 in UTC with a `Z` ("2026-03-01T09:00:00.000000Z"); sortable as text.

    `timespec` is `datetime.isoformat`'s ("seconds", "milliseconds", "microseconds"); a naive
    `moment` is an error, since it names no instant.
    """
    if timespec == "microseconds":
        # The catalog's case, three or four times a recording of a metadata sync: one isoformat
        # call, whose text ends in "+00:00" exactly when the offset is zero (0.5 us less a call
        # than asking for the offset and the timespec).
        text = moment.isoformat()
        if text.endswith("+00:00"):
            return text[:-6] + "Z" if moment.microsecond else text[:-6] + ".000000Z"
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a naive datetime names no instant; give it a time zone")
    if offset != _NO_OFFSET:
        moment = moment.astimezone(UTC)
    # A zero offset always ends the text in "+00:00": cut it rather than copy the datetime without its zone.
    return moment.isoformat(timespec=timespec)[:-6] + "Z"


def parse_iso(text: str, *, assume_utc: bool = False) -> datetime:
    """An ISO 8601 instant ("Z" or an offset) as an aware UTC datetime; raises ValueError otherwise.

    With `assume_utc`, a value without a zone is read as UTC (for vendors whose documentation says
    so); otherwise it is an error.
    """
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"{text!r} has no time zone")
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants (UTC) a calendar day in `zone` starts and ends at, [start, end): 23 or 25 hours
    long across a clock change; the end is the next day's start, so days tile time exactly."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end
