"""Listing strategies over real HTTP (cursor, next URL in the body or a Link header, offset and page
number with totals, keyset; positions in the query or a JSON body), resuming from a committed
position, positions the vendor refuses as expired, the incremental watermark (and the times it
reads), the time-window planner, compound ids, and page states snapshotted when yielded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collector import (
    BadStatus,
    CursorPaginator,
    HttpClient,
    Incremental,
    ListedPage,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    PositionExpired,
    RateLimit,
    RetrySettings,
    Tally,
    TenantError,
    TimeWindows,
    Traffic,
    WindowOutcome,
    compound_id,
    expired_on,
    paginate,
    split_compound_id,
)
from collector.emulator import HOSTILE_IDS, EmulatorServer, Request, Response, keyset_page, link_header

ITEMS = [{"id": f"r{n:03d}", "at": f"2026-05-01T10:{n:02d}:00Z"} for n in range(23)]


class Lists(EmulatorServer):
    """The same 23 items behind every paging style."""

    def __init__(self) -> None:
        super().__init__()
        self.items = list(ITEMS)
        self.add_route("GET", "/cursor", "metadata", self.cursor)
        self.add_route("GET", "/next", "metadata", self.next_url)
        self.add_route("GET", "/link", "metadata", self.link)
        self.add_route("GET", "/offset", "metadata", self.offset)
        self.add_route("GET", "/pages", "metadata", self.pages)
        self.add_route("GET", "/keyset", "metadata", self.keyset)
        self.add_route("GET", "/broken", "metadata", lambda request: Response.json({"rows": "no"}))

    def _position(self, request: Request) -> int:
        return int(request.query.get("cursor") or request.query.get("from") or 0)

    def cursor(self, request: Request) -> Response:  # a feed: an empty page still carries a cursor
        at = self._position(request)
        page = self.items[at:at + 5]
        return Response.json({"data": page, "meta": {"next": str(at + len(page))}})

    def next_url(self, request: Request) -> Response:  # relative next URLs in the body
        at = self._position(request)
        page = self.items[at:at + 5]
        following = f"next?from={at + 5}" if at + 5 < len(self.items) else None
        return Response.json({"results": page, "links": {"next": following}})

    def link(self, request: Request) -> Response:  # absolute next URLs in an RFC 8288 Link header
        at = self._position(request)
        following = f"{self.url}/link?from={at + 5}" if at + 5 < len(self.items) else None
        return Response(200, json.dumps(self.items[at:at + 5]).encode(), headers=link_header(following))

    def offset(self, request: Request) -> Response:
        at, limit = int(request.query["offset"]), int(request.query["limit"])
        return Response.json({"total": len(self.items), "items": self.items[at:at + limit]})

    def pages(self, request: Request) -> Response:
        page, size = int(request.query["page"]), int(request.query["size"])
        chunk = self.items[(page - 1) * size:page * size]
        return Response.json({"rows": chunk, "pages": -(-len(self.items) // size)})

    def keyset(self, request: Request) -> Response:
        page, _ = keyset_page(self.items, lambda item: item["id"], after=request.query.get("after"), limit=5)
        return Response.json(page)


@pytest.fixture
def lists() -> Iterator[Lists]:
    with Lists() as server:
        yield server


def walk(server: EmulatorServer, url: str, paginator: Paginator, items: str = "", *, resume: Any = None,
         stop_after: int | None = None, **kwargs: Any) -> list[ListedPage]:
    async def scenario() -> list[ListedPage]:
        http = HttpClient(server.url, Traffic(RateLimit(requests=500, per_seconds=1),
                                             retry=RetrySettings(attempts=2, initial_wait=0.01)))
        pages = []
        try:
            async for page in paginate(http, url, paginator=paginator, items=items, resume=resume, **kwargs):
                pages.append(page)
                if stop_after is not None and len(pages) == stop_after:
                    break
        finally:
            await http.aclose()
        return pages

    return asyncio.run(scenario())


def ids(pages: list[ListedPage]) -> list[str]:
    return [item["id"] for page in pages for item in page.items]


STYLES = [
    ("/cursor", lambda: CursorPaginator("meta.next", param="cursor"), "data"),
    ("/next", lambda: NextUrlPaginator("links.next"), "results"),
    ("/link", lambda: NextUrlPaginator(None), ""),
    ("/offset", lambda: OffsetPaginator(7, total="total"), "items"),
    ("/pages", lambda: PageNumberPaginator(6, size_param="size", total=None, total_pages="pages"), "rows"),
    ("/keyset", lambda: CursorPaginator(lambda body, items: items[-1]["id"] if items else None, param="after"), ""),
]


@pytest.mark.parametrize(("url", "make", "items"), STYLES, ids=[s[0] for s in STYLES])
def test_every_paging_style_lists_everything_once(lists: Lists, url: str, make: Any, items: str) -> None:
    assert ids(walk(lists, url, make(), items)) == [item["id"] for item in ITEMS]


@pytest.mark.parametrize(("url", "make", "items"), STYLES, ids=[s[0] for s in STYLES])
def test_a_listing_resumes_after_the_last_committed_page(lists: Lists, url: str, make: Any, items: str) -> None:
    first = walk(lists, url, make(), items, stop_after=2)
    committed = json.loads(json.dumps(first[-1].state()))  # as the catalog stores it
    rest = walk(lists, url, make(), items, resume=committed["next"])
    assert ids(first) + ids(rest) == [item["id"] for item in ITEMS]


def test_a_cursor_feed_keeps_its_last_cursor_for_the_next_run(lists: Lists) -> None:
    pages = walk(lists, "/cursor", CursorPaginator("meta.next", param="cursor", feed=True), "data")
    assert pages[-1].items == [] and pages[-1].next is None
    assert pages[-1].resume == PageRequest("/cursor", {"cursor": "23"})
    lists.items.append({"id": "r999", "at": "2026-05-02T00:00:00Z"})
    assert ids(walk(lists, "/cursor", CursorPaginator("meta.next", param="cursor", feed=True), "data",
                    resume=pages[-1].state()["next"])) == ["r999"]


def test_a_listing_not_shaped_as_declared_stops_the_tenant_without_advancing(lists: Lists) -> None:
    with pytest.raises(TenantError, match=r"GET /broken without a `rows` list; the listing's position was not"):
        walk(lists, "/broken", OffsetPaginator(5), "rows")


def test_offset_totals_reconcile(lists: Lists) -> None:
    tally = Tally()
    for page in walk(lists, "/offset", OffsetPaginator(10), "items"):
        tally.add(page.total, (item["id"] for item in page.items))
    assert tally.reconciled and tally.vendor_count == 23
    tally.add(24, ["r999"])
    assert not tally.reconciled and "it changed while paging" in tally.describe()


START = datetime(2026, 5, 1, tzinfo=UTC)


def listed(items: list[Any], following: PageRequest | None) -> ListedPage:
    return ListedPage(items, PageRequest("/x"), following, following, None, None)


def test_the_incremental_watermark_lists_from_the_newest_time_seen_minus_the_overlap() -> None:
    now = START + timedelta(days=1)
    first = Incremental(None, start=START, overlap=timedelta(hours=1), now=now)
    assert first.since == START and first.resume is None
    mid = first.page(listed(ITEMS[20:], PageRequest("/x", {"page": 2})), time="at")
    assert mid.state is not None and mid.state["watermark"] is None
    assert mid.state["pass"]["next"]["params"] == {"page": 2}
    # killed here: the next run resumes the same pass
    resumed = Incremental(json.loads(json.dumps(mid.state)), start=START, overlap=timedelta(hours=1), now=now)
    assert resumed.since == START and resumed.resume == PageRequest("/x", {"page": 2})
    end = resumed.page(listed(ITEMS[:20], None), time="at")
    assert end.state == {"watermark": "2026-05-01T10:22:00.000000Z", "pass": None}
    later = Incremental(end.state, start=START, overlap=timedelta(hours=1), now=now)
    assert later.since == datetime(2026, 5, 1, 9, 22, tzinfo=UTC) and later.resume is None


def test_an_item_dated_in_the_future_cannot_push_the_watermark_past_now() -> None:
    now = START + timedelta(hours=12)
    inc = Incremental(None, start=START, overlap=timedelta(minutes=5), now=now)
    page = inc.page(listed([{"at": "2099-01-01T00:00:00Z"}, {"at": "garbage"}, {}], None), time="at")
    assert page.state == {"watermark": "2026-05-01T12:00:00.000000Z", "pass": None}


def test_time_windows_advance_over_final_windows_only() -> None:
    plan = TimeWindows(size=timedelta(hours=1), lookback=timedelta(hours=2), settle=timedelta(minutes=30),
                       start=START, unsettled=True)
    now = START + timedelta(hours=3, minutes=40)
    sweep = plan.sweep(None, now=now)
    assert [(w.start.hour, w.end.hour, w.final) for w in sweep.windows] == [(0, 1, True), (1, 2, True),
                                                                          (2, 3, True), (3, 3, False)]
    states = [sweep.page(window).state for window in sweep.windows]
    assert states[-1] is None and states[2] is not None and states[2]["watermark"] == "2026-05-01T03:00:00.000000Z"
    again = plan.sweep(states[2], now=now + timedelta(hours=1))
    assert again.windows[0].start == START + timedelta(hours=1)  # watermark - lookback, on the grid


def test_a_window_that_does_not_reconcile_is_held_then_accepted() -> None:
    plan = TimeWindows(size=timedelta(hours=1), lookback=timedelta(0), settle=timedelta(0), start=START,
                       accept_after=2)
    now = START + timedelta(hours=3)
    sweep = plan.sweep(None, now=now)
    outcomes = [sweep.close(sweep.windows[0]), sweep.close(sweep.windows[1], complete=False),
                sweep.close(sweep.windows[2])]
    assert outcomes == [WindowOutcome.ADVANCED, WindowOutcome.HELD, WindowOutcome.ADVANCED]
    state = sweep.state()
    assert state["watermark"] == "2026-05-01T01:00:00.000000Z" and state["held"]["runs"] == 1
    second = plan.sweep(state, now=now)
    assert second.windows[0].start == START + timedelta(hours=1)  # the held window is swept again
    assert second.close(second.windows[0], complete=False) is WindowOutcome.ACCEPTED
    assert second.close(second.windows[1]) is WindowOutcome.ADVANCED
    assert second.state()["watermark"] == "2026-05-01T03:00:00.000000Z" and "held" not in second.state()


def test_a_changed_start_starts_over_and_an_old_state_format_is_kept() -> None:
    plan = TimeWindows(size=timedelta(hours=1), lookback=timedelta(0), settle=timedelta(0), start=START)
    now = START + timedelta(hours=5)
    moved = {"version": 2, "start": "2026-04-01T00:00:00.000000Z", "watermark": "2026-05-01T04:00:00.000000Z"}
    assert len(plan.sweep(moved, now=now).windows) == 5
    legacy = {"version": 1, "watermark": "2026-05-01T04:00:00Z"}  # written before `start` was recorded
    assert len(plan.sweep(legacy, now=now).windows) == 1


@pytest.mark.parametrize("parts", [("CA1", "2"), ("a/b", "%2F"), *((hostile, "leg/1") for hostile in HOSTILE_IDS)])
def test_compound_ids_round_trip(parts: tuple[str, str]) -> None:
    joined = compound_id(*parts)
    assert split_compound_id(joined) == parts
    assert joined.count("/") == 1


def test_compound_ids_never_collide() -> None:
    pairs = [("a", "b/c"), ("a/b", "c"), ("a%2F", "b"), ("a", "%2Fb")]
    assert len({compound_id(*p) for p in pairs}) == len(pairs)


# -- pages whose position lives in a JSON body (POST search APIs) ------------------------------

class Search(EmulatorServer):
    """A POST search API: `{"filter": {...}, "paging": {"page": n, "size": k}}` or `{"cursor": ...}`."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[Any] = []
        self.generation = 0
        self.add_route("POST", "/search", "metadata", self.search)
        self.add_route("POST", "/scroll", "metadata", self.scroll)
        self.add_route("GET", "/expiring", "metadata", self.expiring)

    def search(self, request: Request) -> Response:
        body = request.json()
        self.bodies.append(body)
        if body.get("filter") != {"queue": "sales"}:
            return Response.error(400, "the filter was lost")
        page, size = body["paging"]["page"], body["paging"]["size"]
        return Response.json({"hits": ITEMS[(page - 1) * size:page * size], "total": len(ITEMS)})

    def scroll(self, request: Request) -> Response:
        body = request.json()
        self.bodies.append(body)
        at = int(body.get("cursor") or 0)
        return Response.json({"hits": ITEMS[at:at + 5], "cursor": str(at + 5) if at + 5 < len(ITEMS) else None})

    def expiring(self, request: Request) -> Response:  # tokens of an older generation are refused
        token = request.query.get("token")
        if token is not None and not token.startswith(f"{self.generation}:"):
            return Response.error(400, "PAGE_TOKEN_EXPIRED: the page token has expired")
        at = int(token.split(":")[1]) if token else 0
        following = f"{self.generation}:{at + 5}" if at + 5 < len(ITEMS) else None
        return Response.json({"data": ITEMS[at:at + 5], "next": following})


