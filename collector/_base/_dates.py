"""Reading the timestamps vendors send: one parser for every format they use, never a guessed zone.

`parse_time(value, zone=None)` returns an aware UTC datetime, or raises ValueError:

| the vendor sends                                   | read as                                       |
|----------------------------------------------------|-----------------------------------------------|
| ISO 8601 / RFC 3339 with a zone: `2026-12-03T10:00:00Z`, `...+01:00`, `20261203T100000Z` | that instant |
| ISO 8601 without a zone: `2026-12-03 10:00:00`, a date `2026-12-03` (midnight) | in `zone`; an error without one |
| RFC 2822 / HTTP dates: `Tue, 03 Dec 2026 10:00:00 +0000`, `... GMT`, `-0000` (UTC) | that instant |
| epoch numbers or digit strings: `1796292000`, `"1796292000123"`, `1796292000.5` | seconds or milliseconds |
| an aware `datetime`; a naive one or a `date`      | that instant; in `zone` (an error without one) |

**Seconds or milliseconds.** An epoch value below 100,000,000,000 is seconds (that is up to the
year 5138); from 100,000,000,000 to 100,000,000,000,000 it is milliseconds (from March 1973 to
the year 5138). Recordings made since 1973 are therefore read right whichever unit the vendor
uses; anything larger (microseconds, nanoseconds), negative, not finite or a boolean is refused.

**No guessed zone.** A time written without a zone names no instant until the vendor's
documentation says which zone it is in: the plugin passes it (`zone="Europe/Paris"` or a
`tzinfo`), and without it the value is refused rather than read as UTC or as the machine's zone.

The standard library does the reading (`datetime.fromisoformat`, which reads ISO 8601 in Python
3.11, and `email.utils.parsedate_to_datetime` for RFC 2822): no dependency is needed.

`value_shape(value)` describes a value without revealing it (digits as 9, letters as a or A), for
error messages: a timestamp field could hold anything, a secret included.
"""

from __future__ import annotations

import email.utils
import math
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

SECONDS_BELOW = 10**11
"""Epoch values below this are seconds; from it up to `MILLISECONDS_BELOW`, milliseconds."""
MILLISECONDS_BELOW = 10**14

_EPOCH_TEXT = re.compile(r"^\d+(\.\d+)?$")
_RFC2822_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?\s*([+-]\d{4}|[A-Za-z]{1,5})\s*$")
_SHAPE_LIMIT = 40
_RFC2822_NAMES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
                  "MDT": -6, "PST": -8, "PDT": -7}
"""The zone names RFC 2822 defines (section 4.3), and UTC."""


def parse_time(value: Any, *, zone: tzinfo | str | None = None) -> datetime:
    """The instant a vendor's timestamp names, as an aware UTC datetime; ValueError if it names none.

    Reads ISO 8601 (with a zone, or without one in `zone`), RFC 2822 dates, epoch seconds and
    milliseconds (numbers or digit strings: below 1e11 seconds, below 1e14 milliseconds) and
    `datetime`/`date` objects. `zone` (an IANA name or a `tzinfo`) is the vendor's documented zone
    for times written without one; it is never guessed. The error message describes the value's
    shape, never the value itself.
    """
    where = _zone(zone)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, datetime):
        return _aware(value, where, value)
    if isinstance(value, date):
        return _aware(datetime(value.year, value.month, value.day), where, value)
    if isinstance(value, (int, float)):
        return _epoch(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp, got {value_shape(value)}")
    text = value.strip()
    if _EPOCH_TEXT.match(text):
        return _epoch(float(text), value)
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError:
        moment = _rfc2822(text, value)
    return _aware(moment, where, value)


def _zone(zone: tzinfo | str | None) -> tzinfo | None:
    if zone is None or isinstance(zone, tzinfo):
        return zone
    try:
        return zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{zone!r} is not an IANA time zone name such as 'Europe/Paris'") from None


def _aware(moment: datetime, zone: tzinfo | None, original: Any) -> datetime:
    if moment.utcoffset() is None:
        if zone is None:
            raise ValueError(f"{value_shape(original)} has no time zone, and the plugin named none "
                             "(pass the vendor's documented zone: zone=...)")
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _epoch(number: float, original: Any) -> datetime:
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value_shape(original)} is not an epoch time")
    if number >= MILLISECONDS_BELOW:
        raise ValueError(f"{value_shape(original)} is too large for epoch seconds or milliseconds")
    seconds = number / 1000 if number >= SECONDS_BELOW else number
    return datetime.fromtimestamp(seconds, UTC)


def _rfc2822(text: str, original: Any) -> datetime:
    """An RFC 2822 (or RFC 850, asctime) date; naive when it names no zone ("-0000" is UTC)."""
    parts = email.utils.parsedate_tz(text) if any(c.isalpha() for c in text) else None
    if parts is None:
        raise ValueError(f"{value_shape(original)} is not ISO 8601, RFC 2822 or an epoch time")
    try:
        moment = datetime(*parts[:6])
    except ValueError:
        raise ValueError(f"{value_shape(original)} is not a valid RFC 2822 date") from None
    written = _RFC2822_ZONE.search(text)
    if written is None:
        return moment  # no zone written: read in the plugin's zone, never guessed
    token = written.group(1)
    if token[0] in "+-":
        minutes = int(token[1:3]) * 60 + int(token[3:5])
        offset = timedelta(minutes=-minutes if token[0] == "-" else minutes)
    elif token.upper() in _RFC2822_NAMES:
        offset = timedelta(hours=_RFC2822_NAMES[token.upper()])
    else:  # "CET", "IST": abbreviations that RFC 2822 does not define (and some mean two zones)
        raise ValueError(f"{value_shape(original)} names its zone by an abbreviation RFC 2822 does not define")
    return moment.replace(tzinfo=timezone(offset))


def value_shape(value: Any) -> str:
    """What a value looks like, without what it says: its type and, for text, its pattern.

    "Tue, 03 Dec 2026 10:00:00 +0000" -> 'a 31-character string shaped "Aaa, 99 Aaa 9999 99:99:99 +9999"'.
    Digits become 9, letters a or A, other characters stay; long text is cut. For messages about
    a field whose content could be anything, a secret included.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a {len(str(value))}-character number"
    if isinstance(value, str):
        pattern = "".join("9" if c.isdigit() else ("A" if c.isupper() else "a") if c.isalpha() else c
                          for c in value[:_SHAPE_LIMIT])
        more = "..." if len(value) > _SHAPE_LIMIT else ""
        return f'a {len(value)}-character string shaped "{pattern}{more}"'
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} value{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__}"
