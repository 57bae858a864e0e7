"""The HTTP client every source uses: one tenant's requests, rate-limited, bounded, retried, authenticated.

What it promises a plugin:
- every request of a tenant, from every client of that tenant, shares the tenant's `Traffic`: one
  rate limiter (retries included; token requests too unless their strategy says otherwise) and
  one concurrency limit (`max_in_flight`);
- the credential is put on a request right before it is sent, after any wait for a rate-limit
  slot, so no request leaves with a token that expired while it waited; credentials are only ever
  sent to the client's own origin;
- connection errors, timeouts, 5xx answers (except 501, 505 and 509) and unparsable JSON bodies
  are retried with exponential backoff and jitter (tenacity);
- a 429 is retried after the vendor's `Retry-After` (seconds or an HTTP date; missing, zero or
  garbage falls back to the backoff; always capped), and it pauses and slows the whole tenant and
  lowers its concurrency until calm returns;
- a 401 renews the token once and resends; a second 401 is final;
- statuses a call names in `not_ready_on` (the vendor's "still processing, ask later") raise
  `ItemNotReady` at once: the item waits for a later run without spending an attempt;
- with `redirects=Redirects(...)`, 3xx answers are followed: a hop to another origin carries none
  of the strategy's headers or query parameters, https is never downgraded to http, the hops are
  bounded, and a signed URL the storage host refuses (expired) is answered by asking the original
  URL again;
- anything else that is not a success raises `BadStatus` (a whole sentence, no secrets), and
  exhausted retries raise `BadStatus` or `NoAnswer`: the job decides, with
  `classify_request_failure`, whether that skips an item, stops the tenant or stops downloads.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import json
import random
import ssl
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._auth import Auth, TokenChannel
from ._concurrency import ConcurrencyLimit
from ._errors import BadStatus, ItemNotReady, NoAnswer, TenantError
from ._ledger import open_ledger
from ._ratelimit import RateLimit, SlidingWindowLimiter
from ._redact import guard_library_logs, redact, register_secret

USER_AGENT = "recording-collector"
_ERROR_BODY_LIMIT = 2000
_TOKEN_RACES = 3
_CROSS_ORIGIN_DROPPED = ("authorization", "cookie", "proxy-authorization")
_EXPIRED_SIGNATURE = (400, 401, 403, 410)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIGNATURE_LENGTH = 16

guard_library_logs()  # httpx and httpcore log URLs and headers; a signed URL's query never reaches a log


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
    redirects: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Traffic:
    """One tenant's request budget, shared by every HTTP client of that tenant.

    The rate limiter, the concurrency limit (which steps down after a 429 and back up when calm),
    the retry policy, the timeout and the counters the run summary reports; `connections`, shared
    by every tenant of a pass, bounds the sockets open at once on this machine. `account` (see
    `Source.account_key`) names the vendor account whose rate limit every process on the
    machine shares; without one the limit is this object's own.
    """

    def __init__(self, rate_limit: RateLimit, *, max_in_flight: int = 4, retry: RetrySettings | None = None,
                 timeout: float = 30.0, account: str | None = None, connections: asyncio.Semaphore | None = None,
                 log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None) -> None:
        self.log = log or logging.getLogger("collector.http")
        self.connections = connections
        """The machine's budget of exchanges in flight across tenants (see `collector._machine`)."""
        self.limiter = SlidingWindowLimiter(
            rate_limit, ledger=open_ledger(account, rate_limit.requests, window=rate_limit.per_seconds))
        self.concurrency = ConcurrencyLimit(max_in_flight, calm_window=lambda: self.limiter.window)
        self.retry = retry or RetrySettings()
        self.timeout = timeout
        self.stats = RequestStats()
        self.gate: Callable[[], None] | None = None
        """Called before every request is sent; raises to stop sending (a cluster worker whose
        lease on the tenant may have passed to another worker: see `collector._cluster`)."""
        self.worker: str | None = None
        """The cluster worker sending, named in an `X-Collector-Worker` header (for the vendor's logs)."""


class _Connection:
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


