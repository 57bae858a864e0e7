"""A per-tenant limit on requests in flight that steps down after a 429 and climbs back when calm.

Some vendors limit concurrent requests rather than (or as well as) their rate: "at most 3
requests in progress per account". Every HTTP client of a tenant shares one `ConcurrencyLimit`,
so downloads, listings and transcript calls together never exceed it. A 429 lowers the limit by
one (never below one), since the vendor may count our in-flight requests more strictly than we
do; each calm window afterwards (no 429 for one rate-limit window) raises it by one again, up to
the configured limit.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable


class ConcurrencyLimit:
    """At most `limit` holders at once; `throttled()` steps down, calm windows step back up."""

    def __init__(self, limit: int, *, calm_window: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("a concurrency limit is at least 1")
        self.limit = limit
        self._current = limit
        self._in_use = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._calm_window = calm_window
        self._clock = clock
        self._last_step = clock()
        self.peak = 0
        """The most holders seen at once (for tests and benchmarks)."""

    @property
    def current(self) -> int:
        """How many holders are allowed right now (lower than `limit` after a 429)."""
        return self._current

    async def acquire(self) -> None:
        """Wait until one more request may be in flight."""
        self._recover()
        if self._in_use < self._current and not self._waiters:
            self._take()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as we were cancelled: give it back
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """One request is no longer in flight."""
        self._in_use -= 1
        self._recover()
        self._wake()

    def throttled(self) -> None:
        """The vendor answered 429: allow one request fewer in flight for a while."""
        self._current = max(1, self._current - 1)
        self._last_step = self._clock()

    def _take(self) -> None:
        self._in_use += 1
        self.peak = max(self.peak, self._in_use)

    def _recover(self) -> None:
        if self._current < self.limit and self._clock() - self._last_step >= self._calm_window():
            self._current += 1
            self._last_step = self._clock()
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._current:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
