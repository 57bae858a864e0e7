"""Reading the "when" vendors write in headers and bodies: Retry-After, rate-limit resets, estimates.

A delay in seconds ("30"), an HTTP date ("Fri, 04 Dec 2026 23:59:59 GMT"), an instant in seconds or
milliseconds since the epoch (a rate-limit reset), an ISO 8601 instant (a body's `ready_at`): each
becomes seconds from now, or None when it is missing, past or unreadable (the caller then falls back
to its own policy). No third-party import: the rate limiter uses it on every answer.
"""

from __future__ import annotations

import email.utils
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH_SECONDS = 1e9  # a value above this is an instant (seconds since the epoch), not a delay
_EPOCH_MILLISECONDS = 1e12


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds, or an HTTP date), or None when missing,
    zero, past or garbage."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = http_date(value)
        if when is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return positive(seconds)


def retry_at(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """When a Retry-After header asks to be asked again (aware, UTC): its HTTP date as it is, or
    now plus its seconds; None when missing, zero, past or garbage."""
    if not value:
        return None
    moment = now or datetime.now(UTC)
    seconds = parse_retry_after(value, now=moment)
    if seconds is None:
        return None
    when = http_date(value.strip())
    return when.astimezone(UTC) if when is not None else moment + timedelta(seconds=seconds)


def seconds_until(value: Any, *, now: float | None = None) -> float | None:
    """Seconds from now until what a vendor wrote as "when": a delay in seconds, an instant in
    seconds or milliseconds since the epoch (a number above 10^9), an ISO 8601 or HTTP date, or an
    aware datetime; None when it is missing, past or unreadable."""
    wall = time.time() if now is None else now
    if isinstance(value, datetime):
        return positive(value.timestamp() - wall) if value.tzinfo is not None else None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            when = http_date(text) or _iso_date(text)
            return positive(when.timestamp() - wall) if when is not None else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if value > _EPOCH_MILLISECONDS:
        return positive(value / 1000 - wall)
    if value > _EPOCH_SECONDS:
        return positive(value - wall)
    return positive(float(value))


def positive(seconds: float) -> float | None:
    """`seconds` if it is a usable wait (positive and finite), else None."""
    return seconds if seconds > 0 and math.isfinite(seconds) else None


def http_date(text: str) -> datetime | None:
    """An HTTP date (RFC 9110, as in Retry-After) as an aware datetime, or None."""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iso_date(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
