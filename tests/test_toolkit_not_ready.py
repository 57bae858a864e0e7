"""`not_ready_on`: a status the vendor documents as "still processing" becomes `ItemNotReady`, with
the vendor's estimate when it gives one (no attempt, no retry); `unavailable_on`: "gone for good"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import (
    BadStatus,
    HttpClient,
    ItemNotReady,
    ItemUnavailable,
    MediaAvailability,
    RateLimit,
    Recording,
    Redirects,
    RetrySettings,
    Source,
    Traffic,
    hookimpl,
    now_utc,
    parse_iso,
)
from collector.emulator import (
    EmulatorError,
    EmulatorServer,
    Request,
    Response,
    synth_audio,
)
from collector.engine import Plugins
from collector.testing import collect, query_catalog, write_config


class ProcessingApi(EmulatorServer):
    """`/media/{id}` answers 409 while the media is processing, 404 for an unknown id."""

    def __init__(self) -> None:
        super().__init__()
        self.processing = {"rec-1"}
        self.add_route("GET", r"/media/(?P<rid>[^/]+)", "audio", self.media)
        self.add_route("GET", r"/report/(?P<rid>[^/]+)", "metadata", self.report)

    def media(self, request: Request, rid: str) -> Response:
        if rid in self.processing:
            raise EmulatorError(409, "The recording is still processing.")
        if rid != "rec-2":
            raise EmulatorError(404, "No such recording.")
        return Response(200, synth_audio(rid, duration=1.0, fmt="wav"), "audio/wav")

    def report(self, request: Request, rid: str) -> Response:
        if rid in self.processing:
            return Response(409, b"")
        return Response.json({"id": rid})


@pytest.fixture
def api() -> Iterator[ProcessingApi]:
    with ProcessingApi() as server:
        yield server


def client(server: EmulatorServer) -> HttpClient:
    traffic = Traffic(RateLimit(requests=100, per_seconds=1),
                      retry=RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.05), timeout=10)
    return HttpClient(server.url, traffic)


async def download(http: HttpClient, path: str) -> bytes:
    try:
        async with http.stream("GET", path, redirects=Redirects(), not_ready_on=(409,)) as response:
            return await response.aread()
    finally:
        await http.aclose()


def test_a_not_ready_status_raises_item_not_ready_without_retrying(api: ProcessingApi) -> None:
    with pytest.raises(ItemNotReady, match=r"GET /media/rec-1 answered HTTP 409 \(not ready yet\): "
                                           r"The recording is still processing\."):
        asyncio.run(download(client(api), "/media/rec-1"))
    assert api.count(kind="audio") == 1


def test_other_statuses_and_successes_are_unchanged(api: ProcessingApi) -> None:
    with pytest.raises(BadStatus) as refused:
        asyncio.run(download(client(api), "/media/rec-9"))
    assert refused.value.status == 404
    assert asyncio.run(download(client(api), "/media/rec-2")) == synth_audio("rec-2", duration=1.0, fmt="wav")


def test_json_requests_take_not_ready_on_too(api: ProcessingApi) -> None:
    async def report(rid: str) -> object:
        http = client(api)
        try:
            return await http.json("GET", f"/report/{rid}", not_ready_on=(409,))
        finally:
            await http.aclose()

    with pytest.raises(ItemNotReady, match=r"answered HTTP 409 \(not ready yet\)\.$"):
        asyncio.run(report("rec-1"))
    assert asyncio.run(report("rec-2")) == {"id": "rec-2"}


# -- "not ready" with the vendor's estimate (202, or a body the plugin maps) ---------------------------

class EstimatingApi(EmulatorServer):
    """`GET /jobs/{id}` answers 202 with an estimate for its first `pending[id]` requests, then 200.

    The estimate is a Retry-After in seconds (`retry_after`), an HTTP date (`date`), or a body field
    `eta_seconds` in a 200 whose `status` is "processing" (`body`). `GET /files/{id}` answers 404:
    gone, or not yet, as only the listing knows.
    """

    def __init__(self, style: str = "retry_after", estimate: float = 1.0) -> None:
        super().__init__()
        self.style = style
        self.estimate = estimate
        self.pending: dict[str, int] = {}
        self.add_route("GET", r"/jobs/(?P<rid>[^/]+)", "metadata", self.job)
        self.add_route("GET", r"/files/(?P<rid>[^/]+)", "audio", self.file)

    def job(self, request: Request, rid: str) -> Response:
        left = self.pending.get(rid, 0)
        if left <= 0:
            return Response.json({"id": rid, "status": "done"})
        self.pending[rid] = left - 1
        if self.style == "body":
            return Response.json({"id": rid, "status": "processing", "eta_seconds": self.estimate})
        if self.style == "date":
            import time
            from email.utils import formatdate

            return Response.json({"id": rid}, 202, {"Retry-After": formatdate(time.time() + self.estimate,
                                                                               usegmt=True)})
        return Response.json({"id": rid}, 202, {"Retry-After": f"{self.estimate:g}"})

    def file(self, request: Request, rid: str) -> Response:
        raise EmulatorError(404, "Not found.")


def job(server: EmulatorServer, rid: str, retry: RetrySettings | None = None,
        **options: object) -> tuple[object, HttpClient]:
    http = HttpClient(server.url, Traffic(RateLimit(requests=100, per_seconds=1),
                                          retry=retry or RetrySettings(attempts=3, initial_wait=0.01), timeout=10))

    async def scenario() -> object:
        try:
            return await http.json("GET", f"/jobs/{rid}", **options)  # type: ignore[arg-type]
        finally:
            await http.aclose()

    return asyncio.run(scenario()), http


def test_a_202_with_a_short_estimate_is_waited_within_the_call_and_is_no_retry(
        caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import time

    caplog.set_level(logging.INFO)
    with EstimatingApi(estimate=1) as api:
        api.pending["a"] = 1
        started = time.monotonic()
        body, http = job(api, "a", not_ready_on=(202,))
        assert body == {"id": "a", "status": "done"}
        assert time.monotonic() - started >= 0.95  # the vendor's estimate, not the fault backoff (0.01 s)
        assert http.stats.retries == 0 and http.stats.not_ready == 1 and http.stats.requests == 2
        assert "Retrying" not in caplog.text


def test_without_not_ready_on_a_202_is_an_answer_as_before() -> None:
    with EstimatingApi() as api:
        api.pending["a"] = 1
        body, _ = job(api, "a")
        assert body == {"id": "a"}


@pytest.mark.parametrize("style", ["retry_after", "date", "body"])
def test_a_long_estimate_leaves_the_item_waiting_with_it(style: str) -> None:
    with EstimatingApi(style, estimate=120) as api:
        api.pending["a"] = 5
        options: dict[str, Any] = {"not_ready_on": (202,)}
        if style == "body":
            options = {"not_ready_when": lambda answer: answer.field("status") == "processing",
                       "estimate": "eta_seconds"}
        with pytest.raises(ItemNotReady, match=r"not ready yet, ready in about 1[12]\d s") as raised:
            job(api, "a", **options)
        assert raised.value.retry_after is not None and 115 <= raised.value.retry_after <= 120
        assert api.count() == 1


def test_waiting_within_a_call_is_bounded_by_ready_wait() -> None:
    with EstimatingApi(estimate=0.4) as api:
        api.pending["a"] = 10
        with pytest.raises(ItemNotReady):
            job(api, "a", RetrySettings(attempts=3, ready_wait=1.0), not_ready_on=(202,))
        assert api.count() == 3  # waited 0.4 + 0.4; a third 0.4 would pass 1.0
        api.pending["b"] = 10
        with pytest.raises(ItemNotReady):
            job(api, "b", RetrySettings(attempts=3, ready_wait=0), not_ready_on=(202,))
        assert api.count() == 4  # ready_wait = 0: never waited within the run


# -- "gone for good", and what a 404 means decided by the listed status ----------------------------

def test_unavailable_on_means_gone_for_good_without_retrying() -> None:
    with EstimatingApi() as api:
        async def scenario() -> None:
            http = client(api)
            try:
                async with http.stream("GET", "/files/x", unavailable_on=(404, 410)):
                    pass
            finally:
                await http.aclose()

        with pytest.raises(ItemUnavailable, match=r"GET /files/x answered HTTP 404 \(gone for good\): Not found\."):
            asyncio.run(scenario())
        assert api.count() == 1


def media(http: HttpClient, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
    """The README's example: a vendor that answers 404 both for "not yet" and for "gone"."""
    if recording.media is MediaAvailability.PROCESSING:  # listed as still processing: not yet
        return http.stream("GET", f"/files/{recording.vendor_id}", not_ready_on=(404,))
    return http.stream("GET", f"/files/{recording.vendor_id}", unavailable_on=(404,))  # listed as ready: gone


