"""An OAuth2 token endpoint for vendor emulators (RFC 6749, RFC 7523), and the checks its tokens get.

A vendor whose API takes OAuth2 tokens needs, in its emulator, a token endpoint that behaves like
the vendor's: `TokenEndpoint` is one, to mount on any `EmulatorServer` (or on a host of its own,
as authorization servers often are) and to configure from the vendor's documentation:

    tokens = TokenEndpoint(lifetime=900, client_auth=("basic",), rotate_refresh_tokens=True)
    tokens.add_client("client-1", "its-secret")
    tokens.allow("account_credentials", lambda client, form: form.get("account_id"))   # Zoom's grant
    tokens.mount(server, "/oauth/token")
    refresh = tokens.authorise("client-1", subject="user-7")   # what a consent screen would hand out
    ...
    subject = tokens.check(request)                            # in each API route: 401 unless valid

What it does, as a strict vendor would:
- client authentication per RFC 6749 2.3.1: HTTP Basic (each part form-urldecoded) and/or
  `client_id`/`client_secret` in the form, as `client_auth` allows ("basic", "body"; two ways at
  once is refused), or a signed JWT `client_assertion` (RFC 7523 2.2, "jwt"); public clients
  (no secret) send only `client_id`;
- grants: `client_credentials`; `refresh_token`, single-use and rotating with
  `rotate_refresh_tokens` (each refresh answers a new refresh token; the old one is refused from
  then on, and its reuse is counted and, as OAuth's security advice says, revokes what descends
  from it); the JWT-bearer grant (RFC 7523: an HS256 assertion signed with the client's secret,
  or RS256/ES256 with a public key given to `add_client`, which needs `cryptography`), checked
  for issuer, audience, expiry and a replayed `jti`; any other grant type through `allow`;
- errors in RFC 6749 5.2's shape (`{"error": "invalid_grant", "error_description": ...}`),
  400, or 401 for a client it does not know;
- `check(request)` accepts only a known, unexpired bearer token, and counts the expired ones
  that arrive (a client that let one expire while it waited);
- `clock` is where time comes from, shared with a fake clock in tests;
- `audit()` says what it saw, for assertions and the conformance suite's token checks, and
  `secrets()` lists every credential it issued (for the secret scans).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from ._server import EmulatorError, Request, Response

if TYPE_CHECKING:
    from ._server import EmulatorServer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

GrantRule = Callable[[str, Mapping[str, str]], "str | None"]
"""A custom grant's check: given the authenticated client id and the form, the subject the token
is for, or None to refuse the grant (`invalid_grant`)."""


@dataclass(frozen=True)
class TokenAudit:
    """What a token endpoint (or several, added with `+`) saw."""

    token_requests: int = 0
    """Token requests answered, whatever the outcome."""
    issued: int = 0
    """Access tokens issued."""
    refused: int = 0
    """Token requests refused (bad client, bad grant)."""
    reused_refresh_tokens: int = 0
    """Refresh tokens sent again after they had been used (with rotation: the client lost the new one)."""
    expired_arrivals: int = 0
    """API requests that arrived with an access token that had expired."""
    lifetime: float = 0.0
    """The access tokens' lifetime, in seconds (the shortest, when endpoints are added)."""
    last_answer: float | None = None
    """When the last token request was answered (`time.monotonic()`), or None."""
    in_flight: int = 0
    """Token requests being answered right now."""

    def __add__(self, other: TokenAudit) -> TokenAudit:
        lifetimes = [x for x in (self.lifetime, other.lifetime) if x]
        answers = [x for x in (self.last_answer, other.last_answer) if x is not None]
        return TokenAudit(self.token_requests + other.token_requests, self.issued + other.issued,
                          self.refused + other.refused, self.reused_refresh_tokens + other.reused_refresh_tokens,
                          self.expired_arrivals + other.expired_arrivals, min(lifetimes, default=0.0),
                          max(answers, default=None), self.in_flight + other.in_flight)


@dataclass
class _Client:
    secret: str | None
    subject: str
    public_key: Any = None


@dataclass
class _Refresh:
    client_id: str
    subject: str
    family: str
    used: bool = False


@dataclass
class _Access:
    client_id: str
    subject: str
    expires: float
    family: str | None = None


