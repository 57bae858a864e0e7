"""Malformed items are quarantined by the core whatever the listing shape, and the listing goes on.

One vendor lists the same items (six recordings and six malformed items: a string, a number, null,
a list, an object without the time `parse` needs, an object whose time is garbage) behind every
listing shape the toolkit offers; a plain source per shape hands the items on as listed (no
filtering by hand), and a real run must store the six, quarantine the six with a reason, commit
the listing's position and finish.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import (
    ChangeFeed,
    CursorPaginator,
    Incremental,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    Recording,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    TimeWindows,
    hookimpl,
    iso,
    paginate,
    parse_time,
)
from collector.emulator import EmulatorServer, Request, Response, synth_audio
from collector.engine import Plugins
from collector.testing import collect, query_catalog, sync_state, write_config

BASE = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
GOOD = [{"id": f"g{n}", "start": iso(BASE + timedelta(hours=n)), "duration": 1.0} for n in range(6)]
BAD: list[Any] = ["a string", 7, None, [1, 2], {"id": "no-start"}, {"id": "bad-start", "start": "yesterday"}]
ITEMS = [item for pair in zip(GOOD, BAD, strict=True) for item in pair]  # interleaved: every page holds some of each


class Shapes(EmulatorServer):
    """The same twelve items behind every listing shape."""

    def __init__(self) -> None:
        super().__init__()
        self.token = os.urandom(8).hex()
        for route, handler in (("/cursor", self.cursor), ("/next", self.next_url), ("/offset", self.offset),
                               ("/pages", self.pages), ("/window", self.window), ("/changes", self.changes),
                               ("/since", self.since)):
            self.add_route("GET", route, "metadata", handler)
        self.add_route("GET", r"/audio/(?P<item_id>.+)", "audio", self.audio)

    def cursor(self, request: Request) -> Response:
        at = int(request.query.get("cursor") or 0)
        return Response.json({"data": ITEMS[at:at + 5], "next": str(at + 5) if at + 5 < len(ITEMS) else None})

    def next_url(self, request: Request) -> Response:
        at = int(request.query.get("from") or 0)
        return Response.json({"results": ITEMS[at:at + 5],
                              "links": {"next": f"next?from={at + 5}" if at + 5 < len(ITEMS) else None}})

    def offset(self, request: Request) -> Response:
        at, limit = int(request.query["offset"]), int(request.query["limit"])
        return Response.json({"items": ITEMS[at:at + limit], "total": len(ITEMS)})

    def pages(self, request: Request) -> Response:
        page, size = int(request.query["page"]), int(request.query["per_page"])
        return Response.json({"rows": ITEMS[(page - 1) * size:page * size]})

    def window(self, request: Request) -> Response:  # the malformed items are listed in the first window
        low, high = parse_time(request.query["from"]), parse_time(request.query["to"])
        chosen = [item for n, item in enumerate(ITEMS) if low <= (BASE + timedelta(hours=n // 2)) < high]
        page, size = int(request.query["page"]), int(request.query["per_page"])
        return Response.json({"rows": chosen[(page - 1) * size:page * size]})

    def changes(self, request: Request) -> Response:
        at = int(request.query.get("page_token") or 0)
        body: dict[str, Any] = {"changes": ITEMS[at:at + 5]}
        body.update({"next_page_token": str(at + 5)} if at + 5 < len(ITEMS) else {"next_sync_token": "s1"})
        return Response.json(body)

    def since(self, request: Request) -> Response:
        return self.cursor(request)

    def audio(self, request: Request, item_id: str) -> Response:
        return Response(200, synth_audio(item_id, duration=1.0, fmt="wav"), "audio/wav")


class ShapeSettings(SourceSettings):
    """A tenant of the shapes vendor, listed in one shape."""

    base_url: str
    token: Secret
    shape: str


class ShapeSource(Source):
    """Hands every listed item on as it is: the core must quarantine the malformed ones."""

    name = "shapes"
    Settings = ShapeSettings
    settings: ShapeSettings

    def __init__(self, settings: ShapeSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.token))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        shape, resume = self.settings.shape, (state or {}).get("next")
        simple = {"cursor": ("/cursor", "data", CursorPaginator("next", param="cursor")),
                  "next_url": ("/next", "results", NextUrlPaginator("links.next")),
                  "offset": ("/offset", "items", OffsetPaginator(5)),
                  "page_number": ("/pages", "rows", PageNumberPaginator(5, total=None))}
        if shape in simple:
            url, items, paginator = simple[shape]
            async for listed in paginate(self.http, url, items=items, paginator=paginator, resume=resume):
                yield Page(listed.items, listed.state())
        elif shape == "watermark":
            run = Incremental(state, start=BASE, overlap=timedelta(hours=1))
            async for listed in paginate(self.http, "/since", items="data", paginator=CursorPaginator("next"),
                                         resume=run.resume):
                yield run.page(listed, time="start")
        elif shape == "windows":
            sweep = TimeWindows(size=timedelta(hours=2), lookback=timedelta(0), settle=timedelta(0),
                                start=BASE).sweep(state, now=BASE + timedelta(hours=8))
            for window in sweep.windows:
                listing = paginate(self.http, "/window", items="rows", paginator=PageNumberPaginator(3, total=None),
                                   params={"from": iso(window.start), "to": iso(window.end)})
                async for page in sweep.pages(window, listing, time="start"):
                    yield page
        else:
            feed = ChangeFeed(self.context, self.http, "/changes", items="changes", token="next_sync_token",
                              token_param="sync_token",
                              paginator=CursorPaginator("next_page_token", param="page_token"),
                              deleted=lambda item: item["id"] if item.get("deleted") else None)
            async for page in feed.sync(state):
                yield page

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                          start=parse_time(item["start"]), duration=item["duration"], raw=dict(item))]

    def open_audio(self, recording: Recording) -> Any:
        return self.http.stream("GET", f"/audio/{recording.vendor_id}")


class ShapesPlugin:
    @hookimpl
    def collector_register_sources(self, register: Callable[[type[Source]], None]) -> None:
        register(ShapeSource)


@pytest.fixture
def shapes() -> Iterator[Shapes]:
    with Shapes() as server:
        yield server


SHAPES = ["cursor", "next_url", "offset", "page_number", "watermark", "windows", "change_feed"]


@pytest.mark.parametrize("shape", SHAPES)
def test_malformed_items_are_quarantined_and_the_listing_goes_on(shapes: Shapes, tmp_path: Path, shape: str) -> None:
    os.environ[f"SHAPES_TOKEN_{shapes.port}"] = shapes.token
    config = write_config(tmp_path, [{"plugin": "shapes", "tenant": shape, "base_url": shapes.url, "shape": shape,
                                      "token": {"env": f"SHAPES_TOKEN_{shapes.port}"},
                                      "rate_limit": {"requests": 500, "per_seconds": 1}}])
    plugins = Plugins(entry_points_group=None, extra=[ShapesPlugin()])
    first = collect(config, plugins)
    (summary,) = first.summaries
    assert (summary.new_recordings, summary.quarantined) == (6, 6), summary.as_dict()
    assert not any("stopped" in message for message in summary.messages), summary.messages
    reasons = [row[0] for row in query_catalog(tmp_path / "store",
                                               "SELECT reason FROM quarantine WHERE kind='metadata'")]
    assert len(reasons) == 6 and all(reason.endswith(".") for reason in reasons), reasons
    assert sum("not a JSON object" in reason for reason in reasons) == 4, reasons
    assert sync_state(tmp_path / "store", "shapes", shape) is not None  # the position was committed
    again = collect(config, plugins)
    assert again.summaries[0].new_recordings == 0
