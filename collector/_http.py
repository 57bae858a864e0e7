"""The HTTP client every source uses: one per tenant, rate-limited, retried, authenticated.

What it promises a plugin:
- every request, retries and token requests included, takes a slot of the tenant's rate limiter;
- connection errors, timeouts, 5xx answers (except 501, 505 and 509) and unparsable JSON bodies
  are retried with exponential backoff and jitter (tenacity);
- a 429 is retried after the vendor's `Retry-After` (seconds or an HTTP date; missing, zero or
  garbage falls back to the backoff; always capped), and it pauses and slows the whole tenant;
- a 401 renews the token once and resends; a second 401 is final;
- anything else that is not a success raises `HTTPStatusError` (a whole sentence, no secrets),
  and exhausted retries raise `HTTPStatusError` or `TransportError`: the job decides, with
  `classify_http_error`, whether that skips an item, stops the tenant or stops downloads.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
from collections.abc import AsyncIterator, Collection
from contextvars import ContextVar
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._auth import TokenAuth
from ._errors import HTTPStatusError, TransportError
from ._ratelimit import SlidingWindowLimiter
from ._redact import redact

USER_AGENT = "recording-collector"
_ERROR_BODY_LIMIT = 2000


class RetrySettings(BaseModel):
    """How hard the HTTP layer tries before giving an error to the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=5, ge=1, le=50, description="tries per request, the first included")
    initial_wait: float = Field(default=1.0, gt=0, le=600, description="first backoff, seconds")
    max_wait: float = Field(default=30.0, gt=0, le=3600, description="longest backoff, seconds")
    max_retry_after: float = Field(default=300.0, gt=0, le=86_400, description="cap on Retry-After")


@dataclass
class RequestStats:
    """Counters for one tenant's requests, reported in the run summary."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


fetching_token: ContextVar[bool] = ContextVar("fetching_token", default=False)
"""Set while `TokenAuth` fetches a token: that request takes no in-flight permit."""


class _Retryable(Exception):
    """An answer worth trying again; `retry_after` is the vendor's requested delay, if usable."""

    def __init__(self, request: httpx.Request, status: int | None, detail: str,
                 retry_after: float | None = None) -> None:
        self.method = request.method
        self.path = _path(request)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when missing, zero, past or garbage."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return seconds if seconds > 0 and seconds == seconds and seconds != float("inf") else None


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


