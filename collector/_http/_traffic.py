"""One tenant's request budget, shared by every HTTP client of the tenant: limits, retries, counters.

`Traffic` holds the tenant's rate limiter (and one per route category the source names, e.g.
"downloads" at 5 a second beside the tenant's overall limit), its concurrency limit, its retry
policy, the routes the vendor's quotas have paused (`RoutePauses`) and the counters the run
summary reports. The HTTP client (`collector._http._client`) spends it; the job builds it from the
tenant's settings.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from collector._base._errors import BadStatus, NoAnswer, RequestFailed
from collector._base._vendor_answer import VendorAnswer

from ._answers import request_path
from ._concurrency import ConcurrencyLimit
from ._ledger import account_key, open_ledger
from ._quotas import RoutePauses
from ._ratelimit import RateLimit, SlidingWindowLimiter

T = TypeVar("T")


class RetrySettings(BaseModel):
    """How hard the HTTP layer tries before giving an error to the job, and how long it waits for
    what the vendor asks it to wait for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=5, ge=1, le=50, description="tries per request, the first included")
    initial_wait: float = Field(default=1.0, gt=0, le=600, description="first backoff, seconds")
    max_wait: float = Field(default=30.0, gt=0, le=3600, description="longest backoff, seconds")
    max_retry_after: float = Field(default=300.0, gt=0, le=86_400, description="cap on Retry-After")
    ready_wait: float = Field(
        default=60.0, ge=0, le=3600,
        description="seconds a call may wait, in all, for an item the vendor says will be ready soon "
                    "(its estimate); a longer estimate leaves the item waiting for a later run")
    quota_after: float = Field(
        default=600.0, gt=0, le=86_400,
        description="a 429 asking to wait longer than this (seconds) is a quota: its route pauses until "
                    "then, in this run and later ones, instead of being retried")


@dataclass
class RequestStats:
    """Counters for one tenant's requests, reported in the run summary.

    `not_ready` counts answers that said "not ready yet" (they are neither retries nor faults);
    `paused` counts calls not sent because the vendor's quota had paused their route.
    """

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    redirects: int = 0
    not_ready: int = 0
    paused: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Traffic:
    """One tenant's request budget, shared by every HTTP client of that tenant.

    The rate limiter, the concurrency limit (which steps down after a 429 and back up when calm),
    the retry policy, the timeout and the counters the run summary reports; `connections`, shared
    by every tenant of a pass, bounds the sockets open at once on this machine. `account` (see
    `Source.account_key`) names the vendor account whose rate limit every process on the
    machine shares; without one the limit is this object's own. `route_limits` gives a route
    category (named by a call's `route=`) a limit of its own, spent besides the tenant's; each
    is shared across processes like the tenant's (per account and route).
    """

    def __init__(self, rate_limit: RateLimit, *, max_in_flight: int = 4, retry: RetrySettings | None = None,
                 timeout: float = 30.0, account: str | None = None, connections: asyncio.Semaphore | None = None,
                 log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
                 route_limits: Mapping[str, RateLimit] | None = None) -> None:
        self.log = log or logging.getLogger("collector.http")
        self.connections = connections
        """The machine's budget of exchanges in flight across tenants (see `collector._runner._machine`)."""
        self.limiter = SlidingWindowLimiter(
            rate_limit, ledger=open_ledger(account, rate_limit.requests, window=rate_limit.per_seconds))
        self.routes: dict[str, SlidingWindowLimiter] = {
            name: SlidingWindowLimiter(limit, ledger=open_ledger(
                account_key(account, "route", name) if account else None, limit.requests, window=limit.per_seconds))
            for name, limit in (route_limits or {}).items()
        }
        """The limiter of each route category with a limit of its own."""
        self.concurrency = ConcurrencyLimit(max_in_flight, calm_window=lambda: self.limiter.window)
        self.retry = retry or RetrySettings()
        self.timeout = timeout
        self.stats = RequestStats()
        self.pauses = RoutePauses()
        """The routes the vendor's quotas have paused for this tenant (loaded from the catalog by the job)."""
        self.gate: Callable[[], None] | None = None
        """Called before every request is sent; raises to stop sending (a cluster worker whose
        lease on the tenant may have passed to another worker: see `collector._runner._cluster`)."""
        self.worker: str | None = None
        """The cluster worker sending, named in an `X-Collector-Worker` header (for the vendor's logs)."""

    @property
    def rate_bound(self) -> bool:
        """Whether a request of the tenant waits for a rate-limit slot now (its own or a route's)."""
        return self.limiter.saturated or any(limiter.saturated for limiter in self.routes.values())

    @property
    def first_burst(self) -> tuple[int, float]:
        """(requests this tenant may send at once when it starts, its window in seconds): its
        allowance, at most `max_in_flight` (see `collector._runner._run.start_offsets`)."""
        limit = self.limiter.limit
        return min(limit.requests, self.concurrency.limit), limit.per_seconds

    @property
    def waited(self) -> float:
        """Seconds requests spent waiting for rate-limit slots, the routes' included (for the summary)."""
        return self.limiter.waited + sum(limiter.waited for limiter in self.routes.values())


