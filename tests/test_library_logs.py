"""The HTTP libraries' own log lines (httpx, httpcore) never carry a signed URL's query or a key.

httpcore logs a redirect's `Location` header the moment it arrives, before the collector has seen
the signature in it; httpx logs every request's URL at INFO. Whatever handler receives those
records (a test runner's, an embedding application's), they reach it masked.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from collector import ApiKeyAuth, HttpClient, RateLimit, Redirects, RetrySettings, Secret, Traffic
from collector.emulator import EmulatorError, EmulatorServer, Request, Response, StorageServer, synth_audio

KEY = "query-key-0123456789abcdef"


class SignedMedia(EmulatorServer):
    """`/media/{id}?key=...` answers 302 to a signed URL on the storage host."""

    def __init__(self, storage: StorageServer) -> None:
        super().__init__()
        self.storage = storage
        self.add_route("GET", r"/media/(?P<rid>[^/]+)", "audio", self.media)

    def media(self, request: Request, rid: str) -> Response:
        if request.query.get("key") != KEY:
            raise EmulatorError(401, "No.")
        self.storage.put(rid, lambda: synth_audio(rid, duration=1.0, fmt="wav"), "audio/wav")
        return Response.redirect(self.storage.signed_url(rid, ttl=60))


def test_library_log_lines_keep_no_signature_and_no_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):  # `collector run` quiets them; an embedding application may not
        caplog.set_level(logging.DEBUG, logger=name)

    async def download(server: SignedMedia) -> bytes:
        traffic = Traffic(RateLimit(requests=100, per_seconds=1),
                          retry=RetrySettings(attempts=2, initial_wait=0.01, max_wait=0.05), timeout=10)
        http = HttpClient(server.url, traffic, auth=ApiKeyAuth(Secret(KEY, "test"), param="key"))
        try:
            async with http.stream("GET", "/media/rec-1", redirects=Redirects()) as response:
                return await response.aread()
        finally:
            await http.aclose()

    with StorageServer() as storage, SignedMedia(storage) as server:
        assert asyncio.run(download(server)) == synth_audio("rec-1", duration=1.0, fmt="wav")
        signature = storage.signed[0]
    library = [r for r in caplog.records if r.name.split(".")[0] in ("httpx", "httpcore")]
    assert any("Location" in r.getMessage() for r in library), "httpcore logged no response headers"
    assert any("?[redacted]" in r.getMessage() for r in library)
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert signature not in text and KEY not in text