@pytest.mark.parametrize(("listed", "error"), [(MediaAvailability.PROCESSING, ItemNotReady),
                                               (MediaAvailability.AVAILABLE, ItemUnavailable)])
def test_the_listed_status_decides_what_a_404_means(listed: MediaAvailability, error: type[Exception]) -> None:
    recording = Recording(source="s", tenant="t", vendor_id="r1", start=datetime(2026, 3, 1, 10, tzinfo=UTC),
                          media=listed, raw={})
    with EstimatingApi() as api:
        async def scenario() -> None:
            http = client(api)
            try:
                async with media(http, recording):
                    pass
            finally:
                await http.aclose()

        with pytest.raises(error):
            asyncio.run(scenario())
        assert api.count() == 1


# -- in a run: no attempt, no retry, and a later run asks no earlier than the estimate -------------

def test_a_run_keeps_the_estimate_and_a_later_run_does_not_ask_before_it(
        tmp_path: Path, Toy: type[Any], toy_source: Callable[..., dict[str, Any]],
        toy_source_class: type[Source]) -> None:
    class EstimatingToy(Toy):  # type: ignore[misc]
        def audio(self, request: Request, item_id: str) -> Response:
            if item_id in self.not_ready:
                return Response.json({"state": "transcoding"}, 202, {"Retry-After": "3600"})
            return super().audio(request, item_id)  # type: ignore[no-any-return]

    class Source202(toy_source_class):  # type: ignore[valid-type, misc]
        def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
            return self.http.stream(  # type: ignore[no-any-return]  # a fixture's class as the base: Any to mypy
                "GET", f"/audio/{recording.vendor_id}", not_ready_on=(202,))

    class Plugin:
        @hookimpl
        def collector_register_sources(self, register: Callable[[type[Source]], None]) -> None:
            register(Source202)

    plugins = Plugins(entry_points_group=None, extra=[Plugin()])
    with EstimatingToy(3) as toy:
        toy.not_ready.add("t0001")
        config = write_config(tmp_path, [toy_source(toy, max_attempts=1, transcripts=False, media_wait_days=365)])
        first = collect(config, plugins)
        (summary,) = first.summaries
        assert (summary.audio_files, summary.waiting, summary.retried, summary.failed) == (2, 1, 0, 0)
        [(status, attempts, not_before)] = query_catalog(
            tmp_path / "store", "SELECT status, attempts, not_before FROM audio WHERE vendor_id='t0001'")
        assert status == "waiting" and attempts == 0
        assert 3500 < (parse_iso(not_before) - now_utc()).total_seconds() <= 3600
        asked = toy.count(kind="audio")
        second = collect(config, plugins)
        assert toy.count(kind="audio") == asked, "a later run asked before the vendor's estimate"
        assert second.summaries[0].waiting == 1