class HttpClient:
    """One tenant's HTTP client: base URL, timeouts, auth, rate limit and retries in one place."""

    def __init__(
        self,
        base_url: str,
        *,
        limiter: SlidingWindowLimiter,
        retry: RetrySettings,
        timeout: float = 30.0,
        max_in_flight: int = 4,
        auth: TokenAuth | None = None,
        stats: RequestStats | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            # One connection more than the permits: the token request (one at a time) never waits.
            limits=httpx.Limits(max_connections=max_in_flight + 1, max_keepalive_connections=max_in_flight),
            timeout=httpx.Timeout(timeout, pool=None),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,
        )
        self.limiter = limiter
        self.retry = retry
        self.auth = auth
        self.stats = stats if stats is not None else RequestStats()
        self._in_flight = asyncio.Semaphore(max_in_flight)

    @property
    def base_url(self) -> str:
        """The URL every relative request path is joined to."""
        return str(self._client.base_url)

    async def request(
        self, method: str, url: str, *, authenticate: bool = True, retry_on: Collection[int] = (), **kwargs: Any
    ) -> httpx.Response:
        """Send a request and read its body; retry what is transient; raise on any other error.

        `retry_on` adds statuses that this call should treat as "try again later" (a vendor's 202
        meaning "report not ready", say). Extra keyword arguments go to httpx (params, json, ...).
        """
        async for attempt in self._retrying():
            with attempt:
                async with self._exchange(method, url, authenticate, retry_on, kwargs) as response:
                    await _read_body(response)
                    return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def json(
        self, method: str, url: str, *, authenticate: bool = True, retry_on: Collection[int] = (),
        empty_ok: Collection[int] = (), **kwargs: Any
    ) -> Any:
        """Send a request and return its JSON body; a body that is not JSON is retried like a 5xx.

        `empty_ok` lists statuses whose empty body is an answer, not a fault (e.g. 204 "not ready
        yet"): for those, None is returned.
        """
        async for attempt in self._retrying():
            with attempt:
                async with self._exchange(method, url, authenticate, retry_on, kwargs) as response:
                    body = await _read_body(response)
                    if response.status_code in empty_ok and not body.strip():
                        return None
                    try:
                        return from_json(body)
                    except ValueError:
                        raise _Retryable(response.request, None, f"{method} {_path(response.request)} "
                                         f"answered with a body that is not valid JSON ({len(body)} bytes).") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, authenticate: bool = True, retry_on: Collection[int] = (), **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """Open a streaming response (status already checked) for downloads that must not sit in memory."""
        opened: httpx.Response | None = None
        exchange = None
        async for attempt in self._retrying():
            with attempt:
                exchange = self._exchange(method, url, authenticate, retry_on, kwargs)
                opened = await exchange.__aenter__()
        assert exchange is not None and opened is not None
        try:
            yield opened
        except BaseException as exc:
            await exchange.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            await exchange.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    # -- one exchange: auth, in-flight slot, status check -----------------------------------------

    @asynccontextmanager
    async def _exchange(
        self, method: str, url: str, authenticate: bool, retry_on: Collection[int], kwargs: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        """One exchange, body included, holding one of `max_in_flight` permits (one connection).

        Order: permit, then token, then rate-limit slot. Holding the permit until the body is read
        or the stream closed means a request takes a slot only when a connection is free for it;
        checking the token after the permit (and reading it again after the slot) means a request
        never waits with a token that expires meanwhile. A token request itself takes no permit
        (it would deadlock behind requests waiting for its token); it has a connection of its own.
        A 401 releases the permit while the token is renewed, then sends once more.
        """
        auth = self.auth if authenticate else None
        permit = not fetching_token.get()
        for first_try in (True, False):
            if permit:
                await self._in_flight.acquire()
            try:
                if auth is not None:
                    await auth.authorization(self)
                response, credential = await self._send(method, url, auth, kwargs)
            except BaseException:
                if permit:
                    self._in_flight.release()
                raise
            if response.status_code == 401 and first_try and auth is not None and auth.renewable \
                    and credential is not None:
                await response.aclose()
                if permit:
                    self._in_flight.release()
                await auth.renew(credential, self)
                continue
            try:
                await self._check(response, retry_on)
                yield response
            finally:
                await response.aclose()
                if permit:
                    self._in_flight.release()
            return

    async def _send(
        self, method: str, url: str, auth: TokenAuth | None, kwargs: dict[str, Any]
    ) -> tuple[httpx.Response, str | None]:
        """Send once: wait for a rate-limit slot, then send with the freshest token.

        Once the slot is granted the current token is used, so waiting in the limiter's queue can
        never make a request carry a token that expired meanwhile. The slot is released when the
        response headers arrive (see `SlidingWindowLimiter`).
        """
        headers = dict(kwargs.get("headers") or {})
        await self.limiter.acquire()
        try:
            credential = auth.current() if auth is not None else None
            if credential is not None:
                headers["Authorization"] = credential
            request = self._client.build_request(method, url, **{**kwargs, "headers": headers})
            self.stats.requests += 1
            try:
                response = await self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise _Retryable(request, None, _describe_transport_error(request, exc)) from None
        finally:
            self.limiter.release()
        self.stats.statuses[response.status_code] = self.stats.statuses.get(response.status_code, 0) + 1
        return response, credential

    async def _check(self, response: httpx.Response, retry_on: Collection[int]) -> None:
        status = response.status_code
        if 200 <= status < 300 and status not in retry_on:
            return
        detail = await _error_detail(response)
        if retryable_status(status) or status in retry_on:
            if status == 429:
                self.stats.throttled += 1
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(response.request, status, detail, retry_after)
        raise HTTPStatusError(status, response.request.method, _path(response.request), detail)

    # -- retry policy -------------------------------------------------------------------------------

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            before_sleep=self._count_retry,
            retry_error_callback=self._give_up,
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = backoff_delay(state.attempt_number, self.retry)
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, _Retryable):
            return backoff
        delay = min(exc.retry_after, self.retry.max_retry_after) if exc.retry_after else backoff
        if exc.status in (429, 503):
            # The vendor is throttling the tenant: nobody sends until the delay has passed.
            self.limiter.pause(delay)
            if exc.status == 429:
                self.limiter.slow_down()
        return delay

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    @staticmethod
    def _give_up(state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable):
            tries = f"gave up after {state.attempt_number} attempts"
            if exc.status is None:
                raise TransportError(f"{exc.detail} The collector {tries}.") from None
            detail = f"{exc.detail} ({tries})" if exc.detail else f"({tries})"
            raise HTTPStatusError(exc.status, exc.method, exc.path, detail) from None
        assert state.outcome is not None
        return state.outcome.result()


async def _read_body(response: httpx.Response) -> bytes:
    """Read a whole body; a connection that breaks mid-body is retried like one that never answered."""
    try:
        return await response.aread()
    except httpx.TransportError as exc:
        raise _Retryable(response.request, None, _describe_transport_error(response.request, exc)) from None


def _path(request: httpx.Request) -> str:
    """The request's path without the query string (which may carry filters, never secrets)."""
    return request.url.copy_with(query=None).path or "/"


def _describe_transport_error(request: httpx.Request, exc: httpx.TransportError) -> str:
    kind = type(exc).__name__
    text = str(exc) or "no detail"
    return redact(f"{request.method} {_path(request)} failed before an answer arrived ({kind}: {text}).")


async def _error_detail(response: httpx.Response) -> str:
    """A short, redacted summary of an error body: its `message` field if JSON, else its start."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_BODY_LIMIT:
            break
    body = b"".join(chunks)[:_ERROR_BODY_LIMIT].decode("utf-8", "replace")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error_description", "error", "detail"):
            if isinstance(parsed.get(key), str):
                body = parsed[key]
                break
    body = " ".join(body.split())
    return redact(body[:300])

