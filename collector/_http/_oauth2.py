"""OAuth2 token requests (RFC 6749) with any grant: one strategy, the grant as a parameter.

    OAuth2(token_url, grant, client_id=..., client_secret=..., client_auth="basic" | "body" | "none",
           params={...})

- `grant`: what the token request asks for. A `Grant` (or its `grant_type` as a string):
  `Grant.client_credentials()` (RFC 6749 4.4), `Grant.jwt_bearer(assertion)` (RFC 7523 2.1:
  a signed JWT, made afresh per request by a callable such as `JwtAssertion`),
  `Grant("account_credentials", account_id=...)` (any custom grant type with its parameters,
  as Zoom's), or `RefreshTokenGrant(...)` (refresh tokens, single-use and rotating ones too,
  kept between runs in a `TokenStore`).
- client authentication (RFC 6749 2.3.1): `"basic"` sends the client id and secret as HTTP Basic
  (each form-urlencoded first, as the RFC says; the method every server must accept), `"body"`
  as `client_id` and `client_secret` form fields, `"none"` sends only `client_id` (a public
  client, or one authenticated by a `client_assertion` in `params`).
- `params`: extra token parameters sent with every token request, `scope`, `audience`,
  `resource`, ...; values may be strings, `Secret`s or callables computed per request.

The answer's `access_token` is the token, its `expires_in` the lifetime (else the JWT's `exp`,
else `lifetime`); renewal, the check after the rate-limit wait, renew-once-on-401 and the
mapping of refusals to one `AuthenticationError` come from `TokenAuth`. The token URL is usually
an authorization server with limits of its own, so token requests do not take the tenant's
rate-limit slots unless `rate_limit_token_requests=True`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus

from collector._base._errors import AuthenticationError, TenantError
from collector._base._redact import register_secret
from collector._base._secret import Secret

from ._auth import TokenChannel, basic_credentials, secret_value
from ._token_store import TokenStore
from ._tokens import Clock, Renewal, Token, TokenAuth, field_at, token_expiry

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The grant type of RFC 7523's JWT-bearer assertion grant."""

CLIENT_ASSERTION_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The `client_assertion_type` of RFC 7523's JWT client authentication (with `client_auth="none"`)."""

ParamValue = str | Secret | Callable[[], str | Secret]
"""A token parameter: a string, a `Secret` (sent as its value, never logged), or a callable that
computes one for each token request (a signed assertion with a new expiry and id)."""

Send = Callable[[dict[str, str]], Awaitable[Mapping[str, Any]]]
"""What a grant is given to send its form with: it posts the form and returns the JSON answer."""


def _value(name: str, value: ParamValue) -> str:
    if callable(value) and not isinstance(value, (str, Secret)):
        value = value()
    if isinstance(value, Secret):
        return value.get_secret_value()
    if not isinstance(value, str):
        raise TypeError(f"token parameter {name!r} must be a str, a Secret or a callable returning one, "
                        f"not {type(value).__name__}")
    return value


def check_params(params: Mapping[str, ParamValue]) -> None:
    """Refuse a token parameter that is not a str, a `Secret` or a callable (at start-up, not at the
    first token request), and register the `Secret`s among them with the redactor."""
    for name, value in params.items():
        if isinstance(value, Secret):
            register_secret(value.get_secret_value())
        elif not isinstance(value, str) and not callable(value):
            raise TypeError(f"token parameter {name!r} must be a str, a Secret or a callable returning one, "
                            f"not {type(value).__name__}")


def form_of(params: Mapping[str, ParamValue]) -> dict[str, str]:
    """Token parameters as the form values to send (secrets revealed, callables called)."""
    return {name: _value(name, value) for name, value in params.items()}


