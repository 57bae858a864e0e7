"""Limits an emulator can add to its routes, as vendors document them (`EmulatorServer.add_limit`).

- `FixedWindowLimit`: at most N requests (of some route kinds) per fixed window, with the headers
  vendors send to say what is left: `X-RateLimit-Limit/Remaining/Reset` (the reset in seconds, or
  as an instant in epoch seconds), the IETF draft's `RateLimit-Limit/Remaining/Reset`, or its
  structured `RateLimit: limit=..., remaining=..., reset=...`;
- `KindRateLimit`: a sliding-window limit on some route kinds only (downloads at 5 a second
  beside listings at 10): a vendor that limits each category of route separately;
- `DailyQuota`: at most N requests of some kinds per day; beyond, a 429 whose `Retry-After` is the
  next midnight UTC (an HTTP date), or a few seconds later for tests (`reset_in`), and a body with
  the vendor's code.

Each counts per limit key (`EmulatorServer.rate_limit_key`: the tenant, on a host serving several)
and keeps what it admitted, so a test can assert on the vendor's own view (`peak`).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Protocol

from ._server import Request, Response

HEADER_STYLES = ("x-ratelimit", "x-ratelimit-epoch", "ietf", "ietf-structured", None)
"""How a `FixedWindowLimit` says what is left: X-RateLimit-* with the reset in seconds or as an
epoch instant, the IETF draft's RateLimit-* or its structured RateLimit header, or not at all."""


class Limit(Protocol):
    """What `EmulatorServer.add_limit` takes: asked about every request before it is answered."""

    label: str | None
    """The fault label its refusals are logged with (None: a rate limit's 429, which conformance
    tests count as the client's fault; "quota" for a quota's, which they do not)."""

    def admit(self, request: Request, kind: str, key: str, now: float) -> tuple[Response | None, dict[str, str]]:
        """(a refusal or None, headers to add to the answer) for a request arriving at `now` (epoch seconds)."""


class _Counted:
    """Which route kinds a limit counts, and a lock."""

    label: str | None = None

    def __init__(self, kinds: Sequence[str] | None) -> None:
        self.kinds = tuple(kinds) if kinds is not None else None
        self._lock = threading.Lock()

    def counts(self, kind: str) -> bool:
        """Whether requests of `kind` count against this limit."""
        return self.kinds is None or kind in self.kinds