@dataclass(frozen=True)
class Redirects:
    """How a request follows redirects, e.g. media that answers 302 to a signed storage URL.

    `rate_limited`: whether hops to another origin (the storage host) take a slot of the tenant's
    rate limit; hops within the API's origin always do.
    """

    max_hops: int = 5
    rate_limited: bool = False


REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id", "x-ms-request-id",
                      "x-correlation-id", "x-trace-id")
"""Headers vendors put their own id of a request in, looked for in this order (chain of custody)."""


@dataclass(frozen=True)
class Custody:
    """Where a download came from, for the chain of custody: `endpoint` is the first request's
    method and path (no query string: it may carry a signature or a key), then the final host and
    path when a redirect led elsewhere; `request_id` the vendor's id of the exchange, if it sent
    one (`REQUEST_ID_HEADERS`); `content_length` what the answer announced; `framed` whether the
    HTTP framing announces the body's end (a Content-Length or chunked encoding), so a body that
    broke off early fails instead of looking complete."""

    endpoint: str
    request_id: str | None
    content_length: int | None
    framed: bool


_FIRST_HOP = "collector_first_hop"


def custody_of(response: httpx.Response) -> Custody:
    """The chain-of-custody facts of an (open) response, redirects included."""
    first = response.extensions.get(_FIRST_HOP)
    request = response.request
    if first is None:
        endpoint, request_id = f"{request.method} {_path(request)}", _request_id(response.headers)
    else:
        method, path, first_id = first
        endpoint = f"{method} {path} -> {request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}{_path(request)}"
        request_id = first_id or _request_id(response.headers)
    length = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    chunked = "chunked" in response.headers.get("transfer-encoding", "").lower()
    known = length is not None and length.isdigit() and not encoded
    return Custody(redact(endpoint), redact(request_id) if request_id else None,
                   int(length) if known and length is not None else None, known or chunked)


def _request_id(headers: httpx.Headers) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return " ".join(value.split())[:200]
    return None


@dataclass(frozen=True)
class JsonAnswer:
    """A JSON answer with what paging needs besides the body."""

    body: Any
    status: int
    headers: httpx.Headers
    links: dict[Any, Any]
    request_url: httpx.URL

    @property
    def url(self) -> str:
        """The absolute URL that was answered (query included)."""
        return str(self.request_url)

    @property
    def path(self) -> str:
        """The answered URL's path (no query), for messages."""
        return self.request_url.path or "/"

    def resolve(self, url: str) -> str:
        """`url` (relative or absolute) resolved against the answered URL."""
        return str(self.request_url.join(url))


