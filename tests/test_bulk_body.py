"""Large bodies read from the connection directly (`collector._http._bulk`), over real HTTP.

Bodies of at least `DIRECT_FROM` bytes with a plain Content-Length skip httpx's parser after
their first piece; every other body streams through httpx. Both must give the same bytes, and
the faults a body can meet (the connection dropped half-way, a stall) must end the same way.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector._http._bulk import DIRECT_FROM, body_chunks
from collector.engine import Plugins
from collector.testing import collect, inspect_store, query_catalog, write_config

BIG = DIRECT_FROM + 1_234_567
BODY = hashlib.shake_256(b"bulk").digest(BIG)
LONG_SECONDS = 600.0
"""A toy recording this long is a 9.6 MB WAV: above `DIRECT_FROM`."""


class Handler(BaseHTTPRequestHandler):
    """/plain: the body with a Content-Length; /gzip: gzip-encoded; /chunked: chunked;
    /half: half the body, then the connection closes; /stall: half, then silence."""

    protocol_version = "HTTP/1.1"
    peers: list[int]

    def do_GET(self) -> None:
        self.peers.append(self.client_address[1])
        body, headers = BODY, {"Content-Type": "application/octet-stream"}
        if self.path == "/gzip":
            body = gzip.compress(BODY, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 1 << 20):
                piece = body[start:start + (1 << 20)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in ("/half", "/stall"):
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            if self.path == "/stall":
                time.sleep(2)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the standard library's name
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    peers: list[int] = []
    handler = type("Recording", (Handler,), {"peers": peers})
    running = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=running.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{running.server_address[1]}", peers
    finally:
        running.shutdown()
        running.server_close()


def fetch(url: str, paths: list[str], *, read_timeout: float = 10.0) -> list[bytes | Exception]:
    """Each path's body as `body_chunks` gives it (or the error it raised), one client for all."""

    async def run() -> list[bytes | Exception]:
        results: list[bytes | Exception] = []
        timeout = httpx.Timeout(10.0, read=read_timeout)
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
            for path in paths:
                try:
                    async with client.stream("GET", path) as response:
                        results.append(b"".join([chunk async for chunk in body_chunks(response)]))
                except httpx.HTTPError as exc:
                    results.append(exc)
        return results

    return asyncio.run(run())


def test_every_kind_of_body_arrives_whole(server: tuple[str, list[int]]) -> None:
    url, peers = server
    plain, again, encoded, chunked = fetch(url, ["/plain", "/plain", "/gzip", "/chunked"])
    assert plain == again == encoded == chunked == BODY
    # The direct reads leave the connection unusable for another request: it is closed, not reused.
    assert peers[0] != peers[1]


@pytest.mark.parametrize(("path", "error"), [("/half", httpx.RemoteProtocolError), ("/stall", httpx.ReadTimeout)])
def test_a_body_cut_short_or_stalled_raises_what_httpx_would(server: tuple[str, list[int]], path: str,
                                                            error: type[Exception]) -> None:
    url, _ = server
    (result,) = fetch(url, [path], read_timeout=0.5)
    assert isinstance(result, error)


def test_large_recordings_are_stored_intact_through_dropped_and_stalled_connections(
        tmp_path: Path, Toy: Any, toy_source: Any, toy_plugins: Plugins) -> None:
    with Toy(3) as toy:
        for item in toy.items:
            item["duration"], item["size"] = LONG_SECONDS, int(LONG_SECONDS * 16000) + 44
        toy.faults.stall_seconds = 3.0
        toy.faults.inject("drop_body", kind="audio", count=2)
        toy.faults.inject("stall", kind="audio", count=1)
        config = write_config(tmp_path, [toy_source(toy, transcripts=False, download_workers=1,
                                                    download_idle_timeout=1.0,
                                                    retry={"attempts": 5, "initial_wait": 0.01, "max_wait": 0.05})])
        result = collect(config, toy_plugins)
        assert result.exit_code == 0 and result.summaries[0].audio_files == 3
        store = tmp_path / "store"
        contents = inspect_store(store)
        assert not contents.problems and len(contents.audio["alpha"]) == 3
        assert toy.count(kind="audio") == 6  # three transfers broke off and were fetched again
        stored = {digest for (digest,) in query_catalog(store, "SELECT sha256 FROM audio WHERE status='stored'")}
        assert stored == set(toy.served_audio["all"])  # each file as the vendor sent it whole
        assert query_catalog(store, "SELECT SUM(bytes) FROM egress")[0][0] == toy.bytes_sent["audio"]