@pytest.fixture
def search() -> Iterator[Search]:
    with Search() as server:
        yield server


BODY_STYLES = [
    ("/search", lambda: PageNumberPaginator(6, page_param="paging.page", size_param="paging.size", in_body=True)),
    ("/scroll", lambda: CursorPaginator("cursor", param="cursor", in_body=True)),
]


@pytest.mark.parametrize(("url", "make"), BODY_STYLES, ids=[s[0] for s in BODY_STYLES])
def test_pages_in_a_json_body_resume_after_a_kill_like_query_pages(search: Search, url: str, make: Any) -> None:
    first = walk(search, url, make(), "hits", method="POST", json={"filter": {"queue": "sales"}}, stop_after=2)
    committed = json.loads(json.dumps(first[-1].state()))  # as the catalog stores it
    assert committed["next"]["body"]["filter"] == {"queue": "sales"} and committed["next"]["params"] == {}
    rest = walk(search, url, make(), "hits", method="POST", json={"filter": {"queue": "sales"}},
                resume=committed["next"])
    assert ids(first) + ids(rest) == [item["id"] for item in ITEMS]
    assert all(body.get("filter") == {"queue": "sales"} or url == "/scroll" for body in search.bodies)


def test_a_page_request_round_trips_its_body_through_the_state() -> None:
    request = PageRequest("/search", {"v": 2}).with_body(**{"paging.page": 3, "query": "x"})
    assert request.body == {"paging": {"page": 3}, "query": "x"}
    assert PageRequest.from_state(json.loads(json.dumps(request.to_state()))) == request
    assert request.with_body(query=None).body == {"paging": {"page": 3}}
    assert PageRequest("/x").to_state() == {"url": "/x", "params": {}}  # states without a body are unchanged


