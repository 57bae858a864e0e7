"""A base for vendor emulators: a real HTTP/1.1 server on 127.0.0.1 with faults on demand.

A plugin's emulator subclasses `EmulatorServer`, adds routes (each tagged with a kind: "auth",
"metadata", "transcript", "audio", ...) and implements them from the vendor's documentation.
The base class provides what every emulator needs and nobody should write twice:

- a threaded server on an ephemeral loopback port, keep-alive, streamed bodies of any size;
- an optional server-side sliding-window rate limit (`more than N requests in W seconds`
  answers 429 with a Retry-After in the chosen style: seconds, HTTP date, missing, garbage, 0);
- a `FaultPlan`: scripted ("the next 2 audio requests get HTML") or random ("5% of metadata
  requests fail") faults: 500, 503, 429, dropped connections (before or mid-body), malformed
  JSON, HTML instead of audio, truncated bodies, slow answers, and media bodies that crawl:
  "drip" (the headers with the full Content-Length at once, then `drip_bytes` bytes every
  `drip_seconds`) and "stall" (half the body, then silence for up to `stall_seconds`); either
  stops as soon as the client hangs up;
- an optional per-tenant limit on requests in flight (`max_in_flight`: counted from arrival until
  the last byte of the answer is sent or the connection dropped; beyond it a 429 answers), with
  the peak seen kept for assertions;
- `add_limit(...)`: more limits as vendors document them (`collector.emulator._limits`): fixed
  windows that send rate-limit headers, limits per route kind, daily quotas;
- `after_request(kind, action)`: run test code right after a request of a kind is answered (new
  recordings that arrive while a run is listing);
- a request log for assertions (statuses, the most requests seen in any window).

Only loopback addresses are ever bound.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import json
import random
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

LOOPBACK = "127.0.0.1"

TRANSIENT_FAULTS = ("500", "503", "429", "drop", "drop_body", "malformed_json")
"""Faults a correct client survives by retrying within the run."""

CONTENT_FAULTS = ("html", "truncated")

MEDIA_KINDS = ("audio", "storage")
"""Route kinds whose bodies are media (content faults apply to them, JSON faults do not)."""
"""Faults that make a download fail its checks (quarantined; retried on a later run)."""

_APPLIES = {
    "500": None, "503": None, "429": None, "drop": None, "slow": None,
    "drop_body": None, "malformed_json": ("json",), "html": ("audio",), "truncated": ("audio",),
    "drip": ("audio",), "stall": ("audio",),
}


class EmulatorError(Exception):
    """Raised by a route handler to answer with an error status and a JSON `message`."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Request:
    """An incoming request, parsed."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The JSON body, or a 400 answer if it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise EmulatorError(400, "ValidationError: the request body is not valid JSON") from None

    @property
    def bearer(self) -> str | None:
        """The bearer token sent, if any."""
        value = self.header("Authorization") or ""
        return value[7:] if value.startswith("Bearer ") else None

    @property
    def basic(self) -> tuple[str, str] | None:
        """The (user, password) of an `Authorization: Basic` header, if one was sent and is well formed."""
        value = self.header("Authorization") or ""
        if not value.startswith("Basic "):
            return None
        try:
            user, sep, password = base64.b64decode(value[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def header(self, name: str) -> str | None:
        """A request header, whatever its case."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class Response:
    """An answer: a status, a body (bytes, or chunks with a known length) and headers."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON answer."""
        return cls(status, json.dumps(data, separators=(",", ":")).encode(), "application/json", dict(headers or {}))

    @classmethod
    def error(cls, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """An error answer with a JSON `message`, as most vendors send."""
        return cls.json({"message": message}, status, headers)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        """A redirect to `location` (a signed storage URL, say)."""
        return cls(status, b"", "text/plain", {"Location": location})

    def content_length(self) -> int:
        """The number of body bytes this answer declares."""
        if isinstance(self.body, (bytes, bytearray)):
            return len(self.body)
        if self.length is None:
            raise ValueError("a streamed body needs a length")
        return self.length


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it."""

    at: float
    method: str
    path: str
    kind: str
    status: int | None
    fault: str | None
    worker: str | None = None
    """The collector worker that sent it (its `X-Collector-Worker` header), if any."""
    key: str = "all"
    """The limit key it counted against (the tenant, on a host that serves several)."""


class FaultPlan:
    """Which faults the emulator injects: scripted ones first, then random ones at a rate."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._scripted: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._rates: dict[str, tuple[float, tuple[str, ...]]] = {}
        self.retry_after: str | None = "1"
        """The Retry-After sent with injected 429s: seconds, "date", None (missing), "garbage", "0"."""
        self.slow_seconds = 0.5
        self.drip_bytes = 1
        """For "drip": the body bytes sent at a time..."""
        self.drip_seconds = 0.2
        """...and the pause before each piece."""
        self.stall_seconds = 60.0
        """For "stall": how long the connection stays silent after half the body before it is closed."""

    def inject(self, fault: str, *, kind: str = "any", count: int = 1) -> None:
        """Apply `fault` to the next `count` requests of `kind` ("any" for every kind)."""
        if fault not in _APPLIES:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._scripted[kind].extend([fault] * count)

    def set_rate(self, rate: float, faults: Sequence[str] = TRANSIENT_FAULTS, kinds: Sequence[str] = ("any",)) -> None:
        """Fail a fraction `rate` of requests of `kinds` with a fault drawn from `faults`."""
        with self._lock:
            for kind in kinds:
                self._rates[kind] = (rate, tuple(faults))

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self._scripted.clear()
            self._rates.clear()

    def draw(self, kind: str, body_kind: str) -> str | None:
        """The fault for the next request of `kind` (whose body is `body_kind`), if any."""
        with self._lock:
            for key in (kind, "any"):
                queue = self._scripted.get(key)
                if queue and _applies(queue[0], kind, body_kind):
                    return queue.popleft()
            for key in (kind, "any"):
                if key in self._rates:
                    rate, faults = self._rates[key]
                    usable = [f for f in faults if _applies(f, kind, body_kind)]
                    if usable and self._random.random() < rate:
                        return self._random.choice(usable)
        return None


def _applies(fault: str, kind: str, body_kind: str) -> bool:
    allowed = _APPLIES[fault]
    return allowed is None or kind in allowed or body_kind in allowed


Handler = Callable[..., Response]
L = TypeVar("L")


class LoopbackService:
    """A threaded HTTP server on an ephemeral port of 127.0.0.1, served from a background thread:
    what the emulators and the test kit's fault proxy share. Subclasses build the server in
    `start()` and hand it to `_serve`."""

    _server: ThreadingHTTPServer | None = None

    def _serve(self, server: ThreadingHTTPServer) -> Self:
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__,
                         daemon=True).start()
        return self

    def start(self) -> Self:
        """Listen and serve (see the subclass)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None, f"start() the {type(self).__name__} first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://{LOOPBACK}:{self.port}"


class EmulatorServer(LoopbackService):
    """A vendor emulator: subclass it, add routes in `__init__`, call `start()`."""

    def __init__(self, *, rate_limit: tuple[int, float] | None = None, retry_after_style: str = "seconds",
                 max_in_flight: int | None = None, seed: int = 0) -> None:
        self.faults = FaultPlan(seed)
        self.rate_limit = rate_limit
        self.retry_after_style = retry_after_style
        self.max_in_flight = max_in_flight
        self.log: list[LoggedRequest] = []
        self.served_audio: dict[str, list[str]] = collections.defaultdict(list)
        """The sha256 of every media body sent whole (routes of kind "audio" or "storage"), per limit
        key (to audit a store against)."""
        self.bytes_sent: dict[str, int] = collections.defaultdict(int)
        """Body bytes written to clients, per route kind (what a vendor meters as egress)."""
        self.in_flight: dict[str, int] = collections.defaultdict(int)
        self.peak_in_flight: dict[str, int] = collections.defaultdict(int)
        """The most requests each limit key had in flight at once."""
        self._hooks: list[tuple[str, Callable[[Request], None], list[int]]] = []
        self.limits: list[Any] = []
        """Limits added with `add_limit` (see `collector.emulator.FixedWindowLimit`, `DailyQuota`, ...)."""
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self._arrivals: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, kind: str, handler: Handler) -> None:
        """Serve `method pattern` (a regex over the unquoted path; named groups become arguments)."""
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), kind, handler))

    def add_limit(self, limit: L) -> L:
        """Enforce `limit` too (a `FixedWindowLimit`, `KindRateLimit`, `DailyQuota` or anything with
        their `admit`): asked about every request, in the order added, after the server's own
        limits; the headers it returns go on the answer. Returns `limit`."""
        with self._lock:
            self.limits.append(limit)
        return limit

    def remove_limit(self, limit: Any) -> None:
        """Stop enforcing a limit added with `add_limit`."""
        with self._lock:
            self.limits = [added for added in self.limits if added is not limit]

    def after_request(self, kind: str, action: Callable[[Request], None], *, times: int = 1) -> None:
        """Call `action(request)` right after the next `times` requests of `kind` are answered
        (before the client can send its next one): e.g. recordings arriving while a run lists."""
        with self._lock:
            self._hooks.append((kind, action, [times]))

    def start(self) -> Self:
        """Listen on an ephemeral port on 127.0.0.1 and serve from a background thread."""
        server = _Server((LOOPBACK, 0), _RequestHandler)
        server.emulator = self
        return self._serve(server)

    # -- what tests look at ----------------------------------------------------------------------

    def count(self, *, status: int | None = None, kind: str | None = None) -> int:
        """How many requests were answered (with `status`, of `kind`)."""
        with self._lock:
            return sum(1 for r in self.log
                       if (status is None or r.status == status) and (kind is None or r.kind == kind))

    def max_in_window(self, window: float, *, kinds: Sequence[str] | None = None) -> int:
        """The most requests that arrived within any `window` seconds (the vendor's view of our rate)."""
        with self._lock:
            times = sorted(r.at for r in self.log if kinds is None or r.kind in kinds)
        best = 0
        start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- serving ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> tuple[Response | None, str | None, str]:
        """Route a request, apply limits and faults; returns (answer or None to drop, fault, kind)."""
        arrival = time.monotonic()
        route = self._match(request)
        if route is None:
            response = Response.error(404, f"No route for {request.method} {request.path}")
            self._record(arrival, request, "unknown", response, None)
            return response, None, "unknown"
        kind, handler, params = route
        key = self.rate_limit_key(request)
        limited = self._over_limit(key) or self._too_many_in_flight(key)
        if limited is not None:
            self._record(arrival, request, kind, limited, None)
            return limited, None, kind
        extra: dict[str, str] = {}
        for limit in self.limits:
            refusal, headers = limit.admit(request, kind, key, time.time())
            extra.update(headers)
            if refusal is not None:
                self._record(arrival, request, kind, refusal, limit.label)
                return refusal, None, kind
        fault = self.faults.draw(kind, "audio" if kind in MEDIA_KINDS else "json")
        answer = self._answer(request, handler, params, fault)
        if answer is not None and extra:
            answer.headers = {**extra, **answer.headers}
        self._record(arrival, request, kind, answer, fault)
        self._run_hooks(kind, request)  # after the answer is made, before the client can see it
        return answer, fault, kind

    def _match(self, request: Request) -> tuple[str, Handler, dict[str, str]] | None:
        for method, pattern, kind, handler in self._routes:
            if method == request.method and (m := pattern.match(request.path)):
                return kind, handler, m.groupdict()
        return None

    def rate_limit_key(self, request: Request) -> str:
        """Which limits a request counts against (override for per-tenant limits on a shared host)."""
        return "all"

    def enter(self, request: Request) -> str:
        """A request arrived: count it in flight under its limit key (returned, for `leave`)."""
        key = self.rate_limit_key(request)
        with self._lock:
            self.in_flight[key] += 1
            self.peak_in_flight[key] = max(self.peak_in_flight[key], self.in_flight[key])
        return key

    def leave(self, key: str) -> None:
        """A request's answer is sent (or its connection dropped): it is no longer in flight."""
        with self._lock:
            self.in_flight[key] -= 1

    def count_bytes(self, kind: str, count: int) -> None:
        """Meter body bytes sent for a kind of route."""
        with self._lock:
            self.bytes_sent[kind] += count

    def _run_hooks(self, kind: str, request: Request) -> None:
        due = []
        with self._lock:
            for hook_kind, action, left in self._hooks:
                if hook_kind in (kind, "any") and left[0] > 0:
                    left[0] -= 1
                    due.append(action)
            self._hooks = [hook for hook in self._hooks if hook[2][0] > 0]
        for action in due:
            action(request)

    def _too_many_in_flight(self, key: str) -> Response | None:
        if self.max_in_flight is None:
            return None
        with self._lock:
            busy = self.in_flight[key]
        if busy <= self.max_in_flight:
            return None
        return Response.error(429, f"Too many concurrent requests: at most {self.max_in_flight} at a time.",
                              self.retry_after_headers(1, self.retry_after_style))

    def _over_limit(self, key: str) -> Response | None:
        if self.rate_limit is None:
            return None
        allowed, window = self.rate_limit
        with self._lock:
            # Counted when the lock is held, not when the request was first seen: threads reach here
            # in any order, and an earlier time appended after a later one made the window look
            # longer than it is (a 429 no client could have avoided, on a loaded machine).
            arrival = time.monotonic()
            arrivals = self._arrivals[key]
            while arrivals and arrival - arrivals[0] >= window:
                arrivals.popleft()
            arrivals.append(arrival)
            if len(arrivals) <= allowed:
                return None
            wait = window - (arrival - arrivals[-allowed - 1])
        return Response.error(429, f"Too many requests: more than {allowed} in {window:g} seconds.",
                              self.retry_after_headers(wait, self.retry_after_style))

    @staticmethod
    def retry_after_headers(seconds: float, style: str | None) -> dict[str, str]:
        """A Retry-After header in one of the styles vendors use (or none)."""
        whole = max(1, int(seconds + 0.999))
        if style in ("seconds", "1"):
            return {"Retry-After": str(whole)}
        if style == "date":
            return {"Retry-After": formatdate(time.time() + whole, usegmt=True)}
        if style == "garbage":
            return {"Retry-After": "soon-ish"}
        if style == "0":
            return {"Retry-After": "0"}
        return {}

    def _answer(self, request: Request, handler: Handler, params: dict[str, str], fault: str | None) -> Response | None:
        if fault in ("500", "503"):
            return Response.error(int(fault), "Injected server error.")
        if fault == "429":
            return Response.error(429, "Too many requests (injected).",
                                  self.retry_after_headers(1, self.faults.retry_after))
        if fault == "drop":
            return None
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        try:
            response = handler(request, **params)
        except EmulatorError as exc:
            return Response.error(exc.status, exc.message, exc.headers)
        if response.status >= 300 or fault is None:
            return response
        if fault == "html":
            return Response(200, b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>",
                            "text/html; charset=utf-8")
        if fault in ("malformed_json", "truncated"):
            body = _materialize(response)
            response.body, response.length = body[: len(body) // 2], None
        return response

    def _record(self, arrival: float, request: Request, kind: str, response: Response | None,
                fault: str | None) -> None:
        with self._lock:
            self.log.append(LoggedRequest(arrival, request.method, request.path, kind,
                                          response.status if response is not None else None, fault,
                                          _header(request.headers, "x-collector-worker"),
                                          self.rate_limit_key(request)))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _materialize(response: Response) -> bytes:
    return response.body if isinstance(response.body, bytes) else b"".join(response.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: EmulatorServer


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # http.server's naming
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        """Silence the default access log (the emulator keeps its own)."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            body=body,
        )
        emulator = self.server.emulator
        key = emulator.enter(request)
        try:
            response, fault, kind = emulator.dispatch(request)
            digest = self._send(response, fault, kind)
            if digest is not None:
                with emulator._lock:
                    emulator.served_audio[key].append(digest)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            emulator.leave(key)

    def _send(self, response: Response | None, fault: str | None, kind: str) -> str | None:
        """Write the answer; the sha256 of an audio body written whole."""
        if response is None:
            self.close_connection = True
            return None
        size = response.content_length()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(size))
        if not any(name.lower() == "x-request-id" for name in response.headers):
            self.send_header("X-Request-Id", uuid.uuid4().hex)  # as most vendors do: our chain of custody keeps it
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        chunks: Iterator[bytes] = iter([response.body]) if isinstance(response.body, bytes) else iter(response.body)
        crawl = fault if fault in ("drip", "stall") and response.status == 200 else None
        if crawl == "drip":
            chunks = self._dripped(chunks)
        limit = size // 2 if fault == "drop_body" or crawl == "stall" else size
        sent = 0
        digest = hashlib.sha256() if kind in MEDIA_KINDS and response.status == 200 else None
        for chunk in chunks:
            if sent + len(chunk) > limit:
                chunk = chunk[: limit - sent]
            self.wfile.write(chunk)
            if digest is not None:
                digest.update(chunk)
            sent += len(chunk)
            self.server.emulator.count_bytes(kind, len(chunk))
            if sent >= limit:
                break
        if crawl == "stall":
            self.wfile.flush()
            self._client_gone_within(self.server.emulator.faults.stall_seconds)
            self.close_connection = True
        if fault == "drop_body":
            self.wfile.flush()
            self.close_connection = True
        return digest.hexdigest() if digest is not None and sent == size else None

    def _dripped(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The body in pieces of `drip_bytes`, each after `drip_seconds`; ends when the client hangs up."""
        faults = self.server.emulator.faults
        for chunk in chunks:
            for start in range(0, len(chunk), faults.drip_bytes):
                self.wfile.flush()
                if self._client_gone_within(faults.drip_seconds):
                    self.close_connection = True
                    return
                yield chunk[start:start + faults.drip_bytes]

    def _client_gone_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the client closes its end of the connection."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.01))  # the client sent something (a next request): keep waiting
        return False
