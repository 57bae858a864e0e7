"""`not_ready_on`: a status the vendor documents as "still processing" becomes `ItemNotReady`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from collector import (
    BadStatus,
    HttpClient,
    ItemNotReady,
    RateLimit,
    Redirects,
    RetrySettings,
    Traffic,
)
from collector.emulator import EmulatorError, EmulatorServer, Request, Response, synth_audio


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