# -- positions the vendor refuses as expired ---------------------------------------------------

EXPIRED = expired_on(400, message="PAGE_TOKEN_EXPIRED")


def test_an_expired_page_token_starts_the_pass_again_and_loses_nothing(search: Search) -> None:
    first = walk(search, "/expiring", CursorPaginator("next", param="token"), "data", stop_after=2)
    committed = json.loads(json.dumps(first[-1].state()))
    search.generation += 1  # every token handed out so far expires (a run killed for too long)
    rest = walk(search, "/expiring", CursorPaginator("next", param="token"), "data", resume=committed["next"],
                expired=EXPIRED)
    assert rest[0].restarted and not any(page.restarted for page in rest[1:])
    assert ids(rest) == [item["id"] for item in ITEMS]  # the pass again, whole: duplicates are stored once
    with pytest.raises(BadStatus, match="PAGE_TOKEN_EXPIRED"):  # without `expired=`, the listing stops
        walk(search, "/expiring", CursorPaginator("next", param="token"), "data", resume=committed["next"])


def test_a_first_request_refused_as_expired_raises_and_endless_expiry_stops(search: Search) -> None:
    refused = PageRequest("/expiring", {"token": "old:0"})
    with pytest.raises(PositionExpired, match="as expired"):
        walk(search, "/expiring", CursorPaginator("next", param="token"), "data", params={"token": "old:0"},
             resume=refused, expired=EXPIRED)
    search.after_request("metadata", lambda request: setattr(search, "generation", search.generation + 1), times=50)
    with pytest.raises(TenantError, match="as expired again after 3 restarts"):
        walk(search, "/expiring", CursorPaginator("next", param="token"), "data", expired=EXPIRED)


