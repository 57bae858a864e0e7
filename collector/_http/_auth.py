"""Authentication strategies: a plugin picks one and passes its settings; the client applies it.

    Auth                      what every strategy is: put a credential on a request
    ├── HeaderAuth            a fixed header from a secret: an API key, a static bearer token
    │   └── StaticBearerAuth  "Authorization: Bearer <secret>"
    ├── ApiKeyAuth            a fixed API key in a header or a query parameter
    ├── BasicAuth             HTTP Basic from an account id and a secret (the derived header is a secret too)
    └── TokenAuth             a token obtained from the vendor, cached, renewed before it expires (`_tokens`)
        ├── TokenExchange     POST credentials to a token route, read the token from the answer
        └── OAuth2            RFC 6749 token requests with any grant (`_oauth2`)
            └── OAuth2ClientCredentials   the client-credentials grant, kept as a thin case

Every strategy is applied by `HttpClient` right before a request is sent, after any wait for a
rate-limit slot, and only to requests for the client's own origin: credentials never travel to
another host (a signed storage URL, a redirect target). Token strategies fetch their tokens
through a `TokenChannel` the client hands them: the tenant's client, retried like any request,
without credentials, without a concurrency permit (a token request must never wait behind the
requests that wait for its token) and under the tenant's rate limit unless the strategy says its
token route is counted separately (`TokenAuth.rate_limit_token_requests`).

Credentials are accepted as a `Secret` or a plain `str` wherever a strategy takes one (or any
object with pydantic's `get_secret_value()`); anything else is a `TypeError` naming the
parameter, so an object's `repr` is never sent in place of a credential (`secret_value`).
"""

from __future__ import annotations

import abc
import base64
from typing import Any, ClassVar, Protocol, runtime_checkable

from collector._base._redact import register_secret
from collector._base._secret import Secret


@runtime_checkable
class _RevealsSecret(Protocol):
    def get_secret_value(self) -> Any: ...


def secret_value(value: Secret | str, name: str = "credential", *, register: bool = True) -> str:
    """The text of a credential given as a `Secret` (or pydantic's `SecretStr`) or a plain `str`.

    Anything else (None, a number, an object whose `str()` is a description rather than the value)
    raises a `TypeError` naming `name`, so a credential can never be sent as an object's `repr`.
    With `register`, the value is registered with the redactor: it is masked in every message.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, _RevealsSecret):
        text = value.get_secret_value()
        if not isinstance(text, str):
            raise TypeError(f"{name}: get_secret_value() returned {type(text).__name__}, not str")
    else:
        raise TypeError(f"{name} must be a collector.Secret or a str, not {type(value).__name__}")
    if not text:
        raise ValueError(f"{name} is empty")
    if register:
        register_secret(text)
    return text


class TokenSender(Protocol):
    """What a `TokenChannel` sends through: the tenant's `HttpClient` (`collector._http._client`,
    which builds on this module, so this module names only what it needs of it)."""

    @property
    def base_url(self) -> str: ...

    async def json(self, method: str, url: str, *, authenticate: bool = True, rate_limited: bool = True,
                   **kwargs: Any) -> Any: ...


class TokenChannel:
    """How a token strategy talks to its token route: explicitly, not through the request it serves.

    Requests sent here are retried like any other, carry no credentials the strategy did not put
    on them itself, take no concurrency permit, and take a rate-limit slot only when `rate_limited`.
    """

    def __init__(self, client: TokenSender, *, rate_limited: bool) -> None:
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

    async def prepare(self, channel: TokenChannel) -> None:  # noqa: B027 - optional: nothing to prepare by default
        """Make a credential ready to send (fetch or renew a token); called before the rate-limit wait."""

    def fresh(self) -> bool:
        """True if the credential held now may still be sent (checked after the rate-limit wait)."""
        return True

    @abc.abstractmethod
    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Add the credential to a request's headers or query; return what identifies it (for `renew`)."""

    async def renew(self, rejected: str | None, channel: TokenChannel) -> None:  # noqa: B027 - optional, as `prepare`
        """Replace a credential the vendor rejected with 401 (only called when `renewable`)."""


class HeaderAuth(Auth):
    """A fixed secret in one header, e.g. `HeaderAuth(key, header="X-Api-Key", scheme=None)`."""

    def __init__(self, secret: Secret | str, *, header: str = "Authorization", scheme: str | None = "Bearer") -> None:
        value = secret_value(secret, "secret")
        self._value = f"{scheme} {value}" if scheme else value
        register_secret(self._value)
        self.header_names = (header,)
        self._header = header

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the header."""
        headers[self._header] = self._value
        return self._value


class StaticBearerAuth(HeaderAuth):
    """A fixed bearer token from the configuration; a 401 means it was revoked or is wrong."""

    def __init__(self, secret: Secret | str) -> None:
        super().__init__(secret)


class ApiKeyAuth(Auth):
    """A fixed API key sent in a header (`header="X-API-Key"`) or a query parameter (`param="key"`).

    Prefer the header when the vendor accepts both: the collector never logs query strings, but
    proxies and the vendor's own logs may.
    """

    def __init__(self, secret: Secret | str, *, header: str | None = None, param: str | None = None) -> None:
        if (header is None) == (param is None):
            raise ValueError("give exactly one of header= and param=")
        self._value = secret_value(secret, "secret")
        self._header, self._param = header, param
        self.header_names = (header,) if header else ()

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the header or the query parameter."""
        if self._header:
            headers[self._header] = self._value
        else:
            assert self._param is not None
            params[self._param] = self._value
        return self._value


def basic_credentials(username: Secret | str, password: Secret | str) -> str:
    """The value of an `Authorization: Basic` header for a user and a password (RFC 7617, UTF-8).

    Either may be a `Secret` or a `str` (anything else is a `TypeError`: a `Secret` is never sent
    as its description). The password, the result and its base64 part are registered with the
    redactor: anyone holding the header holds the password. The user name is not (an account id
    often appears in URLs and messages), unless it was given as a `Secret`.
    """
    user = secret_value(username, "username", register=not isinstance(username, str))
    if ":" in user:
        raise ValueError("username: HTTP Basic cannot carry a user name containing ':' (RFC 7617)")
    token = base64.b64encode(f"{user}:{secret_value(password, 'password')}".encode()).decode("ascii")
    register_secret(token)
    register_secret("Basic " + token)
    return "Basic " + token


class BasicAuth(Auth):
    """HTTP Basic from an account id (plain or secret) and a secret."""

    def __init__(self, username: Secret | str, password: Secret | str) -> None:
        self._value = basic_credentials(username, password)

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """Set the Authorization header."""
        headers["Authorization"] = self._value
        return self._value
