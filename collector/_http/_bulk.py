"""A large body's bytes straight from the connection, past the HTTP parser.

httpx hands a streamed body through httpcore, h11 and its own layers: each piece the socket gives
is copied into h11's buffer, out of it, into a new `bytes` by httpcore, and passes five async
generators, all on the event loop. For a 2 GB download that was most of the event loop's CPU
(0.40x curl's rate; 0.45x reading directly, see bench/README.md, phase 3). Once the headers are
parsed and the first piece of the body has come through h11 (which hands over everything it has
buffered, up to the announced length), the rest of a plain `Content-Length` body is exactly the
next bytes on the connection: `body_chunks` reads them from the connection itself (httpcore's
documented `network_stream` extension), with the request's read timeout, until the announced
length has arrived.

Only for HTTP/1.1 bodies of at least `DIRECT_FROM` bytes with a `Content-Length`, no
`Transfer-Encoding` and no `Content-Encoding` (chunked or compressed bodies need the parser or the
decoder); anything else streams through httpx as before. The connection is closed afterwards
instead of returning to the pool (h11 has not seen the end of the body), one new connection per
large download. A connection that ends early raises `httpx.RemoteProtocolError`, a stall
`httpx.ReadTimeout`, exactly as httpx would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpcore
import httpx

DIRECT_FROM = 8 << 20
"""Bodies this large (bytes) are read from the connection directly: below it, keeping the
connection for the next request is worth more than the copies saved."""

_READ_SIZE = 1 << 20
"""At most this much per read: more than the transport receives at once, so no piece is split."""


async def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The response body's bytes as they arrive, as `httpx.Response.aiter_bytes` gives them (a body
    read directly has no Content-Encoding to decode)."""
    chunks = response.aiter_bytes()
    remaining = _direct_length(response)
    stream = response.extensions.get("network_stream")
    if remaining is None or not isinstance(stream, httpcore.AsyncNetworkStream):
        async for chunk in chunks:
            yield chunk
        return
    async for chunk in chunks:  # the part h11 holds already; it hands over all it has at once
        remaining -= len(chunk)
        yield chunk
        break
    timeout = (response.request.extensions.get("timeout") or {}).get("read")
    while remaining > 0:
        try:
            chunk = await stream.read(min(_READ_SIZE, remaining), timeout=timeout)
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=response.request) from None
        except httpcore.NetworkError as exc:
            raise httpx.ReadError(str(exc) or "the connection failed", request=response.request) from None
        if not chunk:
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body ({remaining} bytes missing)",
                request=response.request)
        remaining -= len(chunk)
        yield chunk


def _direct_length(response: httpx.Response) -> int | None:
    """The body's announced length if it may be read from the connection directly, else None."""
    headers = response.headers
    if (response.http_version != "HTTP/1.1" or "transfer-encoding" in headers
            or headers.get("content-encoding", "identity").strip().lower() != "identity"):
        return None
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= DIRECT_FROM else None
