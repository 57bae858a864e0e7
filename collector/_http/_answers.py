"""What a vendor answered, as the HTTP client hands it to predicates, error tables and errors.

A `VendorAnswer` is read once per answer that needs deciding on (an error status, or a success
the call asked to look into): the status, the headers, the body's first `BODY_LIMIT` bytes and,
lazily, its JSON and the vendor's own error code. Errors carry a redacted copy
(`VendorAnswer.redacted`), so a plugin can decide on a code, a header or a body field instead of
matching an English message, and nothing it logs can hold a secret.

Also here: how a call reads the vendor's estimate of when an item is ready (`estimate_reader`),
and the one-sentence descriptions of failures the HTTP client raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import httpx

from ._moments import parse_retry_after, seconds_until
from collector._base._redact import redact

BODY_LIMIT = 64 * 1024
"""Bytes of a body read for deciding on an answer (an error body, or a success the call looks into)."""

_DETAIL_LIMIT = 300
_DETAIL_KEYS = ("message", "error_description", "detail", "error", "title", "msg", "description")
_CODE_KEYS = ("code", "error_code", "errorCode", "error.code", "error.status", "errors.0.code", "status_code")
_DROPPED_HEADERS = ("set-cookie", "set-cookie2", "authorization", "proxy-authorization")
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


def dig(body: Any, path: str) -> Any:
    """The value at a dotted `path` of a JSON body ("error.code", "errors.0.code"), or None."""
    for part in path.split(".") if path else []:
        if isinstance(body, Mapping):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


@dataclass(frozen=True)
class VendorAnswer:
    """One answer of the vendor, as read for deciding what it means.

    `status`, `method` and `path` (no query string: it may carry a signature) say which exchange;
    `headers` are the answer's (lowercased names); `text` is the body's first 64 KiB, decoded
    (`truncated` when there was more); `json` the body parsed, or None when it is not JSON; `code`
    the vendor's own error code as text ("404", "PAGE_TOKEN_EXPIRED"), as the call's `ErrorCodes`
    table reads it (or, without one, from a `code`, `error_code`, `errorCode` or `error.code`
    field), None when it has none. Predicates (`transient_when=`, `not_ready_when=`) receive
    the answer as read; errors carry `redacted()` copies.
    """

    status: int
    method: str
    path: str
    headers: Mapping[str, str]
    text: str = ""
    truncated: bool = False
    code: str | None = None
    _parsed: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def json(self) -> Any:
        """The body as JSON, or None when it is empty, not JSON, or was cut at 64 KiB."""
        if self._parsed is not None:
            return self._parsed
        if not self.text or self.truncated:
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        """The answer's media type, lowercased, without parameters ("text/html"); "" when absent."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def field(self, path: str) -> Any:
        """The value at a dotted `path` of the JSON body ("error.code", "errors.0.code"), or None."""
        return dig(self.json, path)

    @property
    def detail(self) -> str:
        """A short sentence of what the vendor said: its message field if JSON, else the body's start."""
        body = self.json
        text = self.text
        if isinstance(body, dict):
            for key in _DETAIL_KEYS:
                value = body.get(key)
                if isinstance(value, dict):
                    value = value.get("message")
                if isinstance(value, str) and value.strip():
                    text = value
                    break
        return " ".join(text.split())[:_DETAIL_LIMIT]

    def with_code(self, code: str | None) -> VendorAnswer:
        """The same answer with the vendor's error code as an error table read it."""
        return replace(self, code=code)

    def redacted(self) -> VendorAnswer:
        """A copy safe to keep and print: registered secrets masked in the body and the headers, cookies
        and credentials left out."""
        text = redact(self.text)
        headers = {name: redact(value) for name, value in self.headers.items() if name not in _DROPPED_HEADERS}
        parsed = self.json if text == self.text else None
        return VendorAnswer(self.status, self.method, self.path, headers, text, self.truncated,
                            redact(self.code) if self.code else self.code, parsed)


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
