"""Limits as vendors state them, over real HTTP: rate-limit headers followed before the vendor refuses,
a limit per route category, and quotas that pause a route (in this run and later ones)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import (
    ConfigError,
    ErrorCodes,
    HttpClient,
    RateLimit,
    Recording,
    RetrySettings,
    RoutePaused,
    Source,
    Traffic,
    hookimpl,
)
from collector._http._ratelimit import read_limit_headers
from collector.emulator import (
    DailyQuota,
    EmulatorServer,
    FixedWindowLimit,
    KindRateLimit,
    Request,
    Response,
)
from collector.engine import Plugins, load_config
from collector.testing import collect, query_catalog, scale_out, write_config

FAST = RetrySettings(attempts=4, initial_wait=0.01, max_wait=0.05)


class Api(EmulatorServer):
    """`GET /items/{n}` (metadata) and `GET /media/{n}` (audio), each answering at once."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.add_route("GET", r"/items/(?P<n>\d+)", "metadata", lambda request, n: Response.json({"n": n}))
        self.add_route("GET", r"/media/(?P<n>\d+)", "audio", self.media)

    def media(self, request: Request, n: str) -> Response:
        return Response(200, b"RIFF" + bytes(64), "audio/wav")


def client(server: EmulatorServer, limit: RateLimit, *, max_in_flight: int = 2, account: str | None = None,
           routes: dict[str, RateLimit] | None = None, retry: RetrySettings = FAST) -> HttpClient:
    return HttpClient(server.url, Traffic(limit, max_in_flight=max_in_flight, retry=retry, timeout=10,
                                          account=account, route_limits=routes))


async def fetch(http: HttpClient, paths: list[str], route: str | None = None) -> list[Any]:
    async def one(path: str) -> Any:
        response = await http.request("GET", path, route=route)
        return response.status_code

    return list(await asyncio.gather(*(one(path) for path in paths)))


# -- the vendor's own rate-limit headers ------------------------------------------------------------

@pytest.mark.parametrize("style", ["x-ratelimit", "x-ratelimit-epoch", "ietf", "ietf-structured"])
def test_the_vendors_headers_slow_the_client_before_the_vendor_refuses(style: str) -> None:
    with Api() as server:
        window = server.add_limit(FixedWindowLimit(4, 1.0, headers=style))
        http = client(server, RateLimit(requests=1000, per_seconds=1))  # far above the vendor's limit

        async def scenario() -> None:
            try:
                await fetch(http, [f"/items/{n}" for n in range(14)])
            finally:
                await http.aclose()

        asyncio.run(scenario())
        assert server.count(status=429) == 0, "the client ran into the vendor's limit"
        assert window.peak() <= 4  # the vendor's own request log: no window saw more than its limit
        assert sum(window.admitted.values()) == 14


def test_rate_limit_headers_are_read_in_every_spelling() -> None:
    def read(**headers: str) -> tuple[int, float | None] | None:
        raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
        return read_limit_headers(raw)

    assert read(X_RateLimit_Remaining="3", X_RateLimit_Reset="20") == (3, 20.0)
    epoch = read(x_ratelimit_remaining="0", x_ratelimit_reset=str(int(time.time()) + 30))
    assert epoch is not None and epoch[0] == 0 and epoch[1] is not None and 28 < epoch[1] <= 30
    millis = read(RateLimit_Remaining="5", RateLimit_Reset=str(int(time.time() * 1000) + 10_000))
    assert millis is not None and millis[1] is not None and 9 < millis[1] <= 10
    assert read(RateLimit="limit=100, remaining=50, reset=5") == (50, 5.0)
    assert read(RateLimit='"default";r=7;t=2') == (7, 2.0)
    assert read(X_RateLimit_Limit="100") is None and read(Content_Type="text/plain") is None
    assert read(X_RateLimit_Remaining="lots") is None


def test_a_retry_after_as_a_date_time_is_honoured() -> None:
    with Api(rate_limit=(2, 1.0), retry_after_style="date") as server:
        http = client(server, RateLimit(requests=1000, per_seconds=1), max_in_flight=1)

        async def scenario() -> list[Any]:
            try:
                return await fetch(http, [f"/items/{n}" for n in range(4)])
            finally:
                await http.aclose()

        assert asyncio.run(scenario()) == [200] * 4
        assert http.stats.throttled >= 1 and http.stats.retries >= 1


# -- a limit per route category, besides the tenant's ------------------------------------------------

