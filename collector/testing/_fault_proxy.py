"""A real HTTP reverse proxy on 127.0.0.1 that puts faults between a client and an S3 server.

`FaultyProxy(upstream)` listens on an ephemeral loopback port and relays every request to
`upstream` (the S3 server's endpoint, e.g. `S3Server.endpoint`) and every answer back, on one
upstream connection per client connection (keep-alive both ways), one thread per connection.
Bodies are streamed through in 1 MiB pieces, never held whole: a multipart upload of a big
recording costs the proxy no memory.

**Byte-for-byte.** The request line (method and raw path with its query string) and every header,
`Host` included, go upstream exactly as the client sent them, in order, and the proxy adds none;
the answer's status line and headers come back the same way. That is what lets S3 signatures
pass: the client, configured with the proxy's endpoint, signs (AWS SigV4) the proxy's
`127.0.0.1:<port>` as the host, and SeaweedFS checks the signature against the `Host` header it
receives (not against its own address), so an unchanged `Host` verifies, and a wrong key is still
refused. Checked with SeaweedFS 4 (`weed mini`) and obstore 0.12: signed PUT (put-if-absent too),
multipart, HEAD, GET, LIST, COPY and DELETE pass through. Exceptions to byte-for-byte: an answer
the upstream sends chunked is relayed chunked again (the same bytes, maybe in other chunk sizes);
`Expect: 100-continue` is relayed, not answered, so a client that waits for the 100 waits for its
own timeout (obstore sends none).

**Faults**, drawn per request like `collector.emulator.FaultPlan`'s: scripted ones first
(`inject("503", on="PUT", count=2)`), then random ones at a rate (`set_rate(0.2, ["500", "503"],
on=["PUT", "POST", "HEAD"])`). A plan key (`on`) is an HTTP method (`PUT`, `POST`, `GET`,
`HEAD`, `DELETE`), an S3 operation (`UploadPart`, `PutObject`, `CreateMultipartUpload`,
`CompleteMultipartUpload`, `HeadObject`, `GetObject`, `ListObjects`, `CopyObject`, ...; see
`operation`) or `"any"`; the most specific key that has a fault due wins. The faults:

- `"500"`, `"503"`: the request's body is read (and dropped), nothing reaches the server, and an
  S3-style XML error answers (`InternalError`; `SlowDown` with `Retry-After: <retry_after>`);
- `"slow"`: the request waits `slow_seconds` before it is forwarded (and then succeeds);
- `"drop_upload"`: only requests with a body: half of the body is read, then the connection is
  reset (RST), as if the network broke mid-upload; nothing reaches the server;
- `"drop_answer"`: the request is forwarded and done by the server, then the connection is reset
  before the answer is relayed (the client cannot know its upload landed).

`injected` counts what was injected per (operation, fault), `requests` every request per
operation, and `count(fault=..., on=...)` sums them; `log` keeps every request (`ProxiedRequest`:
operation, target, status relayed, fault) for a failing test to show.
"""

from __future__ import annotations

import collections
import http.client
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from collector.emulator._server import LOOPBACK, LoopbackService

FAULTS = ("500", "503", "slow", "drop_upload", "drop_answer")
"""Every fault the proxy can inject (see the module docstring)."""

_PIECE = 1 << 20
_ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again. (injected by FaultyProxy)"),
    503: ("SlowDown", "Please reduce your request rate. (injected by FaultyProxy)"),
}


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy saw it."""

    operation: str
    target: str
    """The path and query string."""
    status: int | None
    """The status relayed to the client (None: its connection was reset)."""
    fault: str | None


def operation(method: str, target: str, headers: Any = None) -> str:
    """The S3 operation a request is, from its method, target (path?query) and headers."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path.strip("/")
    is_object = "/" in path  # path style: /bucket/key...
    copy = headers is not None and headers.get("x-amz-copy-source") is not None
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPartCopy" if copy else "UploadPart"
        if not is_object:
            return "CreateBucket"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in query else "PostObject"
    if method == "GET":
        if not is_object:
            return "ListObjects"
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "HEAD":
        return "HeadObject" if is_object else "HeadBucket"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObject" if is_object else "DeleteBucket"
    return method


