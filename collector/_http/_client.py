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
  are retried with exponential backoff and jitter;
- a 429 is retried after the vendor's `Retry-After` (seconds or an HTTP date; missing, zero or
  garbage falls back to the backoff; always capped), and it pauses and slows the tenant (or the
  route) and lowers its concurrency until calm returns; a 429 asking for longer than
  `RetrySettings.quota_after` is a quota: its route pauses (`RoutePaused`, see `collector._http._quotas`);
- the vendor's own rate-limit headers (remaining, reset) slow the limiter before the vendor refuses;
- a 401 renews the token once and resends; a second 401 is final;
- "not ready yet" (`not_ready_on=` statuses, 202 included, or `not_ready_when=`) raises
  `ItemNotReady` with the vendor's estimate, after waiting out short estimates within the call:
  never a retry, never an attempt; `unavailable_on=` statuses raise `ItemUnavailable` (final);
- an `ErrorCodes` table maps the vendor's own error codes, in any status, to the taxonomy;
- with `redirects=Redirects(...)`, 3xx answers are followed (see `collector._http._redirects`);
  `stream_from`/`request_from` fetch a URL the vendor hands out and ask for a fresh one when the
  storage host refuses it as expired;
- anything else that is not a success raises `BadStatus` (a whole sentence, no secrets, with the
  answer's status, headers, redacted body and vendor code), and exhausted retries raise `BadStatus`
  or `NoAnswer`: the job decides, with `classify_request_failure`, what that means for an item.

Here: the calls and how each runs (not-ready waits around retries around one exchange). One
exchange (permit, credential, slots, send, redirects) is `collector._http._exchange`; what an answer
means, `collector._http._verdicts`; the tenant's shared budget and the retry policy, `collector._http._traffic`.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import httpx
from pydantic_core import from_json

from collector._base._errors import BadStatus, ItemNotReady
from collector._base._vendor_answer import VendorAnswer

from ._answers import JsonAnswer, request_path
from ._auth import Auth, TokenChannel
from ._custody import REQUEST_ID_HEADERS, Custody, custody_of
from ._error_codes import ErrorCodes
from ._exchange import Exchanges
from ._moments import parse_retry_after
from ._quotas import check_route
from ._ratelimit import RateLimit, SlidingWindowLimiter
from ._redirects import Redirects, register_signature
from ._traffic import (
    RequestStats,
    Retryable,
    RetrySettings,
    Traffic,
    backoff_delay,
    retryable_status,
    with_retries,
)
from ._verdicts import CallOptions, Estimate, Predicate, URLExpired

__all__ = ["REQUEST_ID_HEADERS", "Custody", "HttpClient", "JsonAnswer", "RateLimit", "Redirects", "RequestStats",
           "RetrySettings", "SlidingWindowLimiter", "Traffic", "backoff_delay", "custody_of", "parse_retry_after",
           "retryable_status"]

T = TypeVar("T")


class HttpClient(Exchanges):
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
        super().__init__(base_url, traffic, auth=auth, headers=headers)
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
        options = self._options(authenticate, rate_limited, kwargs.pop("_permit", True), retry_on, redirects,
                                not_ready_on, unavailable_on, not_ready_when, transient_when, estimate, errors,
                                route)
        return (await self._json(method, url, options, empty_ok, kwargs)).body

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
        return await self._json(method, url, options, empty_ok, kwargs)

    async def _json(self, method: str, url: str, options: CallOptions, empty_ok: Collection[int],
                    kwargs: dict[str, Any]) -> JsonAnswer:
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

        return await self._run(once)

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
            except URLExpired as expired:
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
            except URLExpired as expired:
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
                 route: str | None, *, renewable: bool = False) -> CallOptions:
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
        reads_successes = errors is not None and errors.in_successes
        plain = not_ready_when is None and transient_when is None and not reads_successes and (
            not (retry_on or not_ready_on or unavailable_on)
            or not any(200 <= status < 300 for statuses in (retry_on, not_ready_on, unavailable_on)
                       for status in statuses))
        return CallOptions(authenticate, rate_limited, permit is not False, permit is not False, retry_on, redirects,
                           not_ready_on, unavailable_on, not_ready_when, transient_when, estimate, errors, route,
                           renewable, plain)

    def _for_url(self, options: CallOptions, url: str) -> CallOptions:
        """A handed-out URL on another origin takes no in-flight permit of the API's."""
        return options if self._own_origin(url) else dataclasses.replace(options, permit=False)

    async def _request(self, method: str, url: str, options: CallOptions, kwargs: dict[str, Any]) -> httpx.Response:
        async def once() -> httpx.Response:
            async with self._exchange(method, url, options, kwargs, streaming=False) as response:
                return response

        return await self._run(once)

    @asynccontextmanager
    async def _streaming(self, method: str, url: str, options: CallOptions,
                         kwargs: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        opened: list[tuple[AbstractAsyncContextManager[httpx.Response], httpx.Response]] = []

        async def once() -> None:
            exchange = self._exchange(method, url, options, kwargs, streaming=True)
            opened.append((exchange, await exchange.__aenter__()))

        await self._run(once)
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

    async def _run(self, once: Callable[[], Awaitable[T]]) -> T:
        """Run one exchange (`once`) with the tenant's retries; while it raises `ItemNotReady` with an
        estimate that still fits the call's `ready_wait`, wait for it and run it again (no attempt,
        no retry counted)."""
        waited = 0.0
        while True:
            try:
                return await with_retries(self.traffic, once)
            except ItemNotReady as exc:
                delay = exc.retry_after
                if delay is None or waited + delay > self.traffic.retry.ready_wait:
                    raise
                waited += delay
                await asyncio.sleep(delay)
