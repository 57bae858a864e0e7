"""Where a download came from, for the chain of custody: the endpoint, the vendor's request id,
and whether the HTTP framing announced the body's end."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from collector._base._redact import redact

from ._answers import request_path

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id", "x-ms-request-id",
                      "x-correlation-id", "x-trace-id")
"""Headers vendors put their own id of a request in, looked for in this order (chain of custody)."""

FIRST_HOP = "collector_first_hop"
"""The response extension where the HTTP client keeps the first hop of a redirect chain."""


@dataclass(frozen=True)
class Custody:
    """Where a download came from, for the chain of custody: `endpoint` is the first request's
    method and path (no query string: it may carry a signature or a key), then the final host and
    path when a redirect led elsewhere; `request_id` the vendor's id of the exchange, if it sent
    one (`REQUEST_ID_HEADERS`); `content_length` what the answer announced; `framed` whether the
    HTTP framing announces the body's end (a Content-Length or chunked encoding), so a body that
    broke off early fails instead of looking complete."""

    endpoint: str
    request_id: str | None
    content_length: int | None
    framed: bool


def custody_of(response: httpx.Response) -> Custody:
    """The chain-of-custody facts of an (open) response, redirects included."""
    first = response.extensions.get(FIRST_HOP)
    request = response.request
    if first is None:
        endpoint, request_id = f"{request.method} {request_path(request)}", request_id_of(response.headers)
    else:
        method, path, first_id = first
        endpoint = (f"{method} {path} -> {request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
                    f"{request_path(request)}")
        request_id = first_id or request_id_of(response.headers)
    length = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    chunked = "chunked" in response.headers.get("transfer-encoding", "").lower()
    known = length is not None and length.isdigit() and not encoded
    return Custody(redact(endpoint), redact(request_id) if request_id else None,
                   int(length) if known and length is not None else None, known or chunked)


def request_id_of(headers: httpx.Headers) -> str | None:
    """The vendor's id of an exchange, from the first of `REQUEST_ID_HEADERS` it sent."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return " ".join(value.split())[:200]
    return None
