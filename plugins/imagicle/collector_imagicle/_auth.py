"""Authentication for Imagicle Voice Analytics: a static bearer token, or OAuth2 client credentials.

The vendor's spec lists both schemes: a plain bearer token (end-user calls) and OAuth2 client
credentials with a token URL taken from the tenant's configuration. For client credentials the
core's `TokenAuth` does the caching, the renewal shortly before `expires_in` runs out and the one
renewal after a 401; this module only knows how to ask for a token.

The token URL is usually on another host than the API, so the token requests go through a second
HTTP client for that host, made by the core for the same tenant: it shares the tenant's rate
limiter, retry policy and counters.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import quote_plus

from collector import (
    AuthenticationError,
    HttpClient,
    HTTPStatusError,
    SourceContext,
    StaticBearerAuth,
    TenantError,
    Token,
    TokenAuth,
    jwt_expiry,
)

from ._settings import ImagicleSettings, OAuthSettings


class ClientCredentialsAuth(TokenAuth):
    """OAuth2 client credentials (RFC 6749 4.4): `grant_type=client_credentials` posted as a form."""

    def __init__(self, oauth: OAuthSettings, token_http: HttpClient) -> None:
        super().__init__(renew_margin=60.0)
        self._oauth = oauth
        self._http = token_http

    async def fetch_token(self, http: HttpClient) -> Token:
        """Ask the token URL for a new access token (the API client `http` is not used for this)."""
        o = self._oauth
        form = {"grant_type": "client_credentials"}
        if o.scope:
            form["scope"] = o.scope
        headers = {"Accept": "application/json"}
        secret = o.client_secret.get_secret_value()
        if o.client_auth == "basic":
            pair = f"{quote_plus(o.client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form.update(client_id=o.client_id, client_secret=secret)
        try:
            data = await self._http.json("POST", o.path, data=form, headers=headers, authenticate=False)
        except HTTPStatusError as exc:
            if exc.status in (400, 401, 403):
                raise AuthenticationError(
                    f"The token URL {o.token_url} refused the client credentials of client {o.client_id!r} "
                    f"(HTTP {exc.status}: {exc.detail or 'no detail'}). Check client_id, client_secret, scope "
                    f"and client_auth (now {o.client_auth!r})."
                ) from None
            raise
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise TenantError(f"The token URL {o.token_url} answered without an `access_token`.")
        return Token(token, _expiry(data.get("expires_in"), token, o.token_lifetime))


def _expiry(expires_in: object, token: str, assumed: float) -> float:
    """When the token expires: `expires_in` if usable, else the JWT's exp, else the assumed lifetime."""
    now = time.time()
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        return now + float(expires_in)
    return jwt_expiry(token) or now + assumed


def build_auth(settings: ImagicleSettings, context: SourceContext) -> TokenAuth:
    """The authentication a source entry asks for (the settings guarantee exactly one is set)."""
    if settings.token is not None:
        return StaticBearerAuth(settings.token)
    assert settings.oauth is not None
    return ClientCredentialsAuth(settings.oauth, context.http(settings.oauth.origin, None))
