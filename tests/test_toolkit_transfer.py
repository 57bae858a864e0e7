"""Redirects to signed storage URLs, URLs the vendor hands out, and the per-tenant concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from collector import (
    BadStatus,
    HttpClient,
    RateLimit,
    Redirects,
    RetrySettings,
    Secret,
    StaticBearerAuth,
    Traffic,
)
from collector._base._redact import redact
from collector._http._concurrency import ConcurrencyLimit
from collector.emulator import EmulatorError, EmulatorServer, Request, Response, StorageServer, synth_audio

FAST = RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.05)
TOKEN = "api-token-redirects-1"


class MediaApi(EmulatorServer):
    """`GET /media/{id}` answers 302 to a signed URL on a storage host (another origin)."""

    def __init__(self, storage: StorageServer, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.storage = storage
        self.add_route("GET", r"/media/(?P<rid>[^/]+)", "audio", self.media)
        self.add_route("GET", r"/hop/(?P<n>\d+)", "audio", self.hop)
        self.add_route("GET", "/slow", "metadata", self.slow)
        self.add_route("GET", r"/link/(?P<rid>[^/]+)", "metadata", self.link)
        self.add_route("GET", r"/report/(?P<rid>[^/]+)", "metadata", self.report)
        self.links = 0

    def link(self, request: Request, rid: str) -> Response:
        """A short-lived URL handed out in JSON (not by a redirect)."""
        if request.bearer != TOKEN:
            raise EmulatorError(401, "No.")
        self.links += 1
        self.storage.put(rid, lambda: synth_audio(rid, duration=1.0, fmt="wav"), "audio/wav")
        return Response.json({"url": self.storage.signed_url(rid, ttl=60)})

    def report(self, request: Request, rid: str) -> Response:
        """A JSON document served by a redirect to the storage host."""
        if request.bearer != TOKEN:
            raise EmulatorError(401, "No.")
        self.storage.put(f"report-{rid}", lambda: b'{"report": "%s"}' % rid.encode(), "application/json")
        return Response.redirect(self.storage.signed_url(f"report-{rid}", ttl=60))

    def media(self, request: Request, rid: str) -> Response:
        if request.bearer != TOKEN:
            raise EmulatorError(401, "No.")
        self.storage.put(rid, lambda: synth_audio(rid, duration=1.0, fmt="wav"), "audio/wav")
        return Response.redirect(self.storage.signed_url(rid, ttl=60))

    def hop(self, request: Request, n: str) -> Response:
        if request.bearer != TOKEN:
            raise EmulatorError(401, "Same-origin hops keep the credentials.")
        return Response.redirect(f"/hop/{int(n) + 1}") if int(n) < 20 else Response.json({"hops": n})

    def slow(self, request: Request) -> Response:
        import time

        time.sleep(0.05)
        return Response.json({"ok": True})


@pytest.fixture
def api() -> Iterator[MediaApi]:
    with StorageServer() as storage, MediaApi(storage) as server:
        yield server


def client(server: EmulatorServer, traffic: Traffic | None = None) -> HttpClient:
    traffic = traffic or Traffic(RateLimit(requests=100, per_seconds=1), retry=FAST, timeout=10)
    return HttpClient(server.url, traffic, auth=StaticBearerAuth(Secret(TOKEN, "test")))


async def fetch(http: HttpClient, path: str, redirects: Redirects | None = Redirects()) -> bytes:
    try:
        async with http.stream("GET", path, redirects=redirects) as response:
            return b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await http.aclose()


def test_media_behind_a_redirect_arrives_and_the_storage_host_sees_no_credentials(api: MediaApi) -> None:
    body = asyncio.run(fetch(client(api), "/media/rec-1"))
    assert body == synth_audio("rec-1", duration=1.0, fmt="wav")
    assert api.storage.credentials_seen == 0 and api.storage.count(status=200) == 1
    signature = api.storage.signed[0]
    assert redact(f"?signature={signature}") != f"?signature={signature}"  # the signed query is a secret


def test_an_expired_signed_url_is_answered_by_asking_the_original_url_again(api: MediaApi) -> None:
    api.storage.expire_next(1)
    http = client(api)
    body = asyncio.run(fetch(http, "/media/rec-2"))
    assert body == synth_audio("rec-2", duration=1.0, fmt="wav")
    assert api.count(kind="audio") == 2 and api.storage.count(status=403) == 1
    assert http.stats.retries == 1


def test_redirects_are_not_followed_unless_asked(api: MediaApi) -> None:
    with pytest.raises(BadStatus) as raised:
        asyncio.run(fetch(client(api), "/media/rec-3", redirects=None))
    assert raised.value.status == 302


def test_same_origin_hops_keep_the_credentials_and_are_bounded(api: MediaApi) -> None:
    assert asyncio.run(fetch(client(api), "/hop/17")) == b'{"hops":"20"}'
    with pytest.raises(BadStatus, match="more than 5 redirects"):
        asyncio.run(fetch(client(api), "/hop/1"))


def test_https_is_never_downgraded(api: MediaApi) -> None:
    class Downgrade(EmulatorServer):
        def __init__(self) -> None:
            super().__init__()
            self.add_route("GET", "/x", "audio", lambda request: Response.redirect("http://127.0.0.1:9/plain"))

    async def scenario() -> None:
        # An https origin is needed to test the rule; build the redirect answer by hand instead.
        import httpx

        from collector._http._traffic import Connection

        http = HttpClient("https://vendor.invalid", Traffic(RateLimit(requests=9, per_seconds=1), retry=FAST))
        request = httpx.Request("GET", "https://vendor.invalid/media")
        response = httpx.Response(302, headers={"Location": "http://storage.invalid/o/1"}, request=request)
        try:
            await http._follow(response, "GET", {}, Redirects(), lambda: None, Connection(None))
        finally:
            await http.aclose()

    with pytest.raises(BadStatus, match="plain http"):
        asyncio.run(scenario())


def test_a_vendor_handed_url_is_fetched_without_credentials_and_counted(api: MediaApi) -> None:
    api.storage.put("signed-1", lambda: b"presigned body", "application/octet-stream")
    url = api.storage.signed_url("signed-1")
    http = client(api)

    async def scenario() -> bytes:
        try:
            response = await http.request("GET", url, rate_limited=False)
            return response.content
        finally:
            await http.aclose()

    assert asyncio.run(scenario()) == b"presigned body"
    assert api.storage.credentials_seen == 0 and http.stats.requests == 1


def test_every_client_of_a_tenant_shares_its_concurrency_limit() -> None:
    with StorageServer() as storage, MediaApi(storage, max_in_flight=2) as server:
        traffic = Traffic(RateLimit(requests=1000, per_seconds=1), max_in_flight=2, retry=FAST, timeout=10)
        first, second = client(server, traffic), client(server, traffic)

        async def scenario() -> None:
            await asyncio.gather(*(http.json("GET", "/slow") for http in (first, second) for _ in range(6)))
            await first.aclose()
            await second.aclose()

        asyncio.run(scenario())
        assert max(server.peak_in_flight.values()) == 2
        assert server.count(status=429) == 0 and traffic.concurrency.peak == 2


def test_a_429_lowers_concurrency_and_calm_windows_restore_it() -> None:
    now = [0.0]
    limit = ConcurrencyLimit(3, calm_window=lambda: 10.0, clock=lambda: now[0])
    limit.throttled()
    limit.throttled()
    limit.throttled()
    assert limit.current == 1  # never below one
    now[0] = 5.0
    limit._recover()
    assert limit.current == 1  # not calm long enough
    for expected, at in ((2, 10.0), (3, 20.0), (3, 40.0)):
        now[0] = at
        limit._recover()
        assert limit.current == expected


def test_concurrency_waiters_are_served_in_order_and_cancellation_is_clean() -> None:
    async def scenario() -> list[int]:
        limit = ConcurrencyLimit(1, calm_window=lambda: 1.0)
        order: list[int] = []
        await limit.acquire()

        async def worker(n: int) -> None:
            async with limit:
                order.append(n)

        tasks = [asyncio.create_task(worker(n)) for n in range(4)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        limit.release()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert limit._in_use == 0
        return order

    assert asyncio.run(scenario()) == [0, 2, 3]


# -- redirects for JSON requests, and short-lived URLs handed out in JSON --------------------------

def test_json_requests_follow_redirects_with_the_same_rules(api: MediaApi) -> None:
    async def scenario(redirects: Redirects | None) -> object:
        http = client(api)
        try:
            return await http.json("GET", "/report/r1", redirects=redirects)
        finally:
            await http.aclose()

    assert asyncio.run(scenario(Redirects())) == {"report": "r1"}
    assert api.storage.credentials_seen == 0
    with pytest.raises(BadStatus) as raised:  # not followed unless asked, as before
        asyncio.run(scenario(None))
    assert raised.value.status == 302
    api.storage.expire_next(1)  # an expired target: the original URL is asked again
    assert asyncio.run(scenario(Redirects())) == {"report": "r1"}


async def download_from(http: HttpClient, rid: str, **options: object) -> bytes:
    async def fresh_url() -> str:
        return str((await http.json("GET", f"/link/{rid}"))["url"])

    try:
        async with http.stream_from(fresh_url, **options) as response:  # type: ignore[arg-type]
            return b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await http.aclose()


def test_a_handed_out_url_that_expired_is_asked_for_again(api: MediaApi) -> None:
    api.storage.expire_next(2)
    http = client(api)
    body = asyncio.run(download_from(http, "rec-9"))
    assert body == synth_audio("rec-9", duration=1.0, fmt="wav")
    assert api.links == 3 and api.storage.count(status=403) == 2 and api.storage.count(status=200) == 1
    assert api.storage.credentials_seen == 0 and http.stats.retries == 2
    for signature in api.storage.signed:
        assert redact(f"GET /o/x?signature={signature}") != f"GET /o/x?signature={signature}"


def test_renewals_are_bounded(api: MediaApi) -> None:
    api.storage.expire_next(10)
    with pytest.raises(BadStatus, match=r"still refused after 2 renewals") as raised:
        asyncio.run(download_from(client(api), "rec-8", renewals=2))
    assert raised.value.status == 403 and api.links == 3


def test_a_handed_out_url_takes_no_permit_nor_slot_of_the_api(api: MediaApi) -> None:
    traffic = Traffic(RateLimit(requests=1, per_seconds=30), max_in_flight=1, retry=FAST, timeout=10)
    http = client(api, traffic)

    async def scenario() -> bytes:
        async def fresh_url() -> str:  # the one slot of the window goes to this request
            return str((await http.json("GET", "/link/rec-7"))["url"])

        try:
            async with http.stream_from(fresh_url) as response:
                return await response.aread()
        finally:
            await http.aclose()

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == synth_audio("rec-7", duration=1.0, fmt="wav")


def test_request_from_reads_a_handed_out_url_whole(api: MediaApi) -> None:
    api.storage.expire_next(1)
    http = client(api)

    async def scenario() -> bytes:
        async def fresh_url() -> str:
            return str((await http.json("GET", "/link/rec-6"))["url"])

        try:
            return (await http.request_from(fresh_url)).content
        finally:
            await http.aclose()

    assert asyncio.run(scenario()) == synth_audio("rec-6", duration=1.0, fmt="wav")
    assert api.links == 2 and api.storage.credentials_seen == 0
