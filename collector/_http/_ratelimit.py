"""A per-tenant request limiter that vendors' sliding windows can never catch out, shared by every
process on the machine that uses the same vendor account.

Vendors count requests as they arrive ("more than 3 in any 10 seconds answers 429"). A client
cannot see arrival times, but it knows an upper bound: a request has certainly arrived by the
time its response headers are back. So the limiter holds `requests` slots; a request takes a
free slot, and the slot becomes free again `per_seconds` after that request's response headers
arrived. Any `requests + 1` consecutive arrivals are then more than `per_seconds` apart, whatever
the network latency, while a tenant with pending work keeps every slot busy (utilisation is
`per_seconds / (per_seconds + latency)`).

Why not a library: token buckets (aiolimiter) allow a burst of `requests` plus refills inside
one window, and the sliding-window libraries stamp the time a request is *sent*, which a slow
request can turn into two arrivals less than a window apart. The rule above is short.

The slots live in a `SlotLedger`. `FileLedger` keeps them in a small file per vendor account
(`_ledger.py`), so two collector processes on one machine using the same account (even with
different stores) take slots from the same set and together never exceed the vendor's limit;
`MemoryLedger` keeps them in this process only. Another ledger (PostgreSQL, for several
machines) implements the same four methods.

A slot taken but not used (the request found its token expired while it waited, say) is handed
back with `cancel`, unstamped. After a 429 the HTTP client calls `pause` (nobody, in any process,
sends until the vendor's Retry-After has passed) and `slow_down` (a longer window for the rest of
this run).

Vendors that say what is left of their own window (`X-RateLimit-Remaining` and
`X-RateLimit-Reset`, the IETF draft's `RateLimit-Remaining`/`RateLimit-Reset` or its structured
`RateLimit: remaining=..., reset=...`) are followed too: the HTTP client hands every answer's
headers to `observe`. The limiter then lets at most what remains (less the requests still in
flight, which the vendor may not have counted yet) start before the reset, and holds every
process sharing the ledger until the reset once nothing remains: it slows down before the vendor
refuses, and never sends faster than its configured limit. A reset is read as seconds from now,
or as an instant when it is larger than 10^9 (seconds since the epoch) or 10^12 (milliseconds).
Before the first answer arrives only the configured limit (and `max_in_flight`) applies.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from ._ledger import MemoryLedger, SlotLedger
from ._moments import seconds_until

_REMAINING = (b"x-ratelimit-remaining", b"ratelimit-remaining", b"x-rate-limit-remaining")
_RESET = (b"x-ratelimit-reset", b"ratelimit-reset", b"x-rate-limit-reset")
_STRUCTURED = b"ratelimit"
_PREFIXES = (b"x-ratelimit-", b"ratelimit", b"x-rate-limit-")
_FIRST = frozenset((b"x", b"X", b"r", b"R"))
_PARAMETER = re.compile(r"\b(remaining|r|reset|t)\s*=\s*([0-9.]+)")
_SAME_WINDOW = 1.0  # resets this close together describe the same window of the vendor's


def read_limit_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, float | None] | None:
    """(requests remaining, seconds until the window resets or None) from an answer's raw headers,
    or None when it sends no rate-limit headers (or unreadable ones)."""
    remaining: int | None = None
    reset: float | None = None
    for raw_name, raw_value in headers:
        if raw_name[:1] not in _FIRST:  # most headers: one comparison
            continue
        name = raw_name.lower()
        if not name.startswith(_PREFIXES):
            continue
        value = raw_value.decode("latin-1").strip()
        if name in _REMAINING:
            remaining = _whole(value)
        elif name in _RESET:
            reset = seconds_until(value)
        elif name == _STRUCTURED:
            for key, number in _PARAMETER.findall(value):
                if key in ("remaining", "r"):
                    remaining = _whole(number)
                else:
                    reset = seconds_until(number)
    return None if remaining is None else (remaining, reset)


def _whole(text: str) -> int | None:
    try:
        return max(0, int(float(text.split(",")[0])))
    except ValueError:
        return None


class RateLimit(BaseModel):
    """At most `requests` requests in any window of `per_seconds` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(ge=1, le=10_000, description="at most this many requests ...")
    per_seconds: float = Field(gt=0, le=86_400, description="... in any window of this many seconds")