class _Refusal(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class _Counts:
    requests: int = 0
    issued: int = 0
    refused: int = 0
    reused: int = 0
    expired: int = 0
    last_answer: float | None = None
    in_flight: int = 0
    assertions: set[str] = field(default_factory=set)


class TokenEndpoint:
    """An OAuth2 token endpoint as a strict vendor runs it (see the module's description).

    `lifetime`: seconds an access token lives. `client_auth`: the ways a client may authenticate
    ("basic", "body", "jwt"). `grants`: the grant types served (`allow` adds custom ones).
    `rotate_refresh_tokens`: refresh tokens are single-use and each refresh issues a new one;
    `refresh_grace`: seconds during which a just-replaced refresh token is still accepted (0, the
    default, is strict). `audience`: what a JWT assertion's `aud` must be (default: the mounted
    URL).
    """

    def __init__(self, *, lifetime: float = 3600.0, client_auth: Iterable[str] = ("basic", "body", "jwt"),
                 grants: Iterable[str] = ("client_credentials", "refresh_token", JWT_BEARER),
                 rotate_refresh_tokens: bool = True, refresh_grace: float = 0.0, audience: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.client_auth = tuple(client_auth)
        self.grants: dict[str, GrantRule | None] = dict.fromkeys(grants)
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.refresh_grace = refresh_grace
        self.audience = audience
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._replaced: dict[str, float] = {}
        self._access: dict[str, _Access] = {}
        self._revoked_families: set[str] = set()
        self._issued: list[str] = []
        self._counts = _Counts()
        self.forms: list[dict[str, str]] = []
        """Every token request's form as it arrived (for tests of what a client sends)."""
        self._mounted: tuple[EmulatorServer, str] | None = None
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str | None, *, subject: str | None = None,
                   public_key: str | None = None) -> None:
        """Register a client: its secret (None for a public client), the subject its own tokens are
        for (default: the client id), and a PEM public key its RS256/ES256 assertions are checked with."""
        key = None
        if public_key is not None:
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_public_key(public_key.encode())
        with self._lock:
            self._clients[client_id] = _Client(secret, subject or client_id, key)

    def allow(self, grant_type: str, rule: GrantRule) -> None:
        """Serve a custom grant type: `rule(client_id, form)` returns the token's subject or None."""
        self.grants[grant_type] = rule

    def mount(self, server: EmulatorServer, path: str = "/oauth/token", *, kind: str = "auth") -> None:
        """Serve the endpoint at `POST path` on `server` (its route kind: `kind`)."""
        self._mounted = (server, path)
        server.add_route("POST", path, kind, self.handle)

    def authorise(self, client_id: str, subject: str) -> str:
        """A refresh token for `subject`, as the vendor's consent screen hands one to the operator."""
        token = "rt-" + _random.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _Refresh(client_id, subject, family=token)
            self._issued.append(token)
        return token

    def revoke(self, subject: str) -> None:
        """Every token of `subject` (access and refresh) stops working."""
        with self._lock:
            for refresh in self._refresh.values():
                if refresh.subject == subject:
                    refresh.used = True
                    self._revoked_families.add(refresh.family)
            for token, access in list(self._access.items()):
                if access.subject == subject:
                    del self._access[token]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is refused from now on (the vendor revoked them)."""
        with self._lock:
            self._access.clear()

    # -- what tests look at ----------------------------------------------------------------------

    def audit(self) -> TokenAudit:
        """What the endpoint saw so far."""
        with self._lock:
            c = self._counts
            return TokenAudit(c.requests, c.issued, c.refused, c.reused, c.expired, self.lifetime, c.last_answer,
                              c.in_flight)

    def secrets(self) -> list[str]:
        """Every client secret and token the endpoint knows or issued."""
        with self._lock:
            return [*(c.secret for c in self._clients.values() if c.secret), *self._issued]

    # -- serving ---------------------------------------------------------------------------------

    def check(self, request: Request) -> str:
        """The subject of the request's bearer token; a 401 if it is missing, unknown or expired."""
        token = request.bearer
        with self._lock:
            access = self._access.get(token or "")
            if access is not None and access.expires <= self.clock():
                self._counts.expired += 1
                raise EmulatorError(401, "The access token has expired.",
                                    {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if access is None:
            raise EmulatorError(401, "The access token is not valid.",
                                {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return access.subject

    def handle(self, request: Request) -> Response:
        """The token endpoint's route handler: `POST` with a form (RFC 6749 4 and 6)."""
        with self._lock:
            self._counts.in_flight += 1
        try:
            answer = self._token(request)
        except _Refusal as refusal:
            with self._lock:
                self._counts.refused += 1
            headers = {"WWW-Authenticate": 'Basic realm="token"'} if refusal.status == 401 else {}
            answer = Response.json({"error": refusal.error, "error_description": refusal.description},
                                   refusal.status, headers)
        finally:
            with self._lock:
                self._counts.in_flight -= 1
                self._counts.requests += 1
                self._counts.last_answer = time.monotonic()
        answer.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        return answer

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            self.forms.append(form)
        client_id = self._client(request, form)
        grant = form.get("grant_type", "")
        if grant not in self.grants:
            raise _Refusal("unsupported_grant_type", f"The grant type {grant!r} is not supported.")
        family = None
        refresh_token = None
        if grant == "client_credentials":
            subject = self._clients[client_id].subject
        elif grant == "refresh_token":
            subject, family = self._use_refresh(client_id, form.get("refresh_token", ""))
            if self.rotate_refresh_tokens:
                refresh_token = "rt-" + _random.token_urlsafe(24)
        elif grant == JWT_BEARER:
            subject = self._assertion(client_id, form.get("assertion", ""))
        else:
            rule = self.grants[grant]
            found = rule(client_id, form) if rule is not None else None
            if not found:
                raise _Refusal("invalid_grant", f"The {grant} grant was refused.")
            subject = found
        access = "at-" + _random.token_urlsafe(24)
        with self._lock:
            self._access[access] = _Access(client_id, subject, self.clock() + self.lifetime, family)
            self._issued.append(access)
            self._counts.issued += 1
            if refresh_token is not None:
                assert family is not None
                self._refresh[refresh_token] = _Refresh(client_id, subject, family)
                self._issued.append(refresh_token)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        if "scope" in form:
            body["scope"] = form["scope"]
        return Response.json(body)

    def _client(self, request: Request, form: Mapping[str, str]) -> str:
        basic = request.basic
        ways = [way for way, used in (("basic", basic is not None), ("body", "client_secret" in form),
                                      ("jwt", "client_assertion" in form)) if used]
        if len(ways) > 1:
            raise _Refusal("invalid_request", "More than one way of authenticating the client was used.")
        way = ways[0] if ways else None
        if way is not None and way not in self.client_auth:
            raise _Refusal("invalid_client", f"Client authentication by {way} is not accepted.", 401)
        secret: str | None = None
        if basic is not None:
            client_id, secret = unquote_plus(basic[0]), unquote_plus(basic[1])
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if way == "jwt":
            if form.get("client_assertion_type") != CLIENT_ASSERTION_JWT:
                raise _Refusal("invalid_client", "Unknown client_assertion_type.", 401)
            claims = self._jwt(form["client_assertion"], client_id=form.get("client_id") or None)
            client_id = str(claims.get("iss"))
            if claims.get("sub") != client_id:
                raise _Refusal("invalid_client", "A client assertion's subject must be the client.", 401)
            return client_id
        if way is None and not client_id and form.get("grant_type") == JWT_BEARER:
            return ""  # RFC 7523 2.1: the assertion alone identifies the client (its issuer)
        with self._lock:
            client = self._clients.get(client_id)
        public = secret is None and (client is None or client.secret is None)
        if client is None or (not public and client.secret != secret) or (
                public and form.get("grant_type") == "client_credentials"):
            raise _Refusal("invalid_client", "Client authentication failed.", 401)
        return client_id

    def _use_refresh(self, client_id: str, token: str) -> tuple[str, str]:
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is None or refresh.client_id != client_id or refresh.family in self._revoked_families:
                raise _Refusal("invalid_grant", "The refresh token is invalid, expired or revoked.")
            if refresh.used:
                within_grace = self.clock() - self._replaced.get(token, float("-inf")) < self.refresh_grace
                if not within_grace:
                    self._counts.reused += 1
                    self._revoked_families.add(refresh.family)  # a replayed token: revoke its descendants
                    raise _Refusal("invalid_grant", "The refresh token has already been used.")
            if self.rotate_refresh_tokens and not refresh.used:
                refresh.used = True
                self._replaced[token] = self.clock()
            return refresh.subject, refresh.family

    def _assertion(self, client_id: str, assertion: str) -> str:
        return str(self._jwt(assertion, client_id=client_id)["sub"])

    def _jwt(self, assertion: str, *, client_id: str | None) -> dict[str, Any]:
        """The claims of an assertion signed by `client_id` (None: by its issuer), all checked."""
        parts = assertion.split(".")
        try:
            header, claims = (json.loads(_unb64(part)) for part in parts[:2])
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error, IndexError):
            raise _Refusal("invalid_grant", "The assertion is not a JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict) or len(parts) != 3:
            raise _Refusal("invalid_grant", "The assertion is not a JWT.")
        with self._lock:
            client = self._clients.get(client_id or str(claims.get("iss")))
        signed = f"{parts[0]}.{parts[1]}".encode()
        if client is None or not _verify(header.get("alg"), signed, signature, client):
            raise _Refusal("invalid_grant", "The assertion's signature is not valid.")
        now = self.clock()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now or claims["exp"] > now + 3600:
            raise _Refusal("invalid_grant", "The assertion has expired or lives too long.")
        audience = self.audience or (f"{self._mounted[0].url}{self._mounted[1]}" if self._mounted else None)
        if audience is not None and claims.get("aud") not in (audience, [audience]):
            raise _Refusal("invalid_grant", "The assertion is for another audience.")
        if not claims.get("iss") or not claims.get("sub"):
            raise _Refusal("invalid_grant", "The assertion has no issuer or subject.")
        jti = str(claims.get("jti") or hashlib.sha256(assertion.encode()).hexdigest())
        with self._lock:
            if jti in self._counts.assertions:
                raise _Refusal("invalid_grant", "The assertion was used before.")
            self._counts.assertions.add(jti)
        return claims


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify(algorithm: object, signed: bytes, signature: bytes, client: _Client) -> bool:
    if algorithm == "HS256":
        if client.secret is None:
            return False
        return hmac.compare_digest(hmac.new(client.secret.encode(), signed, hashlib.sha256).digest(), signature)
    if algorithm in ("RS256", "ES256") and client.public_key is not None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            if algorithm == "RS256":
                client.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            else:
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
                client.public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
    return False


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unchecked (for tests that look at what a client signed)."""
    claims = json.loads(_unb64(token.split(".")[1]))
    return claims if isinstance(claims, dict) else {}