class Grant:
    """What an OAuth2 token request asks for: a `grant_type` and its parameters.

    `Grant("account_credentials", account_id="...")` is any grant a vendor defines; the class
    methods name the standard ones. `exchange` sends the form (override it for a grant that keeps
    state between requests, as `RefreshTokenGrant` does); `hint` is added to the message when
    the vendor refuses the grant.
    """

    hint: str = ""
    """What to check when the vendor refuses this grant (added to the refusal message)."""

    def __init__(self, grant_type: str, **params: ParamValue) -> None:
        if not grant_type:
            raise ValueError("grant_type is empty")
        check_params(params)
        self.grant_type = grant_type
        self.params = params

    @classmethod
    def client_credentials(cls) -> Grant:
        """RFC 6749 4.4: the client's own credentials, nothing else."""
        return cls("client_credentials")

    @classmethod
    def jwt_bearer(cls, assertion: ParamValue) -> Grant:
        """RFC 7523 2.1: a signed JWT as the grant; pass a `JwtAssertion` (or a callable of your own)
        so that each token request carries a fresh one."""
        grant = cls(JWT_BEARER, assertion=assertion)
        grant.hint = "Check the assertion's issuer, subject, audience and signing key."
        return grant

    def form(self) -> dict[str, str]:
        """The grant's form fields for one token request."""
        return {"grant_type": self.grant_type, **form_of(self.params)}

    async def exchange(self, send: Send) -> Mapping[str, Any]:
        """Send one token request through `send` and return the answer."""
        return await send(self.form())

    def __repr__(self) -> str:
        return f"Grant({self.grant_type!r}, {', '.join(self.params)})"


def _fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


class RefreshTokenGrant(Grant):
    """The refresh-token grant (RFC 6749 6), with refresh tokens that may be single-use and rotate.

    `initial` is the refresh token the operator obtained when authorising the collector (from the
    configuration); `store` keeps the current one between runs (a `TokenFile`). Each refresh is
    made holding the store's lock, with the token saved last; a new refresh token in the answer is
    saved (durably) before the access token that came with it is used. When the configured
    `initial` token changes (the operator authorised again), it replaces whatever the store holds.

    A refusal means the refresh token is dead (used already, revoked, expired): the tenant stops
    with an `AuthenticationError` asking the operator to authorise the collector again.
    """

    def __init__(self, store: TokenStore, *, initial: Secret | str | None = None, **params: ParamValue) -> None:
        super().__init__("refresh_token", **params)
        self.store = store
        self._initial = None if initial is None else secret_value(initial, "initial")
        self.hint = (f"If the client is right, the refresh token is no longer valid (refresh tokens may work once; "
                     f"a run killed just after the vendor replaced it loses the new one, and it may have been revoked "
                     f"or have expired): authorise the collector again with the vendor and put the new refresh token "
                     f"in this tenant's configuration (the collector keeps the current one in {store.describe()}).")

    def current(self) -> str:
        """The refresh token to send now: the configured one if it is new, else the one saved last."""
        record = self.store.load()
        seed = None if self._initial is None else _fingerprint(self._initial)
        if record and record.get("refresh_token") and (seed is None or record.get("seed") == seed):
            register_secret(record["refresh_token"])
            return record["refresh_token"]
        if self._initial is None:
            raise AuthenticationError(f"No refresh token: {self.store.describe()} holds none and the configuration "
                                      "gives none. Authorise the collector with the vendor first.")
        return self._initial

    async def exchange(self, send: Send) -> Mapping[str, Any]:
        """Refresh under the store's lock; save a rotated refresh token before returning the answer."""
        async with self.store.lock():
            current = self.current()
            answer = await send({"grant_type": "refresh_token", "refresh_token": current, **form_of(self.params)})
            new = answer.get("refresh_token") if isinstance(answer, Mapping) else None
            if isinstance(new, str) and new:
                register_secret(new)
                if new != current or self.store.load() is None:
                    seed = _fingerprint(self._initial) if self._initial is not None else ""
                    self.store.save({"refresh_token": new, "seed": seed,
                                     "saved": datetime.now(UTC).isoformat(timespec="seconds")})
            return answer


ClientAuth = Literal["basic", "body", "none"]


