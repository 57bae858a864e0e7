"""Authentication strategies: a plugin picks one and passes its settings; the client applies it.

    Auth                      what every strategy is: put a credential on a request
    ├── HeaderAuth            a fixed header from a secret: an API key, a static bearer token
    │   └── StaticBearerAuth  "Authorization: Bearer <secret>"
    ├── ApiKeyAuth            a fixed API key in a header or a query parameter
    ├── BasicAuth             HTTP Basic from two secrets (the derived header is a secret too)
    └── TokenAuth             a token obtained from the vendor, cached, renewed before it expires
        ├── TokenExchange     POST credentials to a token route, read the token from the answer
        └── OAuth2ClientCredentials   RFC 6749 4.4, for a token URL usually on another host

Every strategy is applied by `HttpClient` right before a request is sent, after any wait for a
rate-limit slot, and only to requests for the client's own origin: credentials never travel to
another host (a signed storage URL, a redirect target). Token strategies fetch their tokens
through a `TokenChannel` the client hands them: the tenant's client, retried like any request,
without credentials, without a concurrency permit (a token request must never wait behind the
requests that wait for its token) and under the tenant's rate limit unless the strategy says
its token route is counted separately (`share_rate_limit`).

A token route that refuses the credentials (400, 401, 403) stops the tenant with one clear
message, made here for every strategy: which route refused, the vendor's detail, and the
strategy's hint of what to check. A token is renewed shortly before it expires (a fifth of its
lifetime, at most `renew_margin` seconds), once when the vendor answers 401, and one renewal at
a time per tenant (concurrent requests wait for the same new token).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote_plus

from ._errors import AuthenticationError, BadStatus, TenantError
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


def token_expiry(expires_in: object, token: str, assumed_lifetime: float) -> float:
    """When a token expires: an `expires_in` (seconds, number or digits) if usable, else the JWT's
    `exp`, else `assumed_lifetime` from now."""
    now = time.time()
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        return now + float(expires_in)
    return jwt_expiry(token) or now + assumed_lifetime


class TokenChannel:
    """How a token strategy talks to its token route: explicitly, not through the request it serves.

    Requests sent here are retried like any other, carry no credentials the strategy did not put
    on them itself, take no concurrency permit, and take a rate-limit slot only when `rate_limited`.
    """

    def __init__(self, client: HttpClient, *, rate_limited: bool) -> None:
        self._client = client
        self.rate_limited = rate_limited

    @property
    def base_url(self) -> str:
        """The base URL relative token routes are joined to (the API's)."""
        return self._client.base_url

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a token request (relative to the API, or an absolute token URL) and return its JSON."""
        return await self._client.json(method, url, authenticate=False, rate_limited=self.rate_limited,
                                       _permit=False, **kwargs)


class Auth(abc.ABC):
    """Puts a credential on a request. Subclass it for a scheme the core does not ship."""

    renewable: ClassVar[bool] = False
    """True when a rejected credential can be replaced (a token); a 401 is then retried once."""

    header_names: tuple[str, ...] = ("Authorization",)
    """Headers this strategy sets (never sent across origins)."""

    param_names: tuple[str, ...] = ()
    """Query parameters this strategy sets (never sent across origins)."""

    async def prepare(self, channel: TokenChannel) -> None:
        """Make a credential ready to send (fetch or renew a token); called before the rate-limit wait."""

    def fresh(self) -> bool:
        """True if the credential held now may still be sent (checked after the rate-limit wait)."""
        return True

    @abc.abstractmethod
    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Add the credential to a request's headers or query; return what identifies it (for `renew`)."""

    async def renew(self, rejected: str | None, channel: TokenChannel) -> None:
        """Replace a credential the vendor rejected with 401 (only called when `renewable`)."""


class HeaderAuth(Auth):
    """A fixed secret in one header, e.g. `HeaderAuth(key, header="X-Api-Key", scheme=None)`."""

    def __init__(self, secret: Secret, *, header: str = "Authorization", scheme: str | None = "Bearer") -> None:
        self._value = f"{scheme} {secret.get_secret_value()}" if scheme else secret.get_secret_value()
        register_secret(self._value)
        self.header_names = (header,)
        self._header = header

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the header."""
        headers[self._header] = self._value
        return self._value


class StaticBearerAuth(HeaderAuth):
    """A fixed bearer token from the configuration; a 401 means it was revoked or is wrong."""

    def __init__(self, secret: Secret) -> None:
        super().__init__(secret)


class ApiKeyAuth(Auth):
    """A fixed API key sent in a header (`header="X-API-Key"`) or a query parameter (`param="key"`).

    Prefer the header when the vendor accepts both: the collector never logs query strings, but
    proxies and the vendor's own logs may.
    """

    def __init__(self, secret: Secret, *, header: str | None = None, param: str | None = None) -> None:
        if (header is None) == (param is None):
            raise ValueError("give exactly one of header= and param=")
        self._secret = secret
        self._header, self._param = header, param
        self.header_names = (header,) if header else ()
        self.param_names = (param,) if param else ()

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the header or the query parameter."""
        value = self._secret.get_secret_value()
        if self._header:
            headers[self._header] = value
        else:
            assert self._param is not None
            params[self._param] = value
        return value


def basic_credentials(username: str, password: str) -> str:
    """The value of an `Authorization: Basic` header for a user and a password (RFC 7617, UTF-8).

    The result is registered with the redactor: anyone holding it holds the password.
    """
    value = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    register_secret(value)
    register_secret(value[len("Basic "):])
    return value


class BasicAuth(Auth):
    """HTTP Basic from an account id (plain or secret) and a secret."""

    def __init__(self, username: str | Secret, password: Secret) -> None:
        user = username.get_secret_value() if isinstance(username, Secret) else username
        self._value = basic_credentials(user, password.get_secret_value())

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the Authorization header."""
        headers["Authorization"] = self._value
        return self._value


class TokenAuth(Auth):
    """A token obtained from the vendor: implement `fetch_token`; caching and renewal are done here."""

    renewable = True

    share_rate_limit: ClassVar[bool] = True
    """Whether token requests take slots of the tenant's rate limit (True when the token route is
    part of the API the limit covers; False for a separate authorization server)."""

    refusal_hint: str = "Check the credentials in this tenant's [[sources]] entry."
    """What to check, added to the message when the token route refuses the credentials."""

    def __init__(self, *, renew_margin: float = 30.0) -> None:
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._max_margin = renew_margin
        self._renew_margin = renew_margin

    @abc.abstractmethod
    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Obtain a new token from the vendor through `channel` (raise `BadStatus` as it comes)."""

    async def prepare(self, channel: TokenChannel) -> None:
        """Fetch a token if there is none or it is about to expire."""
        token = self._token
        if token is None or self._remaining(token) <= self._renew_margin:
            async with self._lock:
                if self._token is token:
                    self._token = await self._fetch(channel)

    def fresh(self) -> bool:
        """True if the token will not have expired by the time the request arrives."""
        token = self._token
        return token is not None and self._remaining(token) > min(1.0, self._renew_margin / 2)

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

    @staticmethod
    def _remaining(token: Token) -> float:
        return float("inf") if token.expires_at is None else token.expires_at - time.time()

    async def _fetch(self, channel: TokenChannel) -> Token:
        try:
            token = await self.fetch_token(channel)
        except BadStatus as exc:
            if exc.status in (400, 401, 403):
                raise AuthenticationError(
                    f"The vendor refused the credentials at {exc.method} {exc.url} "
                    f"(HTTP {exc.status}: {exc.detail or 'no detail'}). {self.refusal_hint}"
                ) from None
            raise
        if not token.value:
            raise TenantError("The vendor answered the token request without a token.")
        register_secret(token.value)
        if token.expires_at is not None:
            # Renew early, but never so early that a short-lived token is renewed on every request.
            lifetime = token.expires_at - time.time()
            self._renew_margin = min(self._max_margin, max(lifetime / 5, 0.0))
        return token