class FixedWindowLimit(_Counted):
    """At most `requests` requests of `kinds` (None: every kind) per key in each window of
    `per_seconds`, windows aligned to the epoch; beyond, 429 with a Retry-After. Every answer of
    those kinds carries the `headers` style's rate-limit headers (see `HEADER_STYLES`)."""

    def __init__(self, requests: int, per_seconds: float, *, kinds: Sequence[str] | None = None,
                 headers: str | None = "x-ratelimit") -> None:
        super().__init__(kinds)
        if headers not in HEADER_STYLES:
            raise ValueError(f"unknown rate-limit header style {headers!r}; one of {HEADER_STYLES}")
        self.requests = requests
        self.per_seconds = per_seconds
        self.headers = headers
        self.admitted: dict[tuple[str, int], int] = collections.Counter()
        """Requests admitted per (key, window number)."""
        self.refused = 0

    def admit(self, request: Request, kind: str, key: str, now: float) -> tuple[Response | None, dict[str, str]]:
        """Count the request in its window; refuse it if the window is full."""
        if not self.counts(kind):
            return None, {}
        window = int(now // self.per_seconds)
        end = (window + 1) * self.per_seconds
        with self._lock:
            used = self.admitted[key, window]
            full = used >= self.requests
            if full:
                self.refused += 1
            else:
                self.admitted[key, window] = used = used + 1
        headers = self._headers(max(0, self.requests - used), end, now)
        if full:
            wait = max(1, math.ceil(end - now))
            refusal = Response.error(429, f"Rate limit exceeded: {self.requests} requests per "
                                          f"{self.per_seconds:g} seconds.", {"Retry-After": str(wait), **headers})
            return refusal, {}
        return None, headers

    def _headers(self, remaining: int, end: float, now: float) -> dict[str, str]:
        reset = str(max(1, math.ceil(end - now)))
        if self.headers == "x-ratelimit":
            return {"X-RateLimit-Limit": str(self.requests), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": reset}
        if self.headers == "x-ratelimit-epoch":
            return {"X-RateLimit-Limit": str(self.requests), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(math.ceil(end))}
        if self.headers == "ietf":
            return {"RateLimit-Limit": str(self.requests), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": reset}
        if self.headers == "ietf-structured":
            return {"RateLimit": f"limit={self.requests}, remaining={remaining}, reset={reset}"}
        return {}

    def peak(self) -> int:
        """The most requests admitted for one key in one window (the vendor's view: at most `requests`)."""
        with self._lock:
            return max(self.admitted.values(), default=0)


class KindRateLimit(_Counted):
    """At most `requests` requests of `kinds` per key in any `per_seconds` (a sliding window, as the
    server's own `rate_limit`), for a vendor that limits a category of routes on its own."""

    def __init__(self, requests: int, per_seconds: float, *, kinds: Sequence[str]) -> None:
        super().__init__(kinds)
        self.requests = requests
        self.per_seconds = per_seconds
        self._arrivals: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.seen: dict[str, list[float]] = collections.defaultdict(list)
        """Arrival times of the counted requests, per key (monotonic)."""

    def admit(self, request: Request, kind: str, key: str, now: float) -> tuple[Response | None, dict[str, str]]:
        """Refuse the request if `requests` of its kinds arrived within the last window."""
        if not self.counts(kind):
            return None, {}
        arrival = time.monotonic()
        with self._lock:
            self.seen[key].append(arrival)
            arrivals = self._arrivals[key]
            while arrivals and arrival - arrivals[0] >= self.per_seconds:
                arrivals.popleft()
            arrivals.append(arrival)
            if len(arrivals) <= self.requests:
                return None, {}
            wait = self.per_seconds - (arrival - arrivals[-self.requests - 1])
        return Response.error(429, f"Too many {'/'.join(self.kinds or ())} requests: more than {self.requests} in "
                                   f"{self.per_seconds:g} seconds.", {"Retry-After": str(max(1, math.ceil(wait)))}), {}

    def max_in_window(self) -> int:
        """The most counted requests of one key that arrived within any window."""
        best = 0
        with self._lock:
            series = [sorted(times) for times in self.seen.values()]
        for times in series:
            start = 0
            for end, moment in enumerate(times):
                while moment - times[start] >= self.per_seconds:
                    start += 1
                best = max(best, end - start + 1)
        return best


class DailyQuota(_Counted):
    """At most `requests` requests of `kinds` per key per day; beyond, a 429 with `Retry-After` at the
    next midnight UTC (an HTTP date) or, with `reset_in`, that many seconds after the quota was
    first found spent, and a JSON body `{"code": code, "message": ...}`. `reset()` starts a new day."""

    label = "quota"

    def __init__(self, requests: int, *, kinds: Sequence[str] | None = ("audio",), reset_in: float | None = None,
                 code: str = "DAILY_QUOTA_EXCEEDED") -> None:
        super().__init__(kinds)
        self.requests = requests
        self.reset_in = reset_in
        self.code = code
        self.used: dict[str, int] = collections.Counter()
        self.refused = 0
        self._resets_at: dict[str, float] = {}

    def admit(self, request: Request, kind: str, key: str, now: float) -> tuple[Response | None, dict[str, str]]:
        """Count the request against the day's quota; refuse it once the quota is spent."""
        if not self.counts(kind):
            return None, {}
        with self._lock:
            resets_at = self._resets_at.get(key)
            if resets_at is not None and now >= resets_at:
                self.used[key], resets_at = 0, None
                del self._resets_at[key]
            if self.used[key] < self.requests:
                self.used[key] += 1
                return None, {}
            if resets_at is None:
                resets_at = now + self.reset_in if self.reset_in is not None else _next_midnight(now)
                self._resets_at[key] = resets_at
            self.refused += 1
        when = datetime.fromtimestamp(math.ceil(resets_at), UTC)
        body = {"code": self.code, "message": f"Daily quota of {self.requests} requests exceeded; it resets at "
                                              f"{when.isoformat()}."}
        return Response.json(body, 429, {"Retry-After": format_datetime(when, usegmt=True)}), {}

    def reset(self) -> None:
        """A new day: every key's quota is whole again."""
        with self._lock:
            self.used.clear()
            self._resets_at.clear()


def _next_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + timedelta(days=1).total_seconds()