class Connection:
    """One exchange's share of the machine's connection budget (`Traffic.connections`): taken when
    it first sends, after its rate-limit slot, so a request waiting for its vendor holds none; kept
    across redirects; given back when the exchange ends. Token requests take none (they run inside
    other exchanges, which could otherwise wait on each other)."""

    __slots__ = ("_budget", "_held")

    def __init__(self, budget: asyncio.Semaphore | None) -> None:
        self._budget = budget
        self._held = False

    async def take(self) -> None:
        """Take the share, once."""
        if self._budget is not None and not self._held:
            await self._budget.acquire()
            self._held = True

    def release(self) -> None:
        """Give the share back, if taken."""
        if self._held:
            self._held = False
            assert self._budget is not None
            self._budget.release()


class Retryable(Exception):
    """An answer (or a failure to get one) worth trying again within the call: the HTTP client's
    retry loop catches it. `retry_after` is the vendor's requested delay, if usable; `route` the
    call's route category (a 429 slows that route's limiter); `transient` marks an answer the call
    or its error table calls "try again" (spent retries then raise `NoAnswer`, not `BadStatus`)."""

    def __init__(self, request: httpx.Request, status: int | None, detail: str,
                 retry_after: float | None = None, route: str | None = None, *, transient: bool = False,
                 answer: VendorAnswer | None = None) -> None:
        self.method = request.method
        self.path = request_path(request)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.route = route
        self.transient = transient
        self.answer = answer
        super().__init__(detail)


def backoff_delay(attempt: int, retry: RetrySettings) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random, capped.

    The fixed half guarantees the vendor a real pause (vendors typically ask for 1 s, doubling, up
    to about 30 s); the random half keeps concurrent clients from retrying in lockstep.
    """
    step = min(retry.initial_wait * 2.0 ** (attempt - 1), retry.max_wait)
    return step / 2 + random.uniform(0, step / 2)


def retryable_status(status: int) -> bool:
    """Statuses that mean "try again later": 408, 429 and transient 5xx (not 501, 505, 509)."""
    return status in (408, 429) or (500 <= status < 600 and status not in (501, 505, 509))


async def with_retries(traffic: Traffic, once: Callable[[], Awaitable[T]]) -> T:
    """Run one call (`once`) with the tenant's retries: `Retryable` is tried again, up to
    `traffic.retry.attempts` tries in all, after the vendor's Retry-After (capped) or the backoff; a
    429 or 503 pauses the limiter the call used (even on the last try: nobody else should send
    into it), a 429 also slows it; each retry is counted and logged; spent retries raise
    `BadStatus`, or `NoAnswer` when there was no usable answer. Anything else propagates at once.

    A loop of our own, not tenacity's: its per-call state (a thread-local, a future with its lock
    and condition, closures referring to each other) is cyclic garbage that outlives the call
    until a full collection, about 60 objects a request; at 500 tenants that garbage was the peak
    memory's largest part besides live state (see bench/README.md, phase 3).
    """
    attempt = 1
    while True:
        try:
            return await once()
        except Retryable as exc:
            delay = _wait(traffic, exc, attempt)
            if attempt >= traffic.retry.attempts:
                raise _given_up(exc, attempt) from None
            _count_retry(traffic, exc, attempt)
        await asyncio.sleep(delay)
        attempt += 1


def _wait(traffic: Traffic, exc: Retryable, attempt: int) -> float:
    retry = traffic.retry
    delay = min(exc.retry_after, retry.max_retry_after) if exc.retry_after else backoff_delay(attempt, retry)
    if exc.status in (429, 503):
        # The vendor is throttling the tenant (or the route): nobody sends until the delay has passed.
        limiter = traffic.routes.get(exc.route) if exc.route is not None else None
        limiter = limiter or traffic.limiter
        limiter.pause(delay)
        if exc.status == 429:
            limiter.slow_down()
    return delay


def _count_retry(traffic: Traffic, exc: Retryable, attempt: int) -> None:
    traffic.stats.retries += 1
    status = f"HTTP {exc.status}" if exc.status else "no answer"
    traffic.log.info(
        "Retrying %s %s after %s (attempt %d of %d): %s", exc.method, exc.path, status, attempt,
        traffic.retry.attempts, exc.detail,
        extra={"event": "retry", "method": exc.method, "path": exc.path, "status": exc.status,
               "reason": exc.detail, "attempt": attempt})


def _given_up(exc: Retryable, attempts: int) -> RequestFailed:
    tries = f"gave up after {attempts} attempts"
    if exc.status is None or exc.transient:
        error: RequestFailed = NoAnswer(f"{exc.detail} The collector {tries}.")
        error.answer = exc.answer
        return error
    detail = f"{exc.detail} ({tries})" if exc.detail else f"({tries})"
    return BadStatus(exc.status, exc.method, exc.path, detail, answer=exc.answer)