def _resolve(value: Any) -> Any:
    """A request body with every `Secret` inside replaced by its value (at send time only)."""
    if isinstance(value, Secret):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return value


def _field(data: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


class TokenExchange(TokenAuth):
    """Exchange configured credentials for a token at one route of the API (or any URL).

    `json` or `data` (a form) is the request body; `Secret` values inside it are sent as their
    values and never logged. The token is read at `token_field` of the answer (a dotted path), its
    lifetime from `expires_field` (seconds), else the JWT's `exp`, else `lifetime`.
    """

    def __init__(self, route: str, *, json: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                 method: str = "POST", token_field: str = "token", expires_field: str = "expires_in",
                 lifetime: float = 300.0, renew_margin: float = 30.0, hint: str | None = None) -> None:
        super().__init__(renew_margin=renew_margin)
        self.route, self.method = route, method
        self._json, self._data = json, data
        self._token_field, self._expires_field, self._lifetime = token_field, expires_field, lifetime
        if hint:
            self.refusal_hint = hint

    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Send the credentials and read the token from the answer."""
        kwargs: dict[str, Any] = {}
        if self._json is not None:
            kwargs["json"] = _resolve(self._json)
        if self._data is not None:
            kwargs["data"] = _resolve(self._data)
        answer = await channel.json(self.method, self.route, **kwargs)
        return self.read_token(answer)

    def read_token(self, answer: Any) -> Token:
        """The token in a token route's answer (raises TenantError when there is none)."""
        value = _field(answer, self._token_field)
        if not isinstance(value, str) or not value:
            raise TenantError(f"The vendor answered the token request without a `{self._token_field}`.")
        return Token(value, token_expiry(_field(answer, self._expires_field), value, self._lifetime))


class OAuth2ClientCredentials(TokenExchange):
    """OAuth2 client credentials (RFC 6749 4.4): `grant_type=client_credentials` posted as a form.

    `client_auth="basic"` sends the client id and secret as HTTP Basic (RFC 6749 2.3.1, the
    default every server must accept), `"body"` in the form. The token URL is usually on an
    authorization server with limits of its own, so token requests do not take the tenant's
    rate-limit slots.
    """

    share_rate_limit = False

    def __init__(self, token_url: str, *, client_id: str, client_secret: Secret, scope: str | None = None,
                 client_auth: Literal["basic", "body"] = "basic", lifetime: float = 3600.0,
                 renew_margin: float = 60.0) -> None:
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        if client_auth == "body":
            form.update(client_id=client_id, client_secret=client_secret)
        super().__init__(token_url, data=form, token_field="access_token", lifetime=lifetime,
                         renew_margin=renew_margin,
                         hint=f"Check client_id ({client_id!r}), client_secret, scope and how the client "
                              f"authenticates (client_auth, now {client_auth!r}).")
        self._basic = (basic_credentials(quote_plus(client_id), quote_plus(client_secret.get_secret_value()))
                       if client_auth == "basic" else None)

    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Post the form to the token URL."""
        headers = {"Accept": "application/json"}
        if self._basic:
            headers["Authorization"] = self._basic
        assert self._data is not None
        answer = await channel.json("POST", self.route, data=_resolve(self._data), headers=headers)
        return self.read_token(answer)
