"""Signed JWTs for OAuth2 assertions (RFC 7523): the jwt-bearer grant and JWT client authentication.

`JwtAssertion` is a callable that makes a fresh, signed JWT each time it is called (a new `iat`,
`exp` and `jti`: servers refuse a replayed assertion), so it can be passed wherever a token
parameter may be computed per request: `OAuth2(grant=Grant.jwt_bearer(JwtAssertion(...)))`, or
`params={"client_assertion": JwtAssertion(...)}`.

HS256 (a secret shared with the vendor) is an HMAC over two base64url strings, done here with
the standard library (RFC 7515's compact serialization). RS256 and ES256 (a private key whose
public half the vendor holds) need the `cryptography` package: `pip install
recording-collector[jwt]` (a plugin that uses them depends on that extra). Any other scheme: pass
your own callable returning the assertion.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from collector._base._redact import register_secret
from collector._base._secret import Secret

from ._auth import secret_value

Algorithm = Literal["HS256", "RS256", "ES256"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


class JwtAssertion:
    """A JWT signed afresh at every call, for the jwt-bearer grant or JWT client authentication.

    Claims: `iss` (`issuer`, often the client id or a service account's e-mail), `sub`
    (`subject`, the user or account the token is for; default: the issuer), `aud` (`audience`,
    usually the token URL), `iat` now, `exp` `lifetime` seconds later, a random `jti`, and any
    `claims` given (`scope`, say). `key` is the HS256 shared secret, or for RS256 and ES256 a
    PEM private key (as a `Secret` read from a file); `key_id` becomes the header's `kid`.

    A key that cannot be loaded, or RS256/ES256 without the `cryptography` package, fails here,
    when the strategy is built (so at start-up), not at the first token request.
    """

    def __init__(self, key: Secret | str, *, issuer: str, audience: str, subject: str | None = None,
                 algorithm: Algorithm = "RS256", lifetime: float = 300.0, claims: Mapping[str, Any] | None = None,
                 key_id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        if algorithm not in ("HS256", "RS256", "ES256"):
            raise ValueError(f"unsupported JWT algorithm {algorithm!r}: "
                             "use HS256, RS256, ES256 or a callable of your own")
        self.algorithm: Algorithm = algorithm
        self.issuer, self.audience, self.subject = issuer, audience, subject or issuer
        self.lifetime, self.claims, self.key_id, self.clock = lifetime, dict(claims or {}), key_id, clock
        material = secret_value(key, "key")
        self._sign: Callable[[bytes], bytes]
        if algorithm == "HS256":
            secret = material.encode()
            self._sign = lambda data: hmac.new(secret, data, hashlib.sha256).digest()
        else:
            self._sign = _asymmetric_signer(material, algorithm)

    def __call__(self) -> str:
        """A new signed assertion (registered with the redactor)."""
        now = int(self.clock())
        header: dict[str, Any] = {"alg": self.algorithm, "typ": "JWT"}
        if self.key_id:
            header["kid"] = self.key_id
        claims = {"iss": self.issuer, "sub": self.subject, "aud": self.audience, "iat": now,
                  "exp": now + int(self.lifetime), "jti": uuid.uuid4().hex, **self.claims}
        signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode("ascii")
        token = f"{signing_input.decode('ascii')}.{_b64(self._sign(signing_input))}"
        register_secret(token)
        return token

    def __repr__(self) -> str:
        return f"JwtAssertion({self.algorithm}, issuer={self.issuer!r}, audience={self.audience!r})"


def _asymmetric_signer(pem: str, algorithm: Algorithm) -> Callable[[bytes], bytes]:
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    except ImportError:
        raise ImportError(f"{algorithm} JWTs need the `cryptography` package: "
                          "install recording-collector[jwt]") from None
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(f"the {algorithm} key is not an unencrypted PEM private key") from None
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("RS256 needs an RSA private key")
        rsa_key = key
        return lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("ES256 needs a P-256 elliptic-curve private key")
    ec_key = key

    def sign_es256(data: bytes) -> bytes:  # JWS wants r || s, not DER (RFC 7518 3.4)
        r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign_es256