class OAuth2(TokenAuth):
    """OAuth2 tokens from a token URL with any grant, client authentication and extra parameters.

    See the module's description (and the README's "Toolkit: authentication"); `lifetime` is
    assumed when an answer says nothing of it, `renewal` says when a token is renewed, `headers`
    are added to each token request, `hint` replaces the first half of the refusal message.
    """

    rate_limit_token_requests = False

    def __init__(self, token_url: str, grant: Grant | str = "client_credentials", *, client_id: str | None = None,
                 client_secret: Secret | str | None = None, client_auth: ClientAuth = "basic",
                 params: Mapping[str, ParamValue] | None = None, scope: str | None = None,
                 lifetime: float = 3600.0, renewal: Renewal | None = None, renew_margin: float | None = None,
                 rate_limit_token_requests: bool | None = None, headers: Mapping[str, str] | None = None,
                 hint: str | None = None, clock: Clock = time.time) -> None:
        super().__init__(renewal=renewal, renew_margin=renew_margin,
                         rate_limit_token_requests=rate_limit_token_requests, clock=clock)
        if client_auth not in ("basic", "body", "none"):
            raise ValueError(f"client_auth must be 'basic', 'body' or 'none', not {client_auth!r}")
        if client_auth != "none" and (client_id is None or client_secret is None):
            raise ValueError(f"client_auth={client_auth!r} needs client_id and client_secret (or use 'none')")
        self.token_url = self.route = token_url
        self.grant = Grant(grant) if isinstance(grant, str) else grant
        self.client_id, self.client_auth = client_id, client_auth
        self._secret = None if client_secret is None else secret_value(client_secret, "client_secret")
        self._params: dict[str, ParamValue] = {**({"scope": scope} if scope else {}), **(params or {})}
        check_params(self._params)
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._lifetime = lifetime
        self._basic = None
        if client_auth == "basic":
            assert client_id is not None and self._secret is not None
            self._basic = basic_credentials(quote_plus(client_id), quote_plus(self._secret))
        client = f"client_id ({client_id!r}), client_secret and how the client authenticates " \
                 f"(client_auth, now {client_auth!r})" if client_id else "the client"
        first = hint or f"Check {client}, the grant ({self.grant.grant_type}) and its parameters" \
                        f"{' (' + ', '.join(self._params) + ')' if self._params else ''}."
        self.refusal_hint = f"{first} {self.grant.hint}".strip()

    def _form(self, grant_form: dict[str, str]) -> dict[str, str]:
        form = {**grant_form, **form_of(self._params)}
        if self.client_auth == "body":
            assert self.client_id is not None and self._secret is not None
            form.update(client_id=self.client_id, client_secret=self._secret)
        elif self.client_auth == "none" and self.client_id is not None:
            form["client_id"] = self.client_id
        return form

    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Post the grant's form (with the client's credentials and `params`) to the token URL."""
        headers = dict(self._headers)
        if self._basic:
            headers["Authorization"] = self._basic
        asked = [self.clock()]

        async def send(grant_form: dict[str, str]) -> Mapping[str, Any]:
            asked[0] = self.clock()
            answer = await channel.json("POST", self.token_url, data=self._form(grant_form), headers=headers)
            if not isinstance(answer, Mapping):
                raise TenantError("The vendor's token endpoint answered something other than a JSON object.")
            return answer

        answer = await self.grant.exchange(send)
        return self.read_token(answer, asked=asked[0])

    def read_token(self, answer: Any, *, asked: float | None = None) -> Token:
        """The access token of a token answer (RFC 6749 5.1), its expiry counted from `asked`."""
        value = field_at(answer, "access_token")
        if not isinstance(value, str) or not value:
            raise TenantError("The vendor answered the token request without an `access_token`.")
        register_secret(value)
        return Token(value, token_expiry(field_at(answer, "expires_in"), value, self._lifetime,
                                         now=self.clock() if asked is None else asked))


class OAuth2ClientCredentials(OAuth2):
    """OAuth2 client credentials (RFC 6749 4.4): `OAuth2` with `Grant.client_credentials()`.

    `client_auth="basic"` sends the client id and secret as HTTP Basic (RFC 6749 2.3.1, the
    default every server must accept), `"body"` in the form. Token requests do not take the
    tenant's rate-limit slots (the token URL is usually on an authorization server).
    """

    def __init__(self, token_url: str, *, client_id: str, client_secret: Secret | str, scope: str | None = None,
                 client_auth: Literal["basic", "body"] = "basic", lifetime: float = 3600.0,
                 params: Mapping[str, ParamValue] | None = None, renewal: Renewal | None = None,
                 renew_margin: float | None = None, rate_limit_token_requests: bool | None = None,
                 clock: Clock = time.time) -> None:
        super().__init__(token_url, Grant.client_credentials(), client_id=client_id, client_secret=client_secret,
                         client_auth=client_auth, params=params, scope=scope, lifetime=lifetime, renewal=renewal,
                         renew_margin=renew_margin, rate_limit_token_requests=rate_limit_token_requests,
                         clock=clock,
                         hint=f"Check client_id ({client_id!r}), client_secret, scope and how the client "
                              f"authenticates (client_auth, now {client_auth!r}).")
