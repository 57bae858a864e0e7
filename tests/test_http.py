"""The HTTP layer over real HTTP: retries, Retry-After, 401 renewal, the rate limiter, redaction."""

from __future__ import annotations

import asyncio
import gc
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from collector import (
    Auth,
    BadStatus,
    HttpClient,
    NoAnswer,
    RateLimit,
    RetrySettings,
    Token,
    TokenAuth,
    TokenChannel,
    Traffic,
    parse_retry_after,
)
from collector._base._redact import register_secret
from collector._http._exchange import keepalive_for
from collector._http._traffic import Retryable, with_retries
from collector.emulator import EmulatorError, EmulatorServer, Request, Response

FAST = RetrySettings(attempts=4, initial_wait=0.01, max_wait=0.05)


class Echo(EmulatorServer):
    """Answers {"ok": n}; requires the current token when `token` is set."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.token: str | None = None
        self.served = itertools.count()
        self.add_route("GET", "/echo", "metadata", self.echo)
        self.add_route("GET", "/leak", "metadata", self.leak)
        self.add_route("GET", "/later", "metadata", lambda request: Response(204, b""))

    def echo(self, request: Request) -> Response:
        if self.token is not None and request.bearer != self.token:
            raise EmulatorError(401, "Token expired.")
        return Response.json({"ok": next(self.served)})

    def leak(self, request: Request) -> Response:
        raise EmulatorError(400, f"Bad request from a client holding {request.bearer}")


@pytest.fixture
def echo() -> Iterator[Echo]:
    with Echo() as server:
        yield server


def client(server: EmulatorServer, *, limit: RateLimit = RateLimit(requests=1000, per_seconds=1),
           auth: Auth | None = None, retry: RetrySettings = FAST, max_in_flight: int = 4) -> HttpClient:
    return HttpClient(server.url, Traffic(limit, retry=retry, max_in_flight=max_in_flight, timeout=5), auth=auth)


async def fetch(http: HttpClient, path: str = "/echo", times: int = 1) -> list[object]:
    try:
        return list(await asyncio.gather(*(http.json("GET", path) for _ in range(times))))
    finally:
        await http.aclose()


@pytest.mark.parametrize("fault", ["500", "503", "drop", "drop_body", "malformed_json"])
def test_transient_faults_are_retried(echo: Echo, fault: str) -> None:
    echo.faults.inject(fault, count=2)
    http = client(echo)
    (answer,) = asyncio.run(fetch(http))
    assert isinstance(answer, dict) and "ok" in answer
    assert http.stats.retries == 2


def test_retries_give_up_with_a_sentence(echo: Echo) -> None:
    echo.faults.inject("503", count=10)
    with pytest.raises(BadStatus) as raised:
        asyncio.run(fetch(client(echo)))
    assert raised.value.status == 503
    assert str(raised.value) == "GET /echo answered HTTP 503: Injected server error. (gave up after 4 attempts)"


def test_dropped_connections_give_up_as_transport_errors(echo: Echo) -> None:
    echo.faults.inject("drop", count=10)
    with pytest.raises(NoAnswer, match=r"failed before an answer arrived .* gave up after 4 attempts"):
        asyncio.run(fetch(client(echo)))


def test_client_errors_are_not_retried(echo: Echo) -> None:
    with pytest.raises(BadStatus) as raised:
        asyncio.run(fetch(client(echo), "/nowhere"))
    assert raised.value.status == 404 and echo.count() == 1


def gap_after_429(server: EmulatorServer) -> float:
    times = [r.at for r in server.log]
    statuses = [r.status for r in server.log]
    index = statuses.index(429)
    return times[index + 1] - times[index]


@pytest.mark.parametrize("style", ["1", "date"])
def test_retry_after_is_honoured(echo: Echo, style: str) -> None:
    echo.faults.retry_after = style
    echo.faults.inject("429")
    asyncio.run(fetch(client(echo)))
    assert gap_after_429(echo) >= (0.95 if style == "1" else 0.0)  # an HTTP date has 1 s resolution


@pytest.mark.parametrize("style", [None, "garbage", "0"])
def test_unusable_retry_after_falls_back_to_backoff(echo: Echo, style: str | None) -> None:
    echo.faults.retry_after = style
    echo.faults.inject("429")
    http = client(echo)
    asyncio.run(fetch(http))
    assert http.stats.throttled == 1 and gap_after_429(echo) < 0.5


def test_retry_after_is_capped(echo: Echo) -> None:
    echo.faults.retry_after = "1"
    echo.faults.inject("429")
    asyncio.run(fetch(client(echo, retry=RetrySettings(attempts=3, initial_wait=0.01, max_retry_after=0.05))))
    assert gap_after_429(echo) < 0.5


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    for useless in (None, "", "0", "-3", "soon", "Mon, 32 Foo 2026", "nan", "inf",
                    format_datetime(now - timedelta(seconds=30), usegmt=True)):
        assert parse_retry_after(useless, now=now) is None, useless


class CountingAuth(TokenAuth):
    """Hands out token-1, token-2, ... and tells the server which one is current."""

    def __init__(self, server: Echo, lifetime: float | None = None) -> None:
        super().__init__()
        self.server = server
        self.lifetime = lifetime
        self.fetched = 0

    async def fetch_token(self, channel: TokenChannel) -> Token:
        self.fetched += 1
        await asyncio.sleep(0.02)  # a real token round trip: concurrent requests must wait for it
        token = f"token-number-{self.fetched}"
        self.server.token = token
        expires = None if self.lifetime is None else datetime.now(UTC).timestamp() + self.lifetime
        return Token(token, expires)


def test_a_401_renews_the_token_once_for_all_concurrent_requests(echo: Echo) -> None:
    auth = CountingAuth(echo)
    http = client(echo, auth=auth, max_in_flight=8)

    async def scenario() -> None:
        await http.json("GET", "/echo")
        echo.token = "rotated-by-the-vendor"  # every request now answers 401 until we renew
        await asyncio.gather(*(http.json("GET", "/echo") for _ in range(8)))
        await http.aclose()

    asyncio.run(scenario())
    assert auth.fetched == 2


def test_a_second_401_is_final(echo: Echo) -> None:
    class NeverValid(CountingAuth):
        async def fetch_token(self, channel: TokenChannel) -> Token:
            self.fetched += 1
            return Token(f"useless-{self.fetched}")

    auth = NeverValid(echo)
    echo.token = "something else"
    with pytest.raises(BadStatus) as raised:
        asyncio.run(fetch(client(echo, auth=auth)))
    assert raised.value.status == 401 and auth.fetched == 2


def test_tokens_are_renewed_before_they_expire(echo: Echo) -> None:
    auth = CountingAuth(echo, lifetime=0.5)
    http = client(echo, auth=auth)

    async def scenario() -> None:
        for _ in range(3):
            await http.json("GET", "/echo")
            await asyncio.sleep(0.3)
        await http.aclose()

    asyncio.run(scenario())
    assert auth.fetched >= 2
    assert echo.count(status=401) == 0  # renewed early, never rejected


def test_the_limiter_never_lets_more_than_n_requests_into_a_window() -> None:
    with Echo(rate_limit=(3, 0.3)) as server:
        http = client(server, limit=RateLimit(requests=3, per_seconds=0.3), max_in_flight=6)
        asyncio.run(fetch(http, times=15))
        assert server.count(status=429) == 0
        assert server.max_in_window(0.3) == 3


def test_error_bodies_are_redacted(echo: Echo) -> None:
    secret = "bearer-secret-0123456789"
    register_secret(secret)

    class Fixed(TokenAuth):
        async def fetch_token(self, channel: TokenChannel) -> Token:
            return Token(secret)

    with pytest.raises(BadStatus) as raised:
        asyncio.run(fetch(client(echo, auth=Fixed()), "/leak"))
    assert secret not in str(raised.value) and "[redacted]" in str(raised.value)


def test_an_empty_204_can_be_an_answer(echo: Echo) -> None:
    async def scenario() -> object:
        http = client(echo)
        try:
            return await http.json("GET", "/later", empty_ok=(204,))
        finally:
            await http.aclose()

    assert asyncio.run(scenario()) is None and echo.count() == 1  # not retried as malformed JSON


def test_a_rate_limited_tenant_keeps_its_connection_across_a_window() -> None:
    """A window longer than httpx's 5 s idle limit: the next request, one window after the last
    answer, goes out on the same connection (no new handshake, no dropped connection left as
    garbage); the idle limit is the window + 2 s, between httpx's 5 s and 30 s."""
    peers: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            peers.append(self.client_address)
            body = b'{"ok": 1}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the standard library's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = HttpClient(f"http://127.0.0.1:{server.server_address[1]}",
                          Traffic(RateLimit(requests=1, per_seconds=5.5), retry=FAST, timeout=5))
        asyncio.run(fetch(http, times=2))
    finally:
        server.shutdown()
        server.server_close()
    assert len(peers) == 2 and peers[0] == peers[1]
    assert keepalive_for(0.5) == 5 and keepalive_for(10) == 12 and keepalive_for(600) == 30


def test_the_retry_loop_leaves_no_cyclic_garbage() -> None:
    """Each call's retry state goes when the call returns (a pass at 500 tenants kept tenacity's,
    about 60 objects a request, until a full collection: the largest part of its peak memory)."""
    traffic = Traffic(RateLimit(requests=1000, per_seconds=1), retry=FAST)
    request = httpx.Request("GET", "http://127.0.0.1/echo")
    tries = itertools.count()

    async def once() -> int:
        if next(tries) % 2 == 0:
            raise Retryable(request, 503, "Busy.")
        return 1

    async def calls() -> int:
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                await with_retries(traffic, once)
            return gc.collect()
        finally:
            gc.enable()

    assert asyncio.run(calls()) == 0 and traffic.stats.retries == 50
