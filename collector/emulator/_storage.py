"""A storage host that serves media at short-lived signed URLs, as cloud object stores do.

Many vendors answer a media request with a redirect (or a JSON body) naming a pre-signed URL on
their storage host: another origin, valid for minutes, authenticated by the signature in its
query rather than by the caller's credentials. `StorageServer` is that host for emulators:

    storage = StorageServer().start()
    storage.put("rec-1", lambda: synth_audio("rec-1", duration=3.0), "audio/wav")
    return Response.redirect(storage.signed_url("rec-1", ttl=60))

It refuses expired or forged signatures with 403 (as S3 does: "Request has expired"), counts
requests that arrived carrying credentials (`credentials_seen`: a client must never forward them
across origins), and can issue the next few URLs already expired (`expire_next`) to test that a
client asks the original URL again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

from ._server import EmulatorError, EmulatorServer, Request, Response

Body = Callable[[], bytes | Iterable[bytes]]

_CREDENTIAL_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")


class StorageServer(EmulatorServer):
    """Objects behind HMAC-signed, expiring URLs on their own origin."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._key = os.urandom(16)
        self._objects: dict[str, tuple[Body, str, int | None, dict[str, str]]] = {}
        self._expire_next = 0
        self._data = threading.Lock()
        self.credentials_seen = 0
        """Requests that arrived with an Authorization, Cookie or API-key header."""
        self.signed: list[str] = []
        """Every signature handed out (secrets: tests scan for them)."""
        self.add_route("GET", r"/o/(?P<key>[^/]+)", "storage", self.serve)

    def put(self, key: str, body: Body, content_type: str, length: int | None = None,
            headers: Mapping[str, str] | None = None) -> None:
        """Store an object; `body()` is called per download (bytes, or chunks totalling `length`),
        and served with `headers` besides its type and length (a checksum header, say)."""
        with self._data:
            self._objects[key] = (body, content_type, length, dict(headers or {}))

    def signed_url(self, key: str, *, ttl: float = 300.0) -> str:
        """A URL for `key` valid for `ttl` seconds (or already expired, after `expire_next`)."""
        with self._data:
            if self._expire_next > 0:
                self._expire_next -= 1
                ttl = -1.0
        expires = str(int(time.time() + ttl))
        signature = self._sign(key, expires)
        self.signed.append(signature)
        return f"{self.url}/o/{quote(key, safe='')}?{urlencode({'expires': expires, 'signature': signature})}"

    def expire_next(self, count: int = 1) -> None:
        """The next `count` signed URLs are issued already expired."""
        with self._data:
            self._expire_next += count

    def serve(self, request: Request, key: str) -> Response:
        """An object, if the signature is valid and current."""
        if any(name.lower() in _CREDENTIAL_HEADERS for name in request.headers):
            with self._data:
                self.credentials_seen += 1
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        if not hmac.compare_digest(signature, self._sign(key, expires)):
            raise EmulatorError(403, "SignatureDoesNotMatch: the request signature is not valid.")
        if not expires.isdigit() or int(expires) < time.time():
            raise EmulatorError(403, "AccessDenied: Request has expired.")
        with self._data:
            found = self._objects.get(key)
        if found is None:
            raise EmulatorError(404, "NoSuchKey: the object does not exist.")
        body, content_type, length, headers = found
        return Response(200, body(), content_type, headers, length=length)

    def _sign(self, key: str, expires: str) -> str:
        return hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()
