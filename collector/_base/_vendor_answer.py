"""What a vendor answered, as the HTTP client hands it to predicates, error tables and errors.

A foundation, not a part of the HTTP layer: every error of the taxonomy (`collector._base._errors`)
may carry the answer it was raised for (`CollectorError.answer`), and a plugin decides on it. The
HTTP client reads it from a response (`collector._http._answers.read_answer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ._redact import redact

_DETAIL_LIMIT = 300
_DETAIL_KEYS = ("message", "error_description", "detail", "error", "title", "msg", "description")
_DROPPED_HEADERS = ("set-cookie", "set-cookie2", "authorization", "proxy-authorization")


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
