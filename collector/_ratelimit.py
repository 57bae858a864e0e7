"""A per-tenant request limiter that vendors' sliding windows can never catch out.

Vendors count requests as they arrive ("more than 3 in any 10 seconds answers 429"). A client
cannot see arrival times, but it knows an upper bound: a request has certainly arrived by the
time its response headers are back. So the limiter holds `requests` slots; a request takes a
free slot, and the slot becomes free again `per_seconds` after that request's response headers
arrived. Any `requests + 1` consecutive arrivals are then more than `per_seconds` apart, whatever
the network latency, while a tenant with pending work keeps every slot busy (utilisation is
`per_seconds / (per_seconds + latency)`).

Why not a library: token buckets (aiolimiter) allow a burst of `requests` plus refills inside
one window, and the sliding-window libraries stamp the time a request is *sent*, which a slow
request can turn into two arrivals less than a window apart. The rule above is twenty lines.

A slot taken but not used (the request found its token expired while it waited, say) is handed
back with `cancel`, unstamped. After a 429 the HTTP client calls `pause` (nobody sends until the
vendor's Retry-After has passed) and `slow_down` (a longer window for the rest of the run).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """At most `requests` requests in any window of `per_seconds` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(ge=1, le=10_000)
    per_seconds: float = Field(gt=0, le=86_400)


class SlidingWindowLimiter:
    """Grants request slots so that no window of `per_seconds` sees more than `requests` arrivals."""

    _MAX_SLOWDOWN = 4.0

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._window = limit.per_seconds
        self._free_at: list[float] = [0.0] * limit.requests  # a heap of times idle slots free up
        self._idle = asyncio.Semaphore(limit.requests)
        self._turn = asyncio.Lock()  # FIFO: waiters take free slots in arrival order
        self._paused_until = 0.0
        self.waited = 0.0
        """Seconds requests spent waiting for a slot (for metrics)."""

    async def acquire(self) -> float:
        """Wait for a slot whose window has passed; returns the slot (give it to `cancel`), and
        call `release` once the response headers arrive."""
        async with self._turn:
            await self._idle.acquire()
            ready_at = heapq.heappop(self._free_at)
            try:
                while (delay := max(ready_at, self._paused_until) - self._clock()) > 0:
                    self.waited += delay
                    await asyncio.sleep(delay)
            except BaseException:
                self.cancel(ready_at)
                raise
            return ready_at

    def release(self) -> None:
        """Free the slot taken by `acquire`: it may be used again one window from now."""
        heapq.heappush(self._free_at, self._clock() + self._window)
        self._idle.release()

    def cancel(self, slot: float) -> None:
        """Hand back a slot that sent nothing: it is free again as it was."""
        heapq.heappush(self._free_at, slot)
        self._idle.release()

    def pause(self, seconds: float) -> None:
        """Let no request start for `seconds` (the vendor asked us to wait)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def slow_down(self, factor: float = 1.25) -> None:
        """Lengthen the window for the rest of the run, up to four times the configured one."""
        self._window = min(self._window * factor, self.limit.per_seconds * self._MAX_SLOWDOWN)

    @property
    def window(self) -> float:
        """The window currently applied, in seconds (longer than configured after a 429)."""
        return self._window