class FaultyProxy(LoopbackService):
    """A loopback reverse proxy in front of an S3 server that injects faults (see the module doc)."""

    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FaultyProxy relays plain HTTP only; {upstream!r} is not an http:// URL.")
        self.upstream = (parts.hostname, parts.port or 80)
        self.slow_seconds = 0.3
        """How long a "slow" request waits before it is forwarded."""
        self.retry_after: str | None = "1"
        """The Retry-After header sent with injected 503s (None: none)."""
        self.injected: collections.Counter[tuple[str, str]] = collections.Counter()
        """Faults injected, per (operation, fault)."""
        self.requests: collections.Counter[str] = collections.Counter()
        """Requests received, per operation (faulted ones included)."""
        self.log: list[ProxiedRequest] = []
        """Every request, in the order they ended."""
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._scripted: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._rates: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._methods: dict[str, str] = {}

    # -- the plan ----------------------------------------------------------------------------------

    def inject(self, fault: str, *, on: str = "any", count: int = 1) -> None:
        """Apply `fault` to the next `count` requests matching `on` (a method, an operation, "any")."""
        _check(fault)
        with self._lock:
            self._scripted[on].extend([fault] * count)

    def set_rate(self, rate: float, faults: Sequence[str] = ("500", "503"), *, on: Iterable[str] = ("any",)) -> None:
        """Fail a fraction `rate` of the requests matching each key of `on` with a fault from `faults`."""
        for fault in faults:
            _check(fault)
        with self._lock:
            for key in on:
                self._rates[key] = (rate, tuple(faults))

    def clear(self) -> None:
        """No more faults (the counts stay)."""
        with self._lock:
            self._scripted.clear()
            self._rates.clear()

    def draw(self, method: str, op: str, has_body: bool) -> str | None:
        """The fault for the next request (`method`, S3 operation `op`), if one is due; counted."""
        keys = (op, method, "any")
        with self._lock:
            self.requests[op] += 1
            self._methods[op] = method
            fault = self._draw_scripted(keys, has_body)
            if fault is None:
                for key in keys:
                    if key in self._rates:
                        rate, faults = self._rates[key]
                        usable = [f for f in faults if has_body or f != "drop_upload"]
                        if usable and self._random.random() < rate:
                            fault = self._random.choice(usable)
                        break
            if fault is not None:
                self.injected[(op, fault)] += 1
        return fault

    def _draw_scripted(self, keys: Sequence[str], has_body: bool) -> str | None:
        for key in keys:
            queue = self._scripted.get(key)
            if queue and (has_body or queue[0] != "drop_upload"):
                return queue.popleft()
        return None

    def record(self, op: str, target: str, status: int | None, fault: str | None) -> None:
        """Log a request that ended (relayed with `status`, or reset when None)."""
        with self._lock:
            self.log.append(ProxiedRequest(op, target, status, fault))

    def count(self, *, fault: str | None = None, on: str | None = None) -> int:
        """How many faults were injected (of `fault`, on requests whose operation or method is `on`)."""
        with self._lock:
            return sum(n for (op, f), n in self.injected.items()
                       if (fault is None or f == fault) and (on is None or on in (op, self._methods.get(op))))

    # -- serving -----------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on an ephemeral port on 127.0.0.1 and relay from background threads."""
        server = _Server((LOOPBACK, 0), _Handler)
        server.proxy = self
        return self._serve(server)

    @property
    def endpoint(self) -> str:
        """The proxy's URL: give it to the S3 client instead of the server's."""
        return self.url