def test_each_route_category_keeps_its_own_limit_besides_the_tenants() -> None:
    with Api(rate_limit=(10, 0.5)) as server:
        downloads = server.add_limit(KindRateLimit(3, 0.5, kinds=("audio",)))
        http = client(server, RateLimit(requests=10, per_seconds=0.5), max_in_flight=4,
                      routes={"downloads": RateLimit(requests=3, per_seconds=0.5)})
        finished: dict[str, float] = {}

        async def timed(name: str, paths: list[str], route: str | None) -> None:
            await fetch(http, paths, route)
            finished[name] = time.monotonic()

        async def scenario() -> None:
            try:
                await asyncio.gather(timed("downloads", [f"/media/{n}" for n in range(9)], "downloads"),
                                     timed("listings", [f"/items/{n}" for n in range(9)], None))
            finally:
                await http.aclose()

        asyncio.run(scenario())
        assert server.count(status=429) == 0
        assert downloads.max_in_window() <= 3 and server.max_in_window(0.5) <= 10
        assert finished["listings"] < finished["downloads"], "the downloads' limit held the listings back"


def test_route_limits_are_shared_by_every_process_using_the_account() -> None:
    with Api() as server:
        downloads = server.add_limit(KindRateLimit(3, 0.5, kinds=("audio",)))
        routes = {"downloads": RateLimit(requests=3, per_seconds=0.5)}
        # two Traffic objects on one account stand for two processes: the slots are in a file they share
        first, second = (client(server, RateLimit(requests=100, per_seconds=1), account="acct-1", routes=routes)
                         for _ in range(2))

        async def scenario() -> None:
            try:
                await asyncio.gather(fetch(first, [f"/media/{n}" for n in range(6)], "downloads"),
                                     fetch(second, [f"/media/{n}" for n in range(6)], "downloads"))
            finally:
                await first.aclose()
                await second.aclose()

        asyncio.run(scenario())
        assert server.count(status=429) == 0 and downloads.max_in_window() <= 3


def config_text(rate_limits: str) -> str:
    return ("[store]\npath = 'data'\n[[sources]]\nplugin = 'toy'\ntenant = 'alpha'\n"
            "base_url = 'http://127.0.0.1:9'\ntoken = 'literal-token-123'\n" + rate_limits)


def test_route_limits_are_configured_per_source_with_key_paths_in_errors(tmp_path: Path, toy_plugins: Plugins) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(config_text("rate_limits = { downloads = { requests = 5, per_seconds = 1 }, "
                                "listings = { requests = 10, per_seconds = 1 } }\n"))
    (source,) = load_config(path, toy_plugins).sources
    assert source.rate_limits == {"downloads": RateLimit(requests=5, per_seconds=1),
                                  "listings": RateLimit(requests=10, per_seconds=1)}
    for bad, where in (("rate_limits = { downloads = { requests = 0, per_seconds = 1 } }",
                        "sources[0].rate_limits.downloads.requests"),
                       ("rate_limits = { Down_Loads = { requests = 5, per_seconds = 1 } }",
                        "sources[0].rate_limits.Down_Loads"),
                       ("rate_limits = { downloads = { requests = 5 } }",
                        "sources[0].rate_limits.downloads.per_seconds")):
        path.write_text(config_text(bad + "\n"))
        with pytest.raises(ConfigError) as raised:
            load_config(path, toy_plugins)
        assert any(where in problem for problem in raised.value.problems), (where, raised.value.problems)


# -- quotas: a route paused until the vendor's reset -----------------------------------------------

def test_a_429_until_midnight_pauses_the_route_and_nothing_else() -> None:
    with Api() as server:
        quota = server.add_limit(DailyQuota(2, kinds=("audio",)))
        http = client(server, RateLimit(requests=100, per_seconds=1))

        async def scenario() -> RoutePaused:
            try:
                await fetch(http, ["/media/1", "/media/2"], "downloads")
                with pytest.raises(RoutePaused) as paused:
                    await http.request("GET", "/media/3", route="downloads")
                asked = server.count(kind="audio")
                with pytest.raises(RoutePaused):  # not even sent
                    await http.request("GET", "/media/4", route="downloads")
                assert server.count(kind="audio") == asked
                assert await fetch(http, ["/items/1", "/items/2"]) == [200, 200]  # the rest goes on
                return paused.value
            finally:
                await http.aclose()

        paused = asyncio.run(scenario())
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        assert paused.route == "downloads" and paused.until == midnight
        assert paused.reason.startswith(f"downloads paused by the vendor's quota until {midnight:%Y-%m-%dT%H:%M:%SZ}")
        assert "DAILY_QUOTA_EXCEEDED" in paused.reason and quota.refused == 1
        assert http.stats.retries == 0 and http.stats.throttled == 0 and http.stats.paused == 2