def test_expired_on_matches_status_and_words() -> None:
    assert expired_on(410)(BadStatus(410, "GET", "/x"))
    assert not expired_on(410)(BadStatus(400, "GET", "/x"))
    assert expired_on(400, message="token expired")(BadStatus(400, "GET", "/x", "The Token Expired."))
    assert not expired_on(400, message="token expired")(BadStatus(400, "GET", "/x", "bad filter"))
    assert not expired_on(400)(ValueError("not an HTTP failure"))


# -- the watermark reads every format, and never ignores what it cannot read --------------------

def test_the_watermark_reads_rfc_2822_and_epoch_times() -> None:
    now = START + timedelta(days=1)
    for value in ("Fri, 01 May 2026 10:22:00 +0000", 1777630920, "1777630920000", "2026-05-01T12:22:00+02:00"):
        page = Incremental(None, start=START, overlap=timedelta(0), now=now).page(listed([{"at": value}], None),
                                                                                time="at")
        assert page.state == {"watermark": "2026-05-01T10:22:00.000000Z", "pass": None}, value
    naive = Incremental(None, start=START, overlap=timedelta(0), now=now, zone="Europe/Paris")
    assert naive.page(listed([{"at": "2026-05-01 12:22:00"}], None), time="at").state == {
        "watermark": "2026-05-01T10:22:00.000000Z", "pass": None}


