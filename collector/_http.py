"""The HTTP client every source uses: one tenant's requests, rate-limited, bounded, retried, authenticated.

What it promises a plugin:
- every request of a tenant, from every client of that tenant, shares the tenant's `Traffic`: one
  rate limiter (retries included; token requests too unless their strategy says otherwise), one
  per route category that has a limit of its own (`route=`), and one concurrency limit
  (`max_in_flight`);
- the credential is put on a request right before it is sent, after any wait for a rate-limit
  slot, so no request leaves with a token that expired while it waited; credentials are only ever
  sent to the client's own origin;
- connection errors, timeouts, 5xx answers (except 501, 505 and 509), unparsable JSON bodies and
  answers a call calls transient (`transient_when=`, an error code mapped to `TransientAnswer`)
  are retried with exponential backoff and jitter (tenacity);
- a 429 is retried after the vendor's `Retry-After` (seconds or an HTTP date; missing, zero or
  garbage falls back to the backoff; always capped), and it pauses and slows the tenant (or the
  route) and lowers its concurrency until calm returns; a 429 asking for longer than
  `RetrySettings.quota_after` is a quota: its route pauses (`RoutePaused`, see `collector._quotas`);
- the vendor's own rate-limit headers (remaining, reset) slow the limiter before the vendor refuses;
- a 401 renews the token once and resends; a second 401 is final;
- "not ready yet" (`not_ready_on=` statuses, 202 included, or `not_ready_when=`) raises
  `ItemNotReady` with the vendor's estimate, after waiting out short estimates within the call:
  never a retry, never an attempt; `unavailable_on=` statuses raise `ItemUnavailable` (final);
- an `ErrorCodes` table maps the vendor's own error codes, in any status, to the taxonomy;
- with `redirects=Redirects(...)`, 3xx answers are followed (see `collector._redirects`);
  `stream_from`/`request_from` fetch a URL the vendor hands out and ask for a fresh one when the
  storage host refuses it as expired;
- anything else that is not a success raises `BadStatus` (a whole sentence, no secrets, with the
  answer's status, headers, redacted body and vendor code), and exhausted retries raise `BadStatus`
  or `NoAnswer`: the job decides, with `classify_request_failure`, what that means for an item.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from pydantic_core import from_json
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._answers import (
    VendorAnswer,
    describe_transport_error,
    estimate_reader,
    read_answer,
    request_path,
    textual,
)
from ._auth import Auth, TokenChannel
from ._custody import REQUEST_ID_HEADERS, Custody, custody_of
from ._error_codes import ErrorCodes, read_code, sentence
from ._errors import (
    BadStatus,
    ItemNotReady,
    ItemUnavailable,
    NoAnswer,
    RoutePaused,
    TenantError,
    TransientAnswer,
)
from ._moments import parse_retry_after, retry_at
from ._quotas import DEFAULT_ROUTE, check_route, next_midnight
from ._ratelimit import RateLimit, SlidingWindowLimiter, read_limit_headers
from ._redact import guard_library_logs
from ._redirects import EXPIRED_SIGNATURE, Redirects, follow, origin_of, register_signature
from ._traffic import Connection, RequestStats, Retryable, RetrySettings, Traffic, backoff_delay, retryable_status

__all__ = ["REQUEST_ID_HEADERS", "Custody", "HttpClient", "JsonAnswer", "RateLimit", "Redirects", "RequestStats",
           "RetrySettings", "SlidingWindowLimiter", "Traffic", "backoff_delay", "custody_of", "parse_retry_after",
           "retryable_status"]

USER_AGENT = "recording-collector"
_TOKEN_RACES = 3

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)
Predicate = Callable[[VendorAnswer], bool]
Estimate = str | Callable[[VendorAnswer], Any] | None

guard_library_logs()  # httpx and httpcore log URLs and headers; a signed URL's query never reaches a log


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


@dataclass(frozen=True, slots=True)
class _Options:
    """What one call asked for (its own arguments over the client's defaults)."""

    authenticate: bool = True
    rate_limited: bool | None = True  # None: only when the URL is on the API's own origin
    permit: bool = True  # take one of the tenant's in-flight permits
    connection: bool = True  # take a share of the machine's connections
    retry_on: Collection[int] = ()
    redirects: Redirects | None = None
    not_ready_on: Collection[int] = ()
    unavailable_on: Collection[int] = ()
    not_ready_when: Predicate | None = None
    transient_when: Predicate | None = None
    estimate: Estimate = None
    errors: ErrorCodes | None = None
    route: str | None = None
    renewable: bool = False  # a refused (expired) URL on another origin raises _Expired

    def looks_into(self, status: int) -> bool:
        """Whether a 2xx answer needs deciding on (a status or predicate of this call names it)."""
        return (self.not_ready_when is not None or self.transient_when is not None or status in self.retry_on
                or status in self.not_ready_on or status in self.unavailable_on)


class _Expired(Exception):
    """A URL the vendor handed out was refused by its host (expired): ask for a fresh one."""

    def __init__(self, answer: VendorAnswer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (building one per client costs ~1 MB and milliseconds)."""
    return httpx.create_ssl_context()


class HttpClient:
    """One tenant's client for one base URL: auth, shared limits, retries and redirects in one place.

    Every call takes the same keyword arguments besides httpx's own (params, json, headers, ...):

    - `authenticate=False` sends no credential; `rate_limited=False` skips the tenant's rate limit
      (a pre-signed storage URL the limit does not cover);
    - `route="downloads"` names the route category of the call: its own rate limit if the tenant
      configures one (`rate_limits`), and what a vendor's quota pauses (`RoutePaused`);
    - `retry_on` adds statuses that mean "try again later"; `transient_when(answer)` says an
      answer (whatever its status, e.g. an HTML page where the vendor means "busy") is retried;
    - `not_ready_on` (statuses, 202 included) and `not_ready_when(answer)` mean "still processing":
      `ItemNotReady` with the vendor's estimate (`estimate=`: a body field's dotted path or a
      callable; by default Retry-After), after waiting out short estimates within the call;
    - `unavailable_on` statuses mean "gone for good": `ItemUnavailable`, never retried;
    - `errors=ErrorCodes(...)` maps the vendor's own error codes to the taxonomy;
    - `redirects=Redirects()` follows 3xx answers without taking credentials to another origin.

    `with_defaults(...)` gives a client whose calls default to a route, an error table,
    predicates or an estimate, so a plugin states them once.
    """

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
        self._base_origin = origin_of(self._client.base_url)
        self._channel = TokenChannel(self, rate_limited=getattr(auth, "share_rate_limit", True))
        self._defaults: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        """The URL every relative request path is joined to."""
        return str(self._client.base_url)

    @property
    def stats(self) -> RequestStats:
        """The tenant's request counters (shared with its other clients)."""
        return self.traffic.stats

    def with_defaults(self, *, route: str | None = None, errors: ErrorCodes | None = None,
                      transient_when: Predicate | None = None, not_ready_when: Predicate | None = None,
                      estimate: Estimate = None) -> HttpClient:
        """A client sharing this one's connections, limits and credentials, whose calls default to
        `route`, `errors`, `transient_when`, `not_ready_when` and `estimate` (a call's own argument
        wins; None keeps this client's default). E.g. `http.with_defaults(route="downloads")`.

        Closing either closes both (the core closes the clients it made).
        """
        given = {"route": route, "errors": errors, "transient_when": transient_when,
                 "not_ready_when": not_ready_when, "estimate": estimate}
        if route is not None:
            check_route(route)
        clone = copy.copy(self)
        clone._defaults = {**self._defaults, **{k: v for k, v in given.items() if v is not None}}
        return clone

    # -- the calls ------------------------------------------------------------------------------

    async def request(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                      retry_on: Collection[int] = (), redirects: Redirects | None = None,
                      not_ready_on: Collection[int] = (), unavailable_on: Collection[int] = (),
                      not_ready_when: Predicate | None = None, transient_when: Predicate | None = None,
                      estimate: Estimate = None, errors: ErrorCodes | None = None, route: str | None = None,
                      **kwargs: Any) -> httpx.Response:
        """Send a request and read its body; retry what is transient; raise on any other error.

        `url` is relative to the base URL, or absolute (a URL the vendor handed out: it is sent
        without credentials unless it is on the API's own origin). The keyword arguments are the
        class docstring's; the rest go to httpx (params, json, headers, ...).
        """
        options = self._options(authenticate, rate_limited, kwargs.pop("_permit", True), retry_on, redirects,
                                not_ready_on, unavailable_on, not_ready_when, transient_when, estimate, errors,
                                route)
        return await self._request(method, url, options, kwargs)

    async def json(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                   retry_on: Collection[int] = (), empty_ok: Collection[int] = (), redirects: Redirects | None = None,
                   not_ready_on: Collection[int] = (), unavailable_on: Collection[int] = (),
                   not_ready_when: Predicate | None = None, transient_when: Predicate | None = None,
                   estimate: Estimate = None, errors: ErrorCodes | None = None, route: str | None = None,
                   **kwargs: Any) -> Any:
        """Send a request and return its JSON body; a body that is not JSON is retried like a 5xx.

        `empty_ok` lists statuses whose empty body is an answer, not a fault (e.g. 204 "not ready
        yet"): for those, None is returned. Other arguments as for `request`.
        """
        answer = await self.json_answer(method, url, authenticate=authenticate, rate_limited=rate_limited,
                                        retry_on=retry_on, empty_ok=empty_ok, redirects=redirects,
                                        not_ready_on=not_ready_on, unavailable_on=unavailable_on,
                                        not_ready_when=not_ready_when, transient_when=transient_when,
                                        estimate=estimate, errors=errors, route=route, **kwargs)
        return answer.body

    async def json_answer(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                          retry_on: Collection[int] = (), empty_ok: Collection[int] = (),
                          redirects: Redirects | None = None, not_ready_on: Collection[int] = (),
                          unavailable_on: Collection[int] = (), not_ready_when: Predicate | None = None,
                          transient_when: Predicate | None = None, estimate: Estimate = None,
                          errors: ErrorCodes | None = None, route: str | None = None,
                          **kwargs: Any) -> JsonAnswer:
        """As `json`, with the answer's status, headers, `Link` relations and URL too (for paging)."""
        options = self._options(authenticate, rate_limited, kwargs.pop("_permit", True), retry_on, redirects,
                                not_ready_on, unavailable_on, not_ready_when, transient_when, estimate, errors,
                                route)

        async def once() -> JsonAnswer:
            async with self._exchange(method, url, options, kwargs, streaming=False) as response:
                body = response.content
                parsed: Any = None
                if not (response.status_code in empty_ok and not body.strip()):
                    try:
                        parsed = from_json(body)
                    except ValueError:
                        raise Retryable(response.request, None, f"{method} {request_path(response.request)} "
                                         f"answered with a body that is not valid JSON ({len(body)} bytes).",
                                         route=options.route) from None
                return JsonAnswer(parsed, response.status_code, response.headers, response.links,
                                  response.request.url)

        return await self._until_ready(lambda: self._retried(once))

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                     retry_on: Collection[int] = (), redirects: Redirects | None = None,
                     not_ready_on: Collection[int] = (), unavailable_on: Collection[int] = (),
                     not_ready_when: Predicate | None = None, transient_when: Predicate | None = None,
                     estimate: Estimate = None, errors: ErrorCodes | None = None, route: str | None = None,
                     **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Open a streaming response (status already checked) for downloads that must not sit in memory.

        Arguments as for `request`; pass `redirects=Redirects()` for media served by redirect. A
        `transient_when` or `not_ready_when` predicate sees the body of a success only when it is
        text (JSON, HTML, ...), never media.
        """
        options = self._options(authenticate, rate_limited, True, retry_on, redirects, not_ready_on, unavailable_on,
                                not_ready_when, transient_when, estimate, errors, route)
        async with self._streaming(method, url, options, kwargs) as response:
            yield response

    @asynccontextmanager
    async def stream_from(self, fetch_url: Callable[[], Awaitable[str]], *, method: str = "GET",
                          renewals: int = 3, rate_limited: bool | None = None, retry_on: Collection[int] = (),
                          redirects: Redirects | None = None, not_ready_on: Collection[int] = (),
                          unavailable_on: Collection[int] = (), not_ready_when: Predicate | None = None,
                          transient_when: Predicate | None = None, estimate: Estimate = None,
                          errors: ErrorCodes | None = None, route: str | None = None,
                          **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Stream a short-lived URL the vendor hands out (in JSON, not by a redirect), renewing it.

        `fetch_url()` asks the vendor for a fresh URL (e.g. `lambda: api.download_url(id)`); the
        URL is streamed without credentials unless it is on the API's own origin, and its query is
        kept out of every log and message (it is the credential). When its host refuses it as
        expired (400, 401, 403 or 410 from another origin), `fetch_url()` is asked again, at most
        `renewals` times (each counted as a retry). `rate_limited=None` spends the tenant's rate
        limit only on a URL on the API's own origin. Other arguments as for `stream`.
        """
        options = self._options(True, rate_limited, None, retry_on, redirects, not_ready_on, unavailable_on,
                                not_ready_when, transient_when, estimate, errors, route, renewable=True)
        for renewal in range(renewals + 1):
            url = await fetch_url()
            register_signature(httpx.URL(url))
            opening = self._streaming(method, url, self._for_url(options, url), kwargs)
            try:
                response = await opening.__aenter__()
            except _Expired as expired:
                self._count_renewal(expired.answer, renewal, renewals)
                continue
            break
        try:
            yield response
        except BaseException as exc:
            await opening.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            await opening.__aexit__(None, None, None)

    async def request_from(self, fetch_url: Callable[[], Awaitable[str]], *, method: str = "GET",
                           renewals: int = 3, rate_limited: bool | None = None, retry_on: Collection[int] = (),
                           redirects: Redirects | None = None, not_ready_on: Collection[int] = (),
                           unavailable_on: Collection[int] = (), not_ready_when: Predicate | None = None,
                           transient_when: Predicate | None = None, estimate: Estimate = None,
                           errors: ErrorCodes | None = None, route: str | None = None,
                           **kwargs: Any) -> httpx.Response:
        """As `stream_from`, reading the whole body (a short-lived URL of a JSON document, say)."""
        options = self._options(True, rate_limited, None, retry_on, redirects, not_ready_on, unavailable_on,
                                not_ready_when, transient_when, estimate, errors, route, renewable=True)
        for renewal in range(renewals + 1):
            url = await fetch_url()
            register_signature(httpx.URL(url))
            try:
                return await self._request(method, url, self._for_url(options, url), kwargs)
            except _Expired as expired:
                self._count_renewal(expired.answer, renewal, renewals)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    # -- how a call runs: not-ready waits around retries around one exchange ----------------------

    def _options(self, authenticate: bool, rate_limited: bool | None, permit: bool | None,
                 retry_on: Collection[int], redirects: Redirects | None, not_ready_on: Collection[int],
                 unavailable_on: Collection[int], not_ready_when: Predicate | None,
                 transient_when: Predicate | None, estimate: Estimate, errors: ErrorCodes | None,
                 route: str | None, *, renewable: bool = False) -> _Options:
        defaults = self._defaults
        if defaults:
            route = route if route is not None else defaults.get("route")
            errors = errors if errors is not None else defaults.get("errors")
            transient_when = transient_when if transient_when is not None else defaults.get("transient_when")
            not_ready_when = not_ready_when if not_ready_when is not None else defaults.get("not_ready_when")
            estimate = estimate if estimate is not None else defaults.get("estimate")
        elif route is not None:
            check_route(route)
        # permit None: decided per URL (a URL on another origin takes no permit of the API's)
        return _Options(authenticate, rate_limited, permit is not False, permit is not False, retry_on, redirects,
                        not_ready_on, unavailable_on, not_ready_when, transient_when, estimate, errors, route,
                        renewable)

    def _for_url(self, options: _Options, url: str) -> _Options:
        """A handed-out URL on another origin takes no in-flight permit of the API's."""
        return options if self._own_origin(url) else dataclasses.replace(options, permit=False)

    async def _request(self, method: str, url: str, options: _Options, kwargs: dict[str, Any]) -> httpx.Response:
        async def once() -> httpx.Response:
            async with self._exchange(method, url, options, kwargs, streaming=False) as response:
                return response

        return await self._until_ready(lambda: self._retried(once))

    @asynccontextmanager
    async def _streaming(self, method: str, url: str, options: _Options,
                         kwargs: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        opened: list[tuple[AbstractAsyncContextManager[httpx.Response], httpx.Response]] = []

        async def once() -> None:
            exchange = self._exchange(method, url, options, kwargs, streaming=True)
            opened.append((exchange, await exchange.__aenter__()))

        await self._until_ready(lambda: self._retried(once))
        exchange, response = opened[-1]
        try:
            yield response
        except BaseException as exc:
            await exchange.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            await exchange.__aexit__(None, None, None)

    def _count_renewal(self, answer: VendorAnswer, renewal: int, renewals: int) -> None:
        if renewal == renewals:
            raise BadStatus(answer.status, answer.method, answer.path,
                            f"{answer.detail or 'no detail'} (the URL was still refused after {renewals} renewals)",
                            answer=answer)
        self.traffic.stats.retries += 1
        self.traffic.log.info("Asking for a fresh URL: %s %s was refused as expired (HTTP %d)", answer.method,
                              answer.path, answer.status,
                              extra={"event": "retry", "method": answer.method, "path": answer.path,
                                     "status": answer.status, "reason": "expired URL"})

    async def _until_ready(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`; while it raises `ItemNotReady` with an estimate that still fits the call's
        `ready_wait`, wait for it and run it again (no attempt, no retry counted)."""
        waited = 0.0
        while True:
            try:
                return await call()
            except ItemNotReady as exc:
                delay = exc.retry_after
                if delay is None or waited + delay > self.traffic.retry.ready_wait:
                    raise
                waited += delay
                await asyncio.sleep(delay)

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in self._retrying():
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one exchange: permit, credential, slot, redirects, what the answer means ------------------

    @asynccontextmanager
    async def _exchange(self, method: str, url: str, options: _Options, kwargs: dict[str, Any], *,
                        streaming: bool) -> AsyncIterator[httpx.Response]:
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

        rate_limited = options.rate_limited if options.rate_limited is not None else self._own_origin(url)
        routed = self.traffic.routes.get(options.route) if options.route is not None and self.traffic.routes else None
        route_slot = None
        if routed is not None and rate_limited:
            # The route's own slot first: a call waiting on its route's limit holds no permit that
            # a call of another route could use.
            if self.traffic.pauses:
                self._check_pause(options.route)
            route_slot = await routed.acquire()
        if options.permit:
            try:
                await concurrency.acquire()
            except BaseException:
                if route_slot is not None and routed is not None:
                    routed.cancel(route_slot)
                raise
            held[0] = True
        connection = Connection(self.traffic.connections if options.connection else None)
        response: httpx.Response | None = None
        try:
            response, credential = await self._send(method, url, kwargs, auth, rate_limited, connection,
                                                    options.route, route_slot)
            if response.status_code == 401 and auth is not None and auth.renewable and credential is not None:
                await response.aclose()
                await auth.renew(credential, self._channel)
                response, _ = await self._send(method, url, kwargs, auth, rate_limited, connection, options.route)
            if options.redirects is not None:
                response = await follow(self, response, method, kwargs, options.redirects, release, connection,
                                        options.route)
            if not streaming and 200 <= response.status_code < 300:
                await _read_body(response)
            await self._judge(response, options, streaming)
            yield response
        finally:
            if response is not None:
                await response.aclose()
            release()
            connection.release()

    async def _send(self, method: str, url: str, kwargs: dict[str, Any], auth: Auth | None,
                    rate_limited: bool, connection: Connection, route: str | None = None,
                    route_slot: int | None = None) -> tuple[httpx.Response, str | None]:
        """Send once: make the credential ready, wait for a slot (the route's, then the tenant's),
        check the credential and the route's pause, take the exchange's share of the machine's
        connections (once), send.

        A token that expired while the request waited for its slot is not sent: the slots are
        handed back unused and the token renewed first. The slots are released (stamped) when the
        response headers arrive (see `SlidingWindowLimiter`), and the answer's rate-limit headers
        handed to the limiter they describe (the route's if it has one). `route_slot` is a slot of
        the route's limiter the exchange already took (used by the first try).
        """
        traffic = self.traffic
        limiter = traffic.limiter
        routed = traffic.routes.get(route) if route is not None and traffic.routes else None
        given = route_slot
        for _ in range(_TOKEN_RACES):
            route_slot, given = given, None
            try:
                if traffic.pauses:
                    self._check_pause(route)
                if auth is not None:
                    await auth.prepare(self._channel)
                if route_slot is None and routed is not None and rate_limited:
                    route_slot = await routed.acquire()
                slot = await limiter.acquire() if rate_limited else None
            except BaseException:
                if route_slot is not None and routed is not None:
                    routed.cancel(route_slot)
                raise
            stale = auth is not None and not auth.fresh()
            paused = bool(traffic.pauses) and self._paused(route)  # a quota met while this one waited
            if stale or paused:
                if slot is not None:
                    limiter.cancel(slot)
                if route_slot is not None and routed is not None:
                    routed.cancel(route_slot)
                if paused:
                    self._check_pause(route)
                continue
            try:
                request, credential = self._build(method, url, kwargs, auth)
                await connection.take()
                if traffic.gate is not None:
                    traffic.gate()
                if traffic.worker is not None:
                    request.headers["X-Collector-Worker"] = traffic.worker
                traffic.stats.requests += 1
                try:
                    response = await self._client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise Retryable(request, None, describe_transport_error(request, exc), route=route) from None
            finally:
                if slot is not None:
                    limiter.release(slot)
                if route_slot is not None and routed is not None:
                    routed.release(route_slot)
            if rate_limited:
                (routed or limiter).observe(response.headers.raw)
            statuses = traffic.stats.statuses
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            return response, credential
        raise TenantError(
            f"The vendor's tokens expire before a rate-limit slot frees up (the tenant's window is "
            f"{limiter.window:g} s), so no request could be sent with a valid token; allow more requests "
            "per window or count token requests separately."
        )

    def _paused(self, route: str | None) -> bool:
        try:
            self.traffic.pauses.check(route or DEFAULT_ROUTE)
        except RoutePaused:
            return True
        return False

    def _check_pause(self, route: str | None) -> None:
        try:
            self.traffic.pauses.check(route or DEFAULT_ROUTE)
        except RoutePaused:
            self.traffic.stats.paused += 1
            raise

    def _build(self, method: str, url: str, kwargs: dict[str, Any],
               auth: Auth | None) -> tuple[httpx.Request, str | None]:
        credential = None
        own = self._own_origin(url)
        if not own:
            register_signature(httpx.URL(url))  # a URL the vendor handed out may be signed
        if auth is not None and own:
            headers = dict(kwargs.get("headers") or {})
            added: dict[str, Any] = {}
            credential = auth.apply(headers, added)
            kwargs = {**kwargs, "headers": headers}
            if added:
                kwargs["params"] = httpx.QueryParams(kwargs.get("params")).merge(added)
        return self._client.build_request(method, url, **kwargs), credential

    def _own_origin(self, url: str) -> bool:
        return "://" not in url or origin_of(httpx.URL(url)) == self._base_origin

    async def _judge(self, response: httpx.Response, options: _Options, streaming: bool) -> None:
        """Decide what an answer means; return only for a success the call takes as it is.

        In order: the call's not-ready statuses and predicate, its unavailable statuses, its
        transient predicate, a URL refused as expired (`stream_from`), the error table's code (not
        for a success), then the status: a success returns, a long 429 pauses the route, what is
        retryable is retried, anything else is `BadStatus`.
        """
        status = response.status_code
        success = 200 <= status < 300
        if success and not options.looks_into(status):
            return
        body = not (success and streaming and not textual(response.headers.get("content-type", "").lower()))
        if body and success and streaming:
            await _read_body(response)  # a text answer the call looks into: small, and still streamable
        answer = await read_answer(response, body=body)
        if not success:
            answer = answer.with_code(read_code(answer, options.errors))
        if status in options.not_ready_on or (options.not_ready_when is not None and options.not_ready_when(answer)):
            raise self._not_ready(answer, options, ItemNotReady)
        if status in options.unavailable_on:
            raise _with_answer(ItemUnavailable(sentence(answer.redacted(), "gone for good")), answer)
        if options.transient_when is not None and options.transient_when(answer):
            raise Retryable(response.request, status, _transient_detail(answer), route=options.route, transient=True)
        if options.renewable and status in EXPIRED_SIGNATURE and not self._own_origin(str(response.request.url)):
            raise _Expired(answer.redacted())
        meaning = options.errors.meaning(answer.code) if options.errors is not None and not success else None
        if meaning is not None:
            raise await self._mapped(meaning, answer, options, response.request)
        if success and status not in options.retry_on:
            return
        if status == 429:
            until = _quota_end(answer)
            wait = (until - datetime.now(timezone.utc)).total_seconds() if until is not None else 0.0
            if until is not None and wait > self.traffic.retry.quota_after:
                raise await self._pause(RoutePaused, answer, options, until)
            self.traffic.stats.throttled += 1
            self.traffic.concurrency.throttled()
        if retryable_status(status) or status in options.retry_on:
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            if retry_after is None and status == 429:
                retry_after = _reset_wait(response.headers)
            raise Retryable(response.request, status, answer.redacted().detail, retry_after, options.route)
        raise BadStatus(status, answer.method, answer.path, answer.redacted().detail, answer=answer.redacted())

    def _not_ready(self, answer: VendorAnswer, options: _Options, cls: type[ItemNotReady]) -> ItemNotReady:
        """The not-ready error for an answer, with the vendor's estimate (never a retry, never a fault)."""
        self.traffic.stats.not_ready += 1
        estimate = estimate_reader(options.estimate)(answer)
        shown = answer.redacted()
        what = "not ready yet" + (f", ready in about {estimate:.0f} s" if estimate else "")
        self.traffic.log.debug("%s %s answered HTTP %d: not ready yet", answer.method, answer.path, answer.status)
        return _with_answer(cls(sentence(shown, what), estimate), shown)

    async def _mapped(self, meaning: type[BaseException], answer: VendorAnswer, options: _Options,
                      request: httpx.Request) -> BaseException:
        """The error an `ErrorCodes` table maps the answer's code to (see `collector._error_codes`)."""
        shown = answer.redacted()
        if issubclass(meaning, TransientAnswer):
            return Retryable(request, answer.status, _transient_detail(shown),
                              parse_retry_after(answer.headers.get("retry-after")), options.route, transient=True)
        if issubclass(meaning, BadStatus):
            return meaning(answer.status, answer.method, answer.path, shown.detail, answer=shown)
        if issubclass(meaning, ItemNotReady):
            return self._not_ready(answer, options, meaning)
        if issubclass(meaning, RoutePaused):
            return await self._pause(meaning, answer, options, _quota_end(answer) or next_midnight())
        error = meaning(sentence(shown))
        return _with_answer(error, shown)

    async def _pause(self, cls: type[RoutePaused], answer: VendorAnswer, options: _Options,
                     until: datetime) -> RoutePaused:
        """Pause the call's route until the vendor's quota resets (recorded for later runs)."""
        shown = answer.redacted()
        reason = f"HTTP {answer.status}" + (f" (vendor code {shown.code})" if shown.code else "") + (
            f": {shown.detail}" if shown.detail else ".")
        paused = await self.traffic.pauses.pause(options.route or DEFAULT_ROUTE, until, reason)
        self.traffic.stats.paused += 1
        self.traffic.log.warning("%s", paused.reason, extra={"event": "route_paused", "route": paused.route})
        error = paused if cls is RoutePaused else cls(paused.reason, paused.route, paused.until)
        return _with_answer(error, shown)

    # -- retry policy -------------------------------------------------------------------------------

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.traffic.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, Retryable)),
            before_sleep=self._count_retry,
            retry_error_callback=self._give_up,
        )

    def _wait(self, state: RetryCallState) -> float:
        retry = self.traffic.retry
        backoff = backoff_delay(state.attempt_number, retry)
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, Retryable):
            return backoff
        delay = min(exc.retry_after, retry.max_retry_after) if exc.retry_after else backoff
        if exc.status in (429, 503):
            # The vendor is throttling the tenant (or the route): nobody sends until the delay has passed.
            limiter = self.traffic.routes.get(exc.route) if exc.route is not None else None
            limiter = limiter or self.traffic.limiter
            limiter.pause(delay)
            if exc.status == 429:
                limiter.slow_down()
        return delay

    def _count_retry(self, state: RetryCallState) -> None:
        self.traffic.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable):
            status = f"HTTP {exc.status}" if exc.status else "no answer"
            self.traffic.log.info(
                "Retrying %s %s after %s (attempt %d of %d): %s", exc.method, exc.path, status, state.attempt_number,
                self.traffic.retry.attempts, exc.detail,
                extra={"event": "retry", "method": exc.method, "path": exc.path, "status": exc.status,
                       "reason": exc.detail, "attempt": state.attempt_number})

    @staticmethod
    def _give_up(state: RetryCallState) -> Any:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable):
            tries = f"gave up after {state.attempt_number} attempts"
            if exc.status is None or exc.transient:
                raise NoAnswer(f"{exc.detail} The collector {tries}.") from None
            detail = f"{exc.detail} ({tries})" if exc.detail else f"({tries})"
            raise BadStatus(exc.status, exc.method, exc.path, detail) from None
        assert state.outcome is not None
        return state.outcome.result()


def _with_answer(error: E, answer: VendorAnswer) -> E:
    """`error` with the (redacted) answer it was raised for."""
    try:
        error.answer = answer  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a plugin's class with __slots__
        pass
    return error



def _whole_second(moment: datetime) -> datetime:
    """`moment` rounded up to a whole second (vendors' resets are whole seconds: an HTTP date, a delay)."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def _transient_detail(answer: VendorAnswer) -> str:
    kind = f" ({answer.content_type})" if answer.content_type else ""
    detail = answer.redacted().detail
    return (f"{answer.method} {answer.path} answered HTTP {answer.status}{kind}, which means \"try again\""
            + (f": {detail}" if detail else "."))


def _reset_wait(headers: httpx.Headers) -> float | None:
    """Seconds until the vendor's rate-limit window resets, when its headers say nothing remains."""
    found = read_limit_headers(headers.raw)
    return found[1] if found is not None and found[0] == 0 else None


def _quota_end(answer: VendorAnswer) -> datetime | None:
    """When a refusal says the vendor's limit resets: its Retry-After (an HTTP date as it is), else
    its rate-limit reset when nothing remains; None when it says neither."""
    until = retry_at(answer.headers.get("retry-after"))
    if until is None:
        found = read_limit_headers((name.encode("latin-1"), value.encode("latin-1"))
                                   for name, value in answer.headers.items())
        if found is not None and found[0] == 0 and found[1] is not None:
            until = datetime.now(timezone.utc) + timedelta(seconds=found[1])
    return _whole_second(until) if until is not None else None


async def _read_body(response: httpx.Response) -> bytes:
    """Read a whole body; a connection that breaks mid-body is retried like one that never answered."""
    try:
        return await response.aread()
    except httpx.TransportError as exc:
        raise Retryable(response.request, None, describe_transport_error(response.request, exc)) from None