class SlidingWindowLimiter:
    """Grants request slots so that no window of `per_seconds` sees more than `requests` arrivals.

    The slots are kept in `ledger` (this process's memory unless a shared one is given). Waiters
    of this process take free slots in arrival order; a waiter that finds every slot in flight
    wakes when one of this process's requests releases its slot, or after a quarter of a window
    (a slot released by another process is then free at the earliest one window after release,
    so polling that often loses nothing).
    """

    _MAX_SLOWDOWN = 4.0

    def __init__(self, limit: RateLimit, *, ledger: SlotLedger | None = None) -> None:
        self.limit = limit
        self._ledger = ledger or MemoryLedger(limit.requests)
        self._window = limit.per_seconds
        self._turn = asyncio.Lock()  # FIFO: waiters take free slots in arrival order
        self._released = asyncio.Event()
        self._in_flight = 0
        self._remaining: int | None = None  # what the vendor's headers leave us before `_reset_at`
        self._reset_at = 0.0
        self.waited = 0.0
        """Seconds requests spent waiting for a slot (for metrics)."""

    async def acquire(self) -> int:
        """Wait for a slot whose window has passed; returns the slot: give it to `release` once
        the response headers arrive, or to `cancel` if nothing was sent."""
        ledger = self._ledger
        async with self._turn:
            while True:
                now = ledger.clock()
                slot, ready_at = ledger.claim(now, self.limit.requests)
                if slot is not None:
                    self._in_flight += 1
                    if self._remaining is not None:
                        self._spend(now)
                    return slot
                self._released.clear()
                delay = (ready_at - now) if ready_at is not None else self._window / 4
                started = time.monotonic()
                if ready_at is None:
                    try:
                        await asyncio.wait_for(self._released.wait(), delay)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(delay)
                self.waited += time.monotonic() - started

    def release(self, slot: int) -> None:
        """Free `slot`: it may be used again one window from now."""
        ledger = self._ledger
        ledger.stamp(slot, ledger.clock() + self._window)
        self._in_flight -= 1
        self._released.set()

    def cancel(self, slot: int) -> None:
        """Hand back a slot that sent nothing: it is free again as it was."""
        self._ledger.unclaim(slot)
        self._in_flight -= 1
        if self._remaining is not None:
            self._remaining += 1
        self._released.set()

    def observe(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Follow what an answer's rate-limit headers say is left of the vendor's window (see the
        module docstring); an answer without them changes nothing."""
        found = read_limit_headers(headers)
        if found is None:
            return
        remaining, reset_in = found
        now = self._ledger.clock()
        reset_at = now + (reset_in if reset_in is not None else self._window)
        allowed = remaining - self._in_flight  # sent before this answer; the vendor may not have counted them
        if self._remaining is None or now >= self._reset_at or reset_at > self._reset_at + _SAME_WINDOW:
            self._remaining, self._reset_at = allowed, reset_at
        else:  # answers of one window may arrive out of order: the lowest count is the truest
            self._remaining = min(self._remaining, allowed)
            self._reset_at = max(self._reset_at, reset_at)
        if self._remaining <= 0:
            self._ledger.pause(self._reset_at)  # every process sharing the account waits for the reset

    def _spend(self, now: float) -> None:
        """One request more of what the vendor's headers allowed; none left holds until the reset."""
        if now >= self._reset_at:
            self._remaining = None  # a new window: unknown until an answer says
            return
        assert self._remaining is not None
        self._remaining -= 1
        if self._remaining <= 0:
            self._ledger.pause(self._reset_at)

    def pause(self, seconds: float) -> None:
        """Let no request start for `seconds`, in any process sharing the ledger (the vendor asked us to wait)."""
        ledger = self._ledger
        ledger.pause(ledger.clock() + seconds)

    def slow_down(self, factor: float = 1.25) -> None:
        """Lengthen the window for the rest of the run, up to four times the configured one."""
        self._window = min(self._window * factor, self.limit.per_seconds * self._MAX_SLOWDOWN)

    @property
    def saturated(self) -> bool:
        """Whether a request is waiting for a slot now: the tenant is held by its limit, so work
        that finishes meanwhile (a download's catalog commit) may take a few milliseconds longer
        without delaying any request."""
        return self._turn.locked()

    @property
    def window(self) -> float:
        """The window currently applied, in seconds (longer than configured after a 429)."""
        return self._window
