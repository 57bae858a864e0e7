"""Window sweeps over real HTTP: what an open window costs per run with and without `open_overlap`,
and a page token that expires inside a window.

The vendor lists calls in a time range, oldest first, 100 a page, by page number: with 7-day
windows, a week of calls every three minutes is 24 pages. Listed whole on every run, the open
window costs those 24 requests each time; re-listed from its newest time seen (minus an overlap),
it costs what arrived since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collector import (
    CursorPaginator,
    HttpClient,
    PageNumberPaginator,
    RateLimit,
    RetrySettings,
    TimeWindows,
    Traffic,
    expired_on,
    iso,
    paginate,
    parse_iso,
)
from collector.emulator import EmulatorServer, Request, Response

UTC = UTC
CELL = datetime(2026, 5, 14, tzinfo=UTC)  # a multiple of 7 days since the Unix epoch: a window starts here


class Calls(EmulatorServer):
    """`GET /calls?from&to&page` (100 a page, oldest first) and `GET /scroll?from&to&token` (5 a page,
    tokens of an older generation refused with 400 TOKEN_EXPIRED)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[datetime] = []
        self.generation = 0
        self.add_route("GET", "/calls", "metadata", self.calls)
        self.add_route("GET", "/scroll", "metadata", self.scroll)

    def _between(self, request: Request) -> list[dict[str, Any]]:
        low, high = parse_iso(request.query["from"]), parse_iso(request.query["to"])
        return [{"id": f"c{n}", "at": iso(t)} for n, t in enumerate(self.times) if low <= t < high]

    def calls(self, request: Request) -> Response:
        page = int(request.query["page"])
        return Response.json({"calls": self._between(request)[(page - 1) * 100:page * 100]})

    def scroll(self, request: Request) -> Response:
        token = request.query.get("token")
        if token is not None and not token.startswith(f"{self.generation}:"):
            return Response.error(400, "TOKEN_EXPIRED")
        at = int(token.split(":")[1]) if token else 0
        items = self._between(request)
        following = f"{self.generation}:{at + 5}" if at + 5 < len(items) else None
        return Response.json({"calls": items[at:at + 5], "token": following})


@pytest.fixture
def calls() -> Iterator[Calls]:
    with Calls() as server:
        yield server


def run_once(server: Calls, plan: TimeWindows, state: dict[str, Any] | None, now: datetime,
             seen: set[str]) -> tuple[dict[str, Any] | None, int]:
    """One run of a source that sweeps `plan`: the state it commits last, and the requests it sent."""
    before = server.count(kind="metadata")

    async def sweep() -> dict[str, Any] | None:
        http = HttpClient(server.url, Traffic(RateLimit(requests=1000, per_seconds=1), retry=RetrySettings(attempts=2)))
        committed = state
        try:
            sweeping = plan.sweep(state, now=now)
            for window in sweeping.windows:
                listing = paginate(http, "/calls", items="calls", paginator=PageNumberPaginator(100, size_param=None,
                                                                                                total=None),
                                   params={"from": iso(window.since), "to": iso(window.end)})
                async for page in sweeping.pages(window, listing, time="at"):
                    seen.update(item["id"] for item in page.items)
                    committed = page.state if page.state is not None else committed
        finally:
            await http.aclose()
        return committed

    return asyncio.run(sweep()), server.count(kind="metadata") - before


@pytest.mark.parametrize(("overlap", "second_run"), [(None, 26), (timedelta(minutes=10), 2)])
def test_an_open_window_costs_what_arrived_since_not_the_whole_window(calls: Calls, overlap: timedelta | None,
                                                                     second_run: int) -> None:
    plan = TimeWindows(size=timedelta(days=7), lookback=timedelta(0), settle=timedelta(days=1), start=CELL,
                       unsettled=True, open_overlap=overlap)
    calls.times = [CELL + timedelta(minutes=3 * n) for n in range(2400)]  # five days: 24 pages of 100
    now = CELL + timedelta(days=5)
    seen: set[str] = set()
    state, first = run_once(calls, plan, None, now, seen)
    assert first == 25  # 24 full pages, and the empty one that ends the listing
    calls.times += [now + timedelta(minutes=3 * n) for n in range(20)]  # an hour of new calls
    state, second = run_once(calls, plan, state, now + timedelta(hours=1), seen)
    assert second == second_run  # before: the whole window again; after: the last hour and the overlap, and
    # the empty page that ends the listing
    assert len(seen) == 2420  # nothing missed either way
    calls.times.insert(100, CELL + timedelta(minutes=1))  # listed late under an old time, inside the window
    state, final = run_once(calls, plan, state, CELL + timedelta(days=8, hours=1), seen)
    assert final == 26 + 1 and len(seen) == 2421  # once final, the window is listed whole (the late call is
    # found), and the next window, empty so far, is one request
    assert state is not None and state["watermark"] == iso(CELL + timedelta(days=7)) and "open" not in state


def test_a_page_token_that_expires_restarts_its_window_and_keeps_what_was_listed(calls: Calls) -> None:
    calls.times = [CELL + timedelta(hours=n) for n in range(48)]  # two one-day windows of 24 calls
    plan = TimeWindows(size=timedelta(days=1), lookback=timedelta(0), settle=timedelta(0), start=CELL)
    listed: list[str] = []
    restarts: list[str] = []
    answered: list[Request] = []

    def expire_after_the_seventh(request: Request) -> None:  # window 1: 5 pages; window 2: its 3rd is refused
        answered.append(request)
        if len(answered) == 7:
            calls.generation += 1

    calls.after_request("metadata", expire_after_the_seventh, times=100)

    async def sweep() -> None:
        http = HttpClient(calls.url, Traffic(RateLimit(requests=1000, per_seconds=1), retry=RetrySettings(attempts=2)))
        try:
            sweeping = plan.sweep(None, now=CELL + timedelta(days=2))
            for window in sweeping.windows:
                async for page in paginate(http, "/scroll", items="calls",
                                           paginator=CursorPaginator("token", param="token"),
                                           params={"from": iso(window.start), "to": iso(window.end)},
                                           expired=expired_on(400, message="TOKEN_EXPIRED")):
                    listed.extend(item["id"] for item in page.items)
                    if page.restarted:
                        restarts.append(str(window))
        finally:
            await http.aclose()

    asyncio.run(sweep())
    assert restarts == [str(plan.sweep(None, now=CELL + timedelta(days=2)).windows[1])]
    assert set(listed) == {f"c{n}" for n in range(48)}
    assert len(listed) > 48  # the restarted window's first pages were listed twice: the catalog stores them once
