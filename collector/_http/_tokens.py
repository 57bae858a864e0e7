"""Tokens obtained from the vendor: cached, renewed before they expire, renewed once on a 401.

`TokenAuth` is the base of every strategy whose credential is a token the vendor issues
(`TokenExchange`, `OAuth2`): a subclass only says how to obtain one (`fetch_token`). What it
promises, for every such strategy:

- a token is reused until shortly before it expires: `Renewal` says how shortly, relative to the
  token's lifetime (10% of it, at least 5 s and at most 5 minutes, and never before half its
  life has passed), so a 15 s token is used for 10 s and a 2 s token for 1 s, not fetched again
  for every request against the vendor's token-rate limit;
- the token is checked again after the wait for a rate-limit slot (`fresh`), so no request
  leaves with a token that expired while it waited;
- one renewal at a time per strategy: concurrent requests wait for the same new token;
- a 401 from the API renews the token once (a rejected token is never renewed twice);
- a token route that refuses the credentials (400, 401, 403) stops the tenant with one
  `AuthenticationError` naming the route, the vendor's detail and the strategy's hint of what to
  check; later requests of the tenant get the same error without asking the vendor again;
- every token is registered with the redactor.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collector._base._errors import AuthenticationError, BadStatus, TenantError
from collector._base._redact import register_secret
from collector._base._secret import Secret

from ._auth import Auth, TokenChannel

Clock = Callable[[], float]
"""Seconds since the epoch, like `time.time` (tests inject a fake one)."""


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


def token_expiry(expires_in: object, token: str, assumed_lifetime: float, *, now: float | None = None) -> float:
    """When a token expires: an `expires_in` (seconds, number or digits) if usable, else the JWT's
    `exp`, else `assumed_lifetime` from now.

    Pass `now` as the time the token was *asked for*: a lifetime runs from when the vendor issued
    the token, so counting it from the answer's arrival would overstate it by the round trip.
    """
    now = time.time() if now is None else now
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        return now + float(expires_in)
    return jwt_expiry(token) or now + assumed_lifetime


@dataclass(frozen=True)
class Renewal:
    """When a token is renewed, relative to its lifetime.

    A token is renewed when `fraction` of its lifetime is left, but at least `floor` seconds
    before it expires (clock skew and the request's own travel time) and at most `ceiling`
    seconds before, and never before half of its life has passed: a very short token is still
    reused, so at most twice the minimum number of tokens is ever asked for.

    With the defaults: a 1-hour token is renewed 5 minutes before it expires, a 5-minute token
    30 s before, a 15 s token 5 s before (used for 10 s), a 2 s token 1 s before (used for 1 s).
    """

    fraction: float = 0.1
    floor: float = 5.0
    ceiling: float = 300.0

    def __post_init__(self) -> None:
        if not 0 <= self.fraction < 1 or self.floor < 0 or self.ceiling < self.floor:
            raise ValueError("Renewal needs 0 <= fraction < 1 and 0 <= floor <= ceiling")

    def margin(self, lifetime: float) -> float:
        """Seconds before expiry at which a token of `lifetime` seconds is renewed."""
        lifetime = max(lifetime, 0.0)
        return min(max(self.fraction * lifetime, self.floor), self.ceiling, lifetime / 2)


class TokenAuth(Auth):
    """A token obtained from the vendor: implement `fetch_token`; caching and renewal are done here.

    `renewal` says when a token is renewed (see `Renewal`); `renew_margin` is the former way of
    saying it (renew at most that many seconds, and at most a fifth of the lifetime, early).
    `rate_limit_token_requests` says whether token requests take slots of the tenant's rate
    limit. `clock` is where time comes from (tests inject a fake one).
    """

    renewable = True

    rate_limit_token_requests: bool = True
    """Whether token requests take slots of the tenant's rate limit: True when the token route is
    part of the API the limit covers (`TokenExchange`); False for a separate authorization server
    with limits of its own (`OAuth2`). Set it in the constructor, or as a class attribute."""

    refusal_hint: str = "Check the credentials in this tenant's [[sources]] entry."
    """What to check, added to the message when the token route refuses the credentials."""

    def __init__(self, *, renewal: Renewal | None = None, renew_margin: float | None = None,
                 rate_limit_token_requests: bool | None = None, clock: Clock = time.time) -> None:
        if renewal is None:
            renewal = Renewal() if renew_margin is None else Renewal(fraction=0.2, floor=0.0, ceiling=renew_margin)
        self.renewal = renewal
        if rate_limit_token_requests is not None:
            self.rate_limit_token_requests = rate_limit_token_requests
        self.clock = clock
        self._token: Token | None = None
        self._margin = 0.0
        self._lock = asyncio.Lock()
        self._refused: AuthenticationError | None = None

    @property
    def share_rate_limit(self) -> bool:
        """The former name of `rate_limit_token_requests` (kept working; prefer the new one)."""
        return self.rate_limit_token_requests

    @share_rate_limit.setter
    def share_rate_limit(self, value: bool) -> None:
        self.rate_limit_token_requests = value

    @abc.abstractmethod
    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Obtain a new token from the vendor through `channel` (raise `BadStatus` as it comes)."""

    async def prepare(self, channel: TokenChannel) -> None:
        """Fetch a token if there is none or it is about to expire."""
        token = self._token
        if token is None or self._remaining(token) <= self._margin:
            async with self._lock:
                if self._token is token:
                    self._token = await self._fetch(channel)

    def fresh(self) -> bool:
        """True if the token will not have expired by the time the request arrives."""
        token = self._token
        return token is not None and self._remaining(token) > min(1.0, self._margin / 2)

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set `Authorization: Bearer <token>` (override for another scheme)."""
        if self._token is None:
            return None
        value = f"Bearer {self._token.value}"
        headers["Authorization"] = value
        return value

    async def renew(self, rejected: str | None, channel: TokenChannel) -> None:
        """Replace the token the vendor rejected, unless a concurrent request already did."""
        async with self._lock:
            if self._token is None or self.apply({}, {}) == rejected:
                self._token = await self._fetch(channel)

    @property
    def renew_at(self) -> float | None:
        """When the token held now will be renewed (seconds since the epoch), or None."""
        token = self._token
        return None if token is None or token.expires_at is None else token.expires_at - self._margin

    def _remaining(self, token: Token) -> float:
        return float("inf") if token.expires_at is None else token.expires_at - self.clock()

    async def _fetch(self, channel: TokenChannel) -> Token:
        if self._refused is not None:  # the vendor said no: do not ask again in this run
            raise AuthenticationError(str(self._refused))
        asked = self.clock()
        try:
            token = await self.fetch_token(channel)
        except BadStatus as exc:
            if exc.status in (400, 401, 403):
                self._refused = AuthenticationError(
                    f"The vendor refused the credentials at {exc.method} {exc.url} "
                    f"(HTTP {exc.status}: {exc.detail or 'no detail'}). {self.refusal_hint}")
                raise AuthenticationError(str(self._refused)) from None
            raise
        if not token.value:
            raise TenantError("The vendor answered the token request without a token.")
        register_secret(token.value)
        if token.expires_at is not None:
            self._margin = self.renewal.margin(token.expires_at - asked)
        return token


def resolve(value: Any) -> Any:
    """A request body with every `Secret` inside replaced by its value (at send time only)."""
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v) for v in value]
    return value


def field_at(data: Any, path: str) -> Any:
    """The value at a dotted path of a JSON answer (None where the path does not lead)."""
    for part in path.split(".") if path else []:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


class TokenExchange(TokenAuth):
    """Exchange configured credentials for a token at one route of the API (or any URL).

    `json` or `data` (a form) is the request body; `Secret` values inside it are sent as their
    values and never logged. The token is read at `token_field` of the answer (a dotted path), its
    lifetime from `expires_field` (seconds), else the JWT's `exp`, else `lifetime`. The token
    route is taken to be part of the API, so token requests count against the tenant's rate limit
    unless `rate_limit_token_requests=False`.
    """

    def __init__(self, route: str, *, json: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                 method: str = "POST", token_field: str = "token", expires_field: str = "expires_in",
                 lifetime: float = 300.0, renewal: Renewal | None = None, renew_margin: float | None = None,
                 rate_limit_token_requests: bool | None = None, hint: str | None = None,
                 clock: Clock = time.time) -> None:
        super().__init__(renewal=renewal, renew_margin=renew_margin,
                         rate_limit_token_requests=rate_limit_token_requests, clock=clock)
        for part in (json, data):
            for value in (part or {}).values():
                if isinstance(value, Secret):
                    register_secret(value.get_secret_value())
        self.route, self.method = route, method
        self._json, self._data = json, data
        self._token_field, self._expires_field, self._lifetime = token_field, expires_field, lifetime
        if hint:
            self.refusal_hint = hint

    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Send the credentials and read the token from the answer."""
        kwargs: dict[str, Any] = {}
        if self._json is not None:
            kwargs["json"] = resolve(self._json)
        if self._data is not None:
            kwargs["data"] = resolve(self._data)
        asked = self.clock()
        answer = await channel.json(self.method, self.route, **kwargs)
        return self.read_token(answer, asked=asked)

    def read_token(self, answer: Any, *, asked: float | None = None) -> Token:
        """The token in a token route's answer (raises TenantError when there is none); `asked` is
        when it was asked for (its lifetime counts from then)."""
        value = field_at(answer, self._token_field)
        if not isinstance(value, str) or not value:
            raise TenantError(f"The vendor answered the token request without a `{self._token_field}`.")
        register_secret(value)
        return Token(value, token_expiry(field_at(answer, self._expires_field), value, self._lifetime,
                                         now=self.clock() if asked is None else asked))
