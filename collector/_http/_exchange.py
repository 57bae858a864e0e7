"""One exchange with the vendor: permit, credential, rate-limit slots, the send, redirects, and what
the answer means. `HttpClient` (`collector._http._client`) builds its calls (retries, not-ready waits,
renewals of handed-out URLs) on `Exchanges`.

The order inside an exchange is what keeps the promises: a route's own slot first (a call waiting
on its route's limit holds no in-flight permit another route could use), then the tenant's
in-flight permit, then per send: the route's pause checked, the credential made ready, the
tenant's slot, the credential checked again (a token that expired while the request waited is not
sent: the slots go back unused), the machine's connection share, the send. Slots are stamped when
the answer's headers arrive, and the answer's rate-limit headers handed to the limiter they describe.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import httpx

from collector._base._errors import BadStatus, RoutePaused, TenantError
from collector._base._redact import guard_library_logs

from ._answers import describe_transport_error, read_answer, request_path
from ._auth import Auth, TokenChannel
from ._custody import FIRST_HOP, request_id_of
from ._quotas import DEFAULT_ROUTE
from ._redirects import CROSS_ORIGIN_DROPPED, EXPIRED_SIGNATURE, Redirects, origin_of, register_signature
from ._traffic import Connection, Retryable, Traffic
from ._verdicts import CallOptions, judge, read_body

USER_AGENT = "recording-collector"
_TOKEN_RACES = 3
_READ_SIZE = 256 << 10
"""Bytes httpcore reads from a connection at once: what asyncio's transport receives per call."""

guard_library_logs()  # httpx and httpcore log URLs and headers; a signed URL's query never reaches a log


@lru_cache(maxsize=1)
def _read_in_larger_pieces() -> None:
    """Let httpcore read up to 256 KiB at a time from a connection, not 64 KiB.

    asyncio's transport already receives 256 KiB per system call; with httpcore asking for 64 KiB
    at a time, anyio hands each such piece over in four slices, copying the rest every time, and
    every slice passes h11, httpcore, httpx and the pace guard separately. Reading whole pieces
    measured 20-25% less CPU for a 2 GB download (and nothing else changes: a read returns what
    has arrived, it never waits for more; memory is what asyncio buffered anyway). A class
    attribute of httpcore (`READ_NUM_BYTES`): if a version drops it, this does nothing.
    """
    import httpcore

    if getattr(httpcore.AsyncHTTP11Connection, "READ_NUM_BYTES", _READ_SIZE) < _READ_SIZE:
        httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = _READ_SIZE


_HTTPX_KEEPALIVE = 5.0
_MOST_KEEPALIVE = 30.0


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (building one per client costs ~1 MB and milliseconds)."""
    return httpx.create_ssl_context()


def keepalive_for(window: float) -> float:
    """How long an idle connection is kept for its next request: past one rate-limit window.

    A tenant held to its limit sends its next request on a connection about one window after the
    last answer on it (the slot comes free then). httpx drops idle connections after 5 s, so at a
    10 s window (a vendor's documented 3 requests per 10 s) every request opened a new connection
    (a TLS handshake against a real vendor), and the dropped connections were garbage until a full
    collection: at 500 tenants, CPU per request 4.0 -> 3.4 ms and peak memory 250 -> 176 MB with
    the retry loop's change (bench/README.md, phase 3). At most 30 s: a server that closes idle connections sooner is
    noticed before reuse (httpcore checks that the socket is not readable), except when its close
    crosses our request, which the retry loop then covers.
    """
    return min(max(_HTTPX_KEEPALIVE, window + 2.0), _MOST_KEEPALIVE)


class Exchanges:
    """The exchanges of one tenant's client for one base URL (see the module docstring)."""

    _channel: TokenChannel

    def __init__(self, base_url: str, traffic: Traffic, *, auth: Auth | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.traffic = traffic
        self.auth = auth
        _read_in_larger_pieces()
        self._client = httpx.AsyncClient(
            base_url=base_url,
            # One connection more than the permits: a token request (one at a time) never waits.
            limits=httpx.Limits(max_connections=traffic.concurrency.limit + 1,
                                max_keepalive_connections=traffic.concurrency.limit,
                                keepalive_expiry=keepalive_for(traffic.limiter.window)),
            timeout=httpx.Timeout(traffic.timeout, pool=None),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,
            verify=_tls(),
        )
        self._base_origin = origin_of(self._client.base_url)

    @asynccontextmanager
    async def _exchange(self, method: str, url: str, options: CallOptions, kwargs: dict[str, Any], *,
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
            if self.traffic.pauses.paused:
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
                response = await self._follow(response, method, kwargs, options.redirects, release, connection,
                                             options.route)
            success = 200 <= response.status_code < 300
            if not streaming and success:
                await read_body(response)
            if not (success and options.plain):
                await judge(response, options, self.traffic, streaming=streaming, own_origin=self._own_origin)
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
                if traffic.pauses.paused:
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
            paused = bool(traffic.pauses.paused) and self._paused(route)  # a quota met while this one waited
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

    async def _follow(self, response: httpx.Response, method: str, kwargs: dict[str, Any], redirects: Redirects,
                      leave_api: Callable[[], None], connection: Connection,
                      route: str | None = None) -> httpx.Response:
        """Follow 3xx answers to the end of the chain (see `collector._http._redirects` for the rules)."""
        first: tuple[str, str, str | None] | None = None
        base = self._base_origin
        for _ in range(redirects.max_hops):
            location = response.headers.get("location")
            if not response.is_redirect or location is None:
                if first is not None:
                    response.extensions[FIRST_HOP] = first  # see `custody_of`
                return response
            here = response.request
            if first is None:
                first = (here.method, request_path(here), request_id_of(response.headers))
            target = here.url.join(location)
            await response.aclose()
            if here.url.scheme == "https" and target.scheme != "https":
                raise BadStatus(response.status_code, here.method, request_path(here),
                                "it redirected to plain http, which the collector refuses to follow.")
            status = response.status_code
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, hop = "GET", {}
            else:
                hop = {k: v for k, v in kwargs.items() if k not in ("params",)}
            cross = origin_of(target) != base
            if cross:
                leave_api()
                register_signature(target)
                dropped = {*CROSS_ORIGIN_DROPPED, *(name.lower() for name in getattr(self.auth, "header_names", ()))}
                hop["headers"] = {k: v for k, v in dict(kwargs.get("headers") or {}).items()
                                  if k.lower() not in dropped}
            self.traffic.stats.redirects += 1
            response, _ = await self._send(method, str(target), hop, None if cross else self.auth,
                                           redirects.rate_limited or not cross, connection, route)
            if cross and response.status_code in EXPIRED_SIGNATURE:
                answer = (await read_answer(response)).redacted()
                await response.aclose()
                raise Retryable(response.request, response.status_code,
                                f"the signed URL it redirected to was refused (HTTP {response.status_code}: "
                                f"{answer.detail or 'no detail'}); the original URL is asked again")
        if response.is_redirect:
            await response.aclose()
            raise BadStatus(response.status_code, response.request.method, request_path(response.request),
                            f"more than {redirects.max_hops} redirects.")
        return response

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