def test_a_pass_whose_times_cannot_be_read_raises_naming_the_field_and_shape_not_the_value() -> None:
    inc = Incremental(None, start=START, overlap=timedelta(0), now=START + timedelta(days=1))
    inc.page(listed([{"at": "Fri 01/05/2026 sk-9f8e7d"}], PageRequest("/x", {"page": 2})), time="at")
    with pytest.raises(TenantError) as raised:
        inc.page(listed([{"at": "Fri 01/05/2026 sk-9f8e7d"}, "not an object"], None), time="at")
    assert "`at`" in raised.value.reason and '"Aaa 99/99/9999 aa-9a9a9a"' in raised.value.reason
    assert "sk-9f8e7d" not in raised.value.reason and inc.unreadable == 2
    naive = Incremental(None, start=START, overlap=timedelta(0))  # a time without a zone needs `zone=`
    with pytest.raises(TenantError, match=r"no time zone|`zone=`"):
        naive.page(listed([{"at": "2026-05-01 12:22:00"}], None), time="at")


def test_a_cursor_paginator_can_read_on_past_empty_pages() -> None:
    """Some vendors send short or empty pages while more follow: only a missing cursor ends the pass."""
    import httpx

    from collector import JsonAnswer, PageRequest

    def answer(body: dict[str, object]) -> JsonAnswer:
        return JsonAnswer(body, 200, httpx.Headers(), {}, httpx.URL("http://vendor.test/list"))

    request = PageRequest("/list", {})
    empty_with_more = answer({"next_cursor": "c2"})
    assert CursorPaginator().following(request, empty_with_more, []) is None  # the default: empty ends it
    following = CursorPaginator(until_empty=False).following(request, empty_with_more, [])
    assert following is not None and following.params["cursor"] == "c2"
    assert CursorPaginator(until_empty=False).following(request, answer({"next_cursor": None}), []) is None
