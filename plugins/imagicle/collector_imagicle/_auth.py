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

from collector import Auth, OAuth2ClientCredentials, SourceContext, StaticBearerAuth

from ._settings import ImagicleSettings, OAuthSettings


def build_auth(settings: ImagicleSettings, context: SourceContext) -> Auth:
    """The authentication a source entry asks for (the settings guarantee exactly one is set)."""
    if settings.token is not None:
        return StaticBearerAuth(settings.token)
    o = settings.oauth
    assert o is not None
    return OAuth2ClientCredentials(o.token_url, client_id=o.client_id, client_secret=o.client_secret, scope=o.scope,
                                   client_auth=o.client_auth, lifetime=o.token_lifetime)
