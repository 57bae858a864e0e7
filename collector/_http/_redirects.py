"""Following redirects without taking credentials where they do not belong.

With `redirects=Redirects(...)` (on `stream`, `request`, `json` and `json_answer` alike) the HTTP
client follows 3xx answers: a hop to another origin carries none of the strategy's headers or query
parameters (nor cookies), https is never downgraded to http, the hops are bounded, and a signed URL
the storage host refuses (400, 401, 403, 410: expired) is answered by asking the original URL again
(counted as a retry). The query of every URL on another origin is registered as a secret: it is
usually the signature. The hops themselves are sent by `Exchanges._follow` (`collector._http._exchange`),
which keeps these rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from collector._base._redact import register_secret

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