def test_an_ordinary_429_is_retried_not_paused() -> None:
    with Api() as server:
        server.faults.retry_after = "1"
        server.faults.inject("429", kind="audio")
        http = client(server, RateLimit(requests=100, per_seconds=1))

        async def scenario() -> list[Any]:
            try:
                return await fetch(http, ["/media/1"], "downloads")
            finally:
                await http.aclose()

        assert asyncio.run(scenario()) == [200]
        assert http.stats.retries == 1 and http.stats.paused == 0


def test_an_error_code_can_pause_a_route() -> None:
    class Coded(Api):
        def __init__(self) -> None:
            super().__init__()
            self.add_route("GET", "/export", "metadata", lambda request: Response.json(
                {"code": "DAILY_LIMIT", "message": "Daily export limit reached."}, 403))

    with Coded() as server:
        http = client(server, RateLimit(requests=100, per_seconds=1)).with_defaults(
            route="exports", errors=ErrorCodes({"DAILY_LIMIT": RoutePaused}))

        async def scenario() -> RoutePaused:
            try:
                with pytest.raises(RoutePaused) as paused:
                    await http.json("GET", "/export")
                return paused.value
            finally:
                await http.aclose()

        paused = asyncio.run(scenario())
        assert paused.route == "exports" and paused.until is not None
        assert paused.until.hour == 0  # no Retry-After: until the next midnight
        assert paused.answer is not None and paused.answer.code == "DAILY_LIMIT"


# -- in a run: the pause is kept in the catalog, honoured by later runs, then lifted ----------------

@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_a_paused_route_survives_into_the_next_run_and_is_lifted_afterwards(
        catalog: str, request: pytest.FixtureRequest, tmp_path: Path, Toy: type[Any],
        toy_source: Callable[..., dict[str, Any]], toy_source_class: type[Source]) -> None:
    if catalog == "sqlite":
        paused_route_across_runs(tmp_path, Toy, toy_source, toy_source_class)
        return
    with scale_out(postgres=request.getfixturevalue("postgres")):
        paused_route_across_runs(tmp_path, Toy, toy_source, toy_source_class)


def paused_route_across_runs(tmp_path: Path, Toy: type[Any], toy_source: Callable[..., dict[str, Any]],
                             toy_source_class: type[Source]) -> None:
    class Downloads(toy_source_class):  # type: ignore[valid-type, misc]
        def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
            return self.http.stream(  # type: ignore[no-any-return]  # a fixture's class as the base: Any to mypy
                "GET", f"/audio/{recording.vendor_id}", route="downloads")

    class Plugin:
        @hookimpl
        def collector_register_sources(self, register: Callable[[type[Source]], None]) -> None:
            register(Downloads)

    plugins = Plugins(entry_points_group=None, extra=[Plugin()])
    with Toy(4) as toy:
        quota = toy.add_limit(DailyQuota(1, kinds=("audio",), reset_in=3))
        config = write_config(tmp_path, [toy_source(toy, transcripts=False, download_workers=1,
                                                    retry={"attempts": 3, "initial_wait": 0.01, "quota_after": 1})])
        first = collect(config, plugins)
        (summary,) = first.summaries
        assert summary.new_recordings == 4 and summary.audio_files == 1  # the listing went on
        assert any(note.startswith("downloads paused by the vendor's quota until") for note in summary.notes), summary
        assert summary.retried == 0 and summary.failed == 0
        pending = query_catalog(tmp_path / "store", "SELECT attempts FROM audio WHERE status='pending'")
        assert [row[0] for row in pending] == [0, 0, 0], "a paused route spent attempts"
        [(route, until)] = query_catalog(tmp_path / "store", "SELECT route, until FROM route_pauses")
        assert route == "downloads"

        asked = toy.count(kind="audio")
        second = collect(config, plugins)
        assert toy.count(kind="audio") == asked, "a run before the pause's end called the paused route"
        assert any(note.startswith("downloads paused") for note in second.summaries[0].notes)

        time.sleep(max(0.0, (datetime.fromisoformat(until.replace("Z", "+00:00"))
                             - datetime.now(UTC)).total_seconds()) + 0.1)
        quota.reset()
        quota.requests = 10
        third = collect(config, plugins)
        assert third.summaries[0].audio_files == 3 and not third.summaries[0].notes
        assert query_catalog(tmp_path / "store", "SELECT route FROM route_pauses") == []