@dataclass(frozen=True)
class _Options:
    authenticate: bool
    rate_limited: bool
    permit: bool
    retry_on: Collection[int]
    redirects: Redirects | None
    not_ready_on: Collection[int] = ()


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


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (building one per client costs ~1 MB and milliseconds)."""
    return httpx.create_ssl_context()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


class HttpClient:
    """One tenant's client for one base URL: auth, shared limits, retries and redirects in one place."""

    def __init__(self, base_url: str, traffic: Traffic, *, auth: Auth | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.traffic = traffic
        self.auth = auth
        self._client = httpx.AsyncClient(
            base_url=base_url,
            # One connection more than the permits: a token request (one at a time) never waits.
            limits=httpx.Limits(max_connections=traffic.concurrency.limit + 1,
                                max_keepalive_connections=traffic.concurrency.limit),
            timeout=httpx.Timeout(traffic.timeout, pool=None),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,
            verify=_tls(),
        )
        self._base_origin = _origin(self._client.base_url)
        self._channel = TokenChannel(self, rate_limited=getattr(auth, "share_rate_limit", True))

    @property
    def base_url(self) -> str:
        """The URL every relative request path is joined to."""
        return str(self._client.base_url)

    @property
    def stats(self) -> RequestStats:
        """The tenant's request counters (shared with its other clients)."""
        return self.traffic.stats

    async def request(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                      retry_on: Collection[int] = (), redirects: Redirects | None = None,
                      not_ready_on: Collection[int] = (), **kwargs: Any) -> httpx.Response:
        """Send a request and read its body; retry what is transient; raise on any other error.

        `url` is relative to the base URL, or absolute (a URL the vendor handed out: it is sent
        without credentials unless it is on the API's own origin). `rate_limited=False` skips the
        tenant's rate limit (a pre-signed storage URL the limit does not cover). `retry_on` adds
        statuses this call treats as "try again later" (a vendor's 202 meaning "report not
        ready", say). `not_ready_on` lists statuses that mean "still processing" (a vendor's 409 for
        media not encoded yet): they raise `ItemNotReady`, not retried. Extra keyword arguments go
        to httpx (params, json, headers, ...).
        """
        options = _Options(authenticate, rate_limited, kwargs.pop("_permit", True), retry_on, redirects,
                           not_ready_on)
        async for attempt in self._retrying():
            with attempt:
                async with self._exchange(method, url, options, kwargs) as response:
                    await _read_body(response)
                    return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def json(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                   retry_on: Collection[int] = (), empty_ok: Collection[int] = (),
                   not_ready_on: Collection[int] = (), **kwargs: Any) -> Any:
        """Send a request and return its JSON body; a body that is not JSON is retried like a 5xx.

        `empty_ok` lists statuses whose empty body is an answer, not a fault (e.g. 204 "not ready
        yet"): for those, None is returned. Other arguments as for `request`.
        """
        answer = await self.json_answer(method, url, authenticate=authenticate, rate_limited=rate_limited,
                                        retry_on=retry_on, empty_ok=empty_ok, not_ready_on=not_ready_on,
                                        **kwargs)
        return answer.body

    async def json_answer(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                          retry_on: Collection[int] = (), empty_ok: Collection[int] = (),
                          not_ready_on: Collection[int] = (), **kwargs: Any) -> JsonAnswer:
        """As `json`, with the answer's status, headers, `Link` relations and URL too (for paging)."""
        options = _Options(authenticate, rate_limited, kwargs.pop("_permit", True), retry_on, None, not_ready_on)
        async for attempt in self._retrying():
            with attempt:
                async with self._exchange(method, url, options, kwargs) as response:
                    body = await _read_body(response)
                    parsed: Any = None
                    if not (response.status_code in empty_ok and not body.strip()):
                        try:
                            parsed = from_json(body)
                        except ValueError:
                            raise _Retryable(response.request, None, f"{method} {_path(response.request)} "
                                             f"answered with a body that is not valid JSON ({len(body)} bytes)."
                                             ) from None
                    return JsonAnswer(parsed, response.status_code, response.headers, response.links,
                                      response.request.url)
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                     retry_on: Collection[int] = (), redirects: Redirects | None = None,
                     not_ready_on: Collection[int] = (), **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Open a streaming response (status already checked) for downloads that must not sit in memory.

        Arguments as for `request`; pass `redirects=Redirects()` for media served by redirect.
        """
        options = _Options(authenticate, rate_limited, True, retry_on, redirects, not_ready_on)
        opened: httpx.Response | None = None
        exchange = None
        async for attempt in self._retrying():
            with attempt:
                exchange = self._exchange(method, url, options, kwargs)
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

    # -- one exchange: permit, credential, slot, redirects, status check ---------------------------

    @asynccontextmanager
    async def _exchange(self, method: str, url: str, options: _Options,
                        kwargs: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """One exchange, body included, holding one of the tenant's in-flight permits throughout.

        Holding the permit until the body is read or the stream closed means a request takes a
        rate-limit slot only when a connection is free for it. A token request takes no permit
        (it would deadlock behind the requests waiting for its token). A redirect to another
        origin gives the permit back: the vendor's limit counts requests to its API, not to its
        storage host.
        """
        auth = self.auth if options.authenticate else None
        concurrency = self.traffic.concurrency
        held = [False]

        def release() -> None:
            if held[0]:
                held[0] = False
                concurrency.release()

        if options.permit:
            await concurrency.acquire()
            held[0] = True
        connection = _Connection(self.traffic.connections if options.permit else None)
        response: httpx.Response | None = None
        try:
            response, credential = await self._send(method, url, kwargs, auth, options.rate_limited, connection)
            if response.status_code == 401 and auth is not None and auth.renewable and credential is not None:
                await response.aclose()
                await auth.renew(credential, self._channel)
                response, _ = await self._send(method, url, kwargs, auth, options.rate_limited, connection)
            if options.redirects is not None:
                response = await self._follow(response, method, kwargs, options.redirects, release, connection)
            await self._check(response, options.retry_on, options.not_ready_on)
            yield response
        finally:
            if response is not None:
                await response.aclose()
            release()
            connection.release()

    async def _send(self, method: str, url: str, kwargs: dict[str, Any], auth: Auth | None,
                    rate_limited: bool, connection: _Connection) -> tuple[httpx.Response, str | None]:
        """Send once: make the credential ready, wait for a slot, check the credential, take the
        exchange's share of the machine's connections (once), send.

        A token that expired while the request waited for its slot is not sent: the slot is handed
        back unused and the token renewed first. The slot is released (stamped) when the response
        headers arrive (see `SlidingWindowLimiter`).
        """
        limiter = self.traffic.limiter
        for _ in range(_TOKEN_RACES):
            if auth is not None:
                await auth.prepare(self._channel)
            slot = await limiter.acquire() if rate_limited else None
            if auth is not None and not auth.fresh():
                if slot is not None:
                    limiter.cancel(slot)
                continue
            try:
                request, credential = self._build(method, url, kwargs, auth)
                await connection.take()
                if self.traffic.gate is not None:
                    self.traffic.gate()
                if self.traffic.worker is not None:
                    request.headers["X-Collector-Worker"] = self.traffic.worker
                self.traffic.stats.requests += 1
                try:
                    response = await self._client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise _Retryable(request, None, _describe_transport_error(request, exc)) from None
            finally:
                if slot is not None:
                    limiter.release(slot)
            statuses = self.traffic.stats.statuses
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            return response, credential
        raise TenantError(
            f"The vendor's tokens expire before a rate-limit slot frees up (the tenant's window is "
            f"{limiter.window:g} s), so no request could be sent with a valid token; allow more requests "
            "per window or count token requests separately."
        )

    def _build(self, method: str, url: str, kwargs: dict[str, Any],
               auth: Auth | None) -> tuple[httpx.Request, str | None]:
        credential = None
        own = self._own_origin(url)
        if not own:
            _register_signature(httpx.URL(url))  # a URL the vendor handed out may be signed
        if auth is not None and own:
            headers = dict(kwargs.get("headers") or {})
            added: dict[str, Any] = {}
            credential = auth.apply(headers, added)
            kwargs = {**kwargs, "headers": headers}
            if added:
                kwargs["params"] = httpx.QueryParams(kwargs.get("params")).merge(added)
        return self._client.build_request(method, url, **kwargs), credential

    def _own_origin(self, url: str) -> bool:
        return "://" not in url or _origin(httpx.URL(url)) == self._base_origin

    async def _follow(self, response: httpx.Response, method: str, kwargs: dict[str, Any],
                      redirects: Redirects, leave_api: Callable[[], None], connection: _Connection) -> httpx.Response:
        """Follow 3xx answers to the end of the chain (see the module docstring for the rules)."""
        first: tuple[str, str, str | None] | None = None
        for _ in range(redirects.max_hops):
            location = response.headers.get("location")
            if not response.is_redirect or location is None:
                if first is not None:
                    response.extensions[_FIRST_HOP] = first  # see `custody_of`
                return response
            here = response.request
            if first is None:
                first = (here.method, _path(here), _request_id(response.headers))
            target = here.url.join(location)
            await response.aclose()
            if here.url.scheme == "https" and target.scheme != "https":
                raise BadStatus(response.status_code, here.method, _path(here),
                                "it redirected to plain http, which the collector refuses to follow.")
            status = response.status_code
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, hop = "GET", {}
            else:
                hop = {k: v for k, v in kwargs.items() if k not in ("params",)}
            cross = _origin(target) != self._base_origin
            if cross:
                leave_api()
                _register_signature(target)
                dropped = {*_CROSS_ORIGIN_DROPPED, *(name.lower() for name in getattr(self.auth, "header_names", ()))}
                hop["headers"] = {k: v for k, v in dict(kwargs.get("headers") or {}).items()
                                  if k.lower() not in dropped}
            self.traffic.stats.redirects += 1
            response, _ = await self._send(method, str(target), hop, None if cross else self.auth,
                                           redirects.rate_limited or not cross, connection)
            if cross and response.status_code in _EXPIRED_SIGNATURE:
                detail = await _error_detail(response)
                await response.aclose()
                raise _Retryable(response.request, response.status_code,
                                 f"the signed URL it redirected to was refused (HTTP {response.status_code}: "
                                 f"{detail or 'no detail'}); the original URL is asked again")
        if response.is_redirect:
            await response.aclose()
            raise BadStatus(response.status_code, response.request.method, _path(response.request),
                            f"more than {redirects.max_hops} redirects.")
        return response

    async def _check(self, response: httpx.Response, retry_on: Collection[int],
                     not_ready_on: Collection[int] = ()) -> None:
        status = response.status_code
        if 200 <= status < 300 and status not in retry_on:
            return
        detail = await _error_detail(response)
        if status in not_ready_on:
            where = f"{response.request.method} {_path(response.request)}"
            raise ItemNotReady(f"{where} answered HTTP {status} (not ready yet): {detail}" if detail
                               else f"{where} answered HTTP {status} (not ready yet).")
        if retryable_status(status) or status in retry_on:
            if status == 429:
                self.traffic.stats.throttled += 1
                self.traffic.concurrency.throttled()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(response.request, status, detail, retry_after)
        raise BadStatus(status, response.request.method, _path(response.request), detail)

    # -- retry policy -------------------------------------------------------------------------------

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.traffic.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            before_sleep=self._count_retry,
            retry_error_callback=self._give_up,
        )

    def _wait(self, state: RetryCallState) -> float:
        retry = self.traffic.retry
        backoff = backoff_delay(state.attempt_number, retry)
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, _Retryable):
            return backoff
        delay = min(exc.retry_after, retry.max_retry_after) if exc.retry_after else backoff
        if exc.status in (429, 503):
            # The vendor is throttling the tenant: nobody sends until the delay has passed.
            self.traffic.limiter.pause(delay)
            if exc.status == 429:
                self.traffic.limiter.slow_down()
        return delay

    def _count_retry(self, state: RetryCallState) -> None:
        self.traffic.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable):
            status = f"HTTP {exc.status}" if exc.status else "no answer"
            self.traffic.log.info(
                "Retrying %s %s after %s (attempt %d of %d): %s", exc.method, exc.path, status, state.attempt_number,
                self.traffic.retry.attempts, exc.detail,
                extra={"event": "retry", "method": exc.method, "path": exc.path, "status": exc.status,
                       "reason": exc.detail, "attempt": state.attempt_number})

    @staticmethod
    def _give_up(state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable):
            tries = f"gave up after {state.attempt_number} attempts"
            if exc.status is None:
                raise NoAnswer(f"{exc.detail} The collector {tries}.") from None
            detail = f"{exc.detail} ({tries})" if exc.detail else f"({tries})"
            raise BadStatus(exc.status, exc.method, exc.path, detail) from None
        assert state.outcome is not None
        return state.outcome.result()


def _register_signature(url: httpx.URL) -> None:
    """A signed URL's query is a credential: its long values (signatures, key ids) are redacted."""
    if url.query:
        register_secret(url.query.decode("ascii", "replace"))
        for _, value in url.params.multi_items():
            if len(value) >= _SIGNATURE_LENGTH:
                register_secret(value)


async def _read_body(response: httpx.Response) -> bytes:
    """Read a whole body; a connection that breaks mid-body is retried like one that never answered."""
    try:
        return await response.aread()
    except httpx.TransportError as exc:
        raise _Retryable(response.request, None, _describe_transport_error(response.request, exc)) from None


def _path(request: httpx.Request) -> str:
    """The request's path without the query string (which may carry a signature or a key)."""
    return request.url.path or "/"


def _describe_transport_error(request: httpx.Request, exc: httpx.TransportError) -> str:
    kind = type(exc).__name__
    text = str(exc) or "no detail"
    return redact(f"{request.method} {_path(request)} failed before an answer arrived ({kind}: {text}).")


async def _error_detail(response: httpx.Response) -> str:
    """A short, redacted summary of an error body: its `message` field if JSON, else its start."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass  # the detail is a nicety; the status says what happened
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