def _check(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"Unknown fault {fault!r}; FaultyProxy knows {', '.join(FAULTS)}.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: FaultyProxy


class _Handler(BaseHTTPRequestHandler):
    """One client connection: each request relayed upstream on this connection's own upstream one."""

    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: tests look at the counts, not at a log."""

    def handle_expect_100(self) -> bool:
        """Let the upstream answer `Expect: 100-continue` (the header is relayed with the rest)."""
        return True

    def do_relay(self) -> None:
        """Relay one request (or inject its fault), and log it."""
        proxy = self.server.proxy
        length = self._request_length()
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        op = operation(self.command, self.path, self.headers)
        fault = proxy.draw(self.command, op, bool(length) or chunked)
        status: int | None = None
        try:
            status = self._relay(fault, length, chunked)
        finally:
            proxy.record(op, self.path, status, fault)

    def _relay(self, fault: str | None, length: int, chunked: bool) -> int | None:
        """Relay the request with `fault`; returns the status sent (None: the connection was reset)."""
        if fault in ("500", "503"):
            self._drain(length, chunked)
            return self._answer_error(int(fault))
        if fault == "drop_upload":
            if chunked:
                self.rfile.readline(65537)  # the first chunk's size line: the body has begun
            else:
                self._skip_body(max(1, length // 2))
            self._reset()
            return None
        if fault == "slow":
            time.sleep(self.server.proxy.slow_seconds)
        try:
            response = self._forward(length, chunked)
        except (OSError, http.client.HTTPException):
            self._close_upstream()
            self._reset()  # the upstream broke: so does the client's connection, as with a real proxy
            return None
        if fault == "drop_answer":
            response.close()
            self._close_upstream()
            self._reset()
            return None
        return self._relay_answer(response)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_OPTIONS = do_PATCH = do_relay

    # -- the request -------------------------------------------------------------------------------

    def _request_length(self) -> int:
        value = self.headers.get("Content-Length")
        return int(value) if value and value.strip().isdigit() else 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            host, port = self.server.proxy.upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=300)
        return self._upstream

    def _close_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _forward(self, length: int, chunked: bool) -> http.client.HTTPResponse:
        """Send the request upstream as it came (streaming its body); returns the upstream's answer."""
        for retry in (True, False):
            conn = self._connection()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                break
            except (ConnectionError, http.client.HTTPException):
                self._close_upstream()  # an idle upstream connection the server closed: open another
                if not retry:
                    raise
        if chunked:
            self._relay_chunked_body(conn)
        else:
            self._relay_bytes(conn, length)
        return conn.getresponse()

    def _relay_bytes(self, conn: http.client.HTTPConnection, length: int) -> None:
        remaining = length
        while remaining:
            piece = self.rfile.read(min(_PIECE, remaining))
            if not piece:
                raise ConnectionError("the client closed the connection mid-body")
            conn.send(piece)
            remaining -= len(piece)

    def _relay_chunked_body(self, conn: http.client.HTTPConnection) -> None:
        while True:
            line = self.rfile.readline(65537)
            conn.send(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = self.rfile.readline(65537)
                    conn.send(trailer)
                    if trailer in (b"\r\n", b"\n", b""):
                        return
            self._relay_bytes(conn, size + 2)  # the chunk and its CRLF

    def _skip_body(self, length: int) -> None:
        remaining = length
        while remaining:
            piece = self.rfile.read(min(_PIECE, remaining))
            if not piece:
                return
            remaining -= len(piece)

    def _drain(self, length: int, chunked: bool) -> None:
        if not chunked:
            self._skip_body(length)
            return
        while True:
            size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            self._skip_body(size + 2)

    # -- the answer --------------------------------------------------------------------------------

    def _answer_error(self, status: int) -> int:
        code, message = _ERRORS[status]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<Resource>{urlsplit(self.path).path}</Resource><RequestId>faulty-proxy</RequestId></Error>").encode()
        lines = [f"HTTP/1.1 {status} {http.client.responses[status]}", "Content-Type: application/xml",
                 f"Content-Length: {0 if self.command == 'HEAD' else len(body)}"]
        if status == 503 and self.server.proxy.retry_after is not None:
            lines.append(f"Retry-After: {self.server.proxy.retry_after}")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return status

    def _relay_answer(self, response: http.client.HTTPResponse) -> int | None:
        head = [f"HTTP/1.1 {response.status} {response.reason}\r\n".encode("latin-1")]
        for name, value in response.getheaders():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        self.wfile.write(b"".join(head))
        chunked = response.chunked
        try:
            while piece := response.read1(_PIECE):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self._close_upstream()
            self._reset()
            return None
        finally:
            response.close()  # done with it (a HEAD's answer is never closed by reading it)
        self.wfile.flush()
        if response.will_close:
            self._close_upstream()
            if response.length is None and not chunked:
                self.close_connection = True  # the body ended with the connection: so must ours
        return response.status

    def _reset(self) -> None:
        """Reset the client's connection (RST, not a polite FIN)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def finish(self) -> None:
        """The client's connection ends: so does its upstream one."""
        self._close_upstream()
        try:
            super().finish()
        except OSError:
            pass
