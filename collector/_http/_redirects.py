"""Following redirects without taking credentials where they do not belong.

With `redirects=Redirects(...)` (on `stream`, `request`, `json` and `json_answer` alike) the HTTP
client follows 3xx answers: a hop to another origin carries none of the strategy's headers or query
parameters (nor cookies), https is never downgraded to http, the hops are bounded, and a signed URL
the storage host refuses (400, 401, 403, 410: expired) is answered by asking the original URL again
(counted as a retry). The query of every URL on another origin is registered as a secret: it is
usually the signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ._answers import read_answer, request_path
from ._custody import FIRST_HOP, request_id_of
from collector._base._errors import BadStatus
from collector._base._redact import register_secret
from ._traffic import Connection, Retryable

if TYPE_CHECKING:
    from ._exchange import Exchanges

CROSS_ORIGIN_DROPPED = ("authorization", "cookie", "proxy-authorization")
"""Headers never sent to another origin, besides the auth strategy's own."""

EXPIRED_SIGNATURE = (400, 401, 403, 410)
"""What a storage host answers a signed URL that has expired (S3: 403 "Request has expired")."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SIGNATURE_LENGTH = 16


@dataclass(frozen=True)
class Redirects:
    """How a request follows redirects, e.g. media that answers 302 to a signed storage URL.

    `rate_limited`: whether hops to another origin (the storage host) take a slot of the tenant's
    rate limit; hops within the API's origin always do.
    """

    max_hops: int = 5
    rate_limited: bool = False


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """A URL's origin: scheme, host and port (the scheme's default port when none is given)."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def register_signature(url: httpx.URL) -> None:
    """A signed URL's query is a credential: its long values (signatures, key ids) are redacted."""
    if url.query:
        register_secret(url.query.decode("ascii", "replace"))
        for _, value in url.params.multi_items():
            if len(value) >= _SIGNATURE_LENGTH:
                register_secret(value)


async def follow(client: Exchanges, response: httpx.Response, method: str, kwargs: dict[str, Any],
                 redirects: Redirects, leave_api: Callable[[], None], connection: Connection,
                 route: str | None = None) -> httpx.Response:
    """Follow 3xx answers to the end of the chain (see the module docstring for the rules)."""
    first: tuple[str, str, str | None] | None = None
    base = client._base_origin
    for _ in range(redirects.max_hops):
        location = response.headers.get("location")
        if not response.is_redirect or location is None:
            if first is not None:
                response.extensions[FIRST_HOP] = first  # see `custody_of`
            return response
        here = response.request
        if first is None:
            first = (here.method, request_path(here), request_id_of(response.headers))
        target = here.url.join(location)
        await response.aclose()
        if here.url.scheme == "https" and target.scheme != "https":
            raise BadStatus(response.status_code, here.method, request_path(here),
                            "it redirected to plain http, which the collector refuses to follow.")
        status = response.status_code
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, hop = "GET", {}
        else:
            hop = {k: v for k, v in kwargs.items() if k not in ("params",)}
        cross = origin_of(target) != base
        if cross:
            leave_api()
            register_signature(target)
            dropped = {*CROSS_ORIGIN_DROPPED, *(name.lower() for name in getattr(client.auth, "header_names", ()))}
            hop["headers"] = {k: v for k, v in dict(kwargs.get("headers") or {}).items() if k.lower() not in dropped}
        client.traffic.stats.redirects += 1
        response, _ = await client._send(method, str(target), hop, None if cross else client.auth,
                                         redirects.rate_limited or not cross, connection, route)
        if cross and response.status_code in EXPIRED_SIGNATURE:
            answer = (await read_answer(response)).redacted()
            await response.aclose()
            raise Retryable(response.request, response.status_code,
                            f"the signed URL it redirected to was refused (HTTP {response.status_code}: "
                            f"{answer.detail or 'no detail'}); the original URL is asked again")
    if response.is_redirect:
        await response.aclose()
        raise BadStatus(response.status_code, response.request.method, request_path(response.request),
                        f"more than {redirects.max_hops} redirects.")
    return response
