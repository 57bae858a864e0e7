"""Reading what a vendor answered: a `VendorAnswer` (`collector._base._vendor_answer`) from a response.

A `VendorAnswer` is read once per answer that needs deciding on (an error status, or a success
the call asked to look into): the status, the headers, the body's first `BODY_LIMIT` bytes and,
lazily, its JSON and the vendor's own error code. Errors carry a redacted copy
(`VendorAnswer.redacted`), so a plugin can decide on a code, a header or a body field instead of
matching an English message, and nothing it logs can hold a secret.

Also here: how a call reads the vendor's estimate of when an item is ready (`estimate_reader`),
and the one-sentence descriptions of failures the HTTP client raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from collector._base._redact import redact
from collector._base._vendor_answer import VendorAnswer, dig

from ._moments import parse_retry_after, seconds_until

BODY_LIMIT = 64 * 1024
"""Bytes of a body read for deciding on an answer (an error body, or a success the call looks into)."""

_CODE_KEYS = ("code", "error_code", "errorCode", "error.code", "error.status", "errors.0.code", "status_code")
_TEXTUAL = ("application/json", "application/problem+json", "text/", "application/xml", "application/xhtml+xml")


@dataclass(frozen=True)
class JsonAnswer:
    """A JSON answer with what paging needs besides the body."""

    body: Any
    status: int
    headers: httpx.Headers
    links: dict[Any, Any]
    request_url: httpx.URL

    @property
    def url(self) -> str:
        """The absolute URL that was answered (query included)."""
        return str(self.request_url)

    @property
    def path(self) -> str:
        """The answered URL's path (no query), for messages."""
        return self.request_url.path or "/"

    def resolve(self, url: str) -> str:
        """`url` (relative or absolute) resolved against the answered URL."""
        return str(self.request_url.join(url))


def default_code(answer: VendorAnswer) -> str | None:
    """The vendor's error code from the fields most APIs use (`code`, `error_code`, `errorCode`,
    `error.code`, ...), when the call names no `ErrorCodes` table."""
    body = answer.json
    if not isinstance(body, dict):
        return None
    for path in _CODE_KEYS:
        value = dig(body, path)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def textual(content_type: str) -> bool:
    """Whether a body of this media type is text worth reading to decide on (not media)."""
    return content_type.startswith(_TEXTUAL) or content_type.endswith("+json")


async def read_answer(response: httpx.Response, *, body: bool = True) -> VendorAnswer:
    """Read `response` into a `VendorAnswer` (its first `BODY_LIMIT` bytes, unless `body` is False).

    A body already read (a `request()` or `json()` answer) is used as it is; a streaming one is read
    up to the limit. A connection that breaks while reading leaves what arrived: the detail is a
    nicety, the status says what happened.
    """
    request = response.request
    headers = {name.lower(): value for name, value in response.headers.items()}
    if not body:
        return VendorAnswer(response.status_code, request.method, request.url.path or "/", headers)
    data = b""
    truncated = False
    try:
        data = response.content
    except httpx.ResponseNotRead:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > BODY_LIMIT:
                    truncated = True
                    break
        except httpx.HTTPError:
            pass
        data = b"".join(chunks)
    if len(data) > BODY_LIMIT:
        data, truncated = data[:BODY_LIMIT], True
    return VendorAnswer(response.status_code, request.method, request.url.path or "/", headers,
                        data.decode(response.encoding or "utf-8", "replace"), truncated)


def estimate_reader(estimate: str | Callable[[VendorAnswer], Any] | None) -> Callable[[VendorAnswer], float | None]:
    """How a call reads the vendor's estimate of when an item is ready: None reads the Retry-After
    header; a dotted path reads that body field (seconds, or an instant); a callable receives the
    answer and returns seconds, an aware datetime or None."""
    if estimate is None:
        return lambda answer: parse_retry_after(answer.headers.get("retry-after"))
    if isinstance(estimate, str):
        path = estimate
        return lambda answer: seconds_until(answer.field(path))

    reader = estimate
    return lambda answer: seconds_until(reader(answer))


def request_path(request: httpx.Request) -> str:
    """The request's path without the query string (which may carry a signature or a key)."""
    return request.url.path or "/"


def describe_transport_error(request: httpx.Request, exc: httpx.TransportError) -> str:
    """A sentence for a request that failed before an answer arrived."""
    kind = type(exc).__name__
    text = str(exc) or "no detail"
    return redact(f"{request.method} {request_path(request)} failed before an answer arrived ({kind}: {text}).")
