"""Bearer-token authentication shared by every plugin: cache, renew early, renew once on 401.

A plugin subclasses `TokenAuth` and implements only `fetch_token` (one call to its vendor's token
route, made through the same `HttpClient`, so it is rate-limited and retried like any request).
The base class keeps one token per tenant, renews it shortly before it expires, and renews it at
most once per rejected token when the vendor answers 401, with one renewal at a time per tenant
(concurrent requests wait for the same new token instead of stampeding the token route).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._redact import register_secret
from ._secret import Secret

if TYPE_CHECKING:
    from ._http import HttpClient


@dataclass(frozen=True)
class Token:
    """A bearer token and, when known, when it expires (seconds since the epoch)."""

    value: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Token(<redacted>, expires_at={self.expires_at!r})"


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (seconds since the epoch), or None if it has none or is not a JWT.

    The signature is not checked: the vendor checks it; we only want to renew before it expires.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


class TokenAuth(abc.ABC):
    """Supplies the Authorization header for a tenant, fetching and renewing its token as needed."""

    renewable: bool = True
    """False when a new token cannot be obtained (a static token): a 401 is then final at once."""

    def __init__(self, *, renew_margin: float = 30.0) -> None:
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._max_margin = renew_margin
        self._renew_margin = renew_margin

    @abc.abstractmethod
    async def fetch_token(self, http: HttpClient) -> Token:
        """Obtain a new token from the vendor (call `http.request(..., authenticate=False)`)."""

    async def authorization(self, http: HttpClient) -> str:
        """The Authorization header value to send now, renewing the token first if it is expiring."""
        token = self._token
        if token is None or self._expiring(token):
            async with self._lock:
                if self._token is token:
                    self._token = await self._fetch(http)
        assert self._token is not None
        return f"Bearer {self._token.value}"

    def current(self) -> str | None:
        """The Authorization header value for the token held now, without fetching one."""
        return None if self._token is None else f"Bearer {self._token.value}"

    async def renew(self, rejected: str, http: HttpClient) -> None:
        """Replace the token the vendor rejected, unless a concurrent request already did."""
        async with self._lock:
            if self._token is None or f"Bearer {self._token.value}" == rejected:
                self._token = await self._fetch(http)

    def _expiring(self, token: Token) -> bool:
        if token.expires_at is None:
            return False
        lifetime_left = token.expires_at - time.time()
        return lifetime_left <= self._renew_margin

    async def _fetch(self, http: HttpClient) -> Token:
        from ._http import fetching_token

        marker = fetching_token.set(True)
        try:
            token = await self.fetch_token(http)
        finally:
            fetching_token.reset(marker)
        register_secret(token.value)
        if token.expires_at is not None:
            # Renew early, but never so early that a short-lived token is renewed on every request.
            lifetime = token.expires_at - time.time()
            self._renew_margin = min(self._max_margin, max(lifetime / 5, 0.0))
        return token


class StaticBearerAuth(TokenAuth):
    """A fixed bearer token from the configuration; a 401 means it was revoked or is wrong."""

    renewable = False

    def __init__(self, secret: Secret) -> None:
        super().__init__()
        self._secret = secret

    async def fetch_token(self, http: HttpClient) -> Token:
        """Return the configured token; there is nothing to fetch."""
        return Token(self._secret.get_secret_value())
