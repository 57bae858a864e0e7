"""OAuth2 with any grant, over real HTTP against a strict token endpoint on another origin.

Client authentication in the body, as Basic (form-encoded, RFC 6749 2.3.1) or by a signed JWT;
client credentials, Zoom's `account_credentials` with an account id, JWT-bearer assertions (HS256
with the client's id and secret sent as Basic, RS256, ES256); extra token parameters; a renewal
margin relative to the token's lifetime (15 s and 2 s tokens, on a clock both sides share, and 2 s
tokens in real time); refusals that stop the tenant once.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from collector import (
    CLIENT_ASSERTION_JWT,
    AuthenticationError,
    Grant,
    HttpClient,
    JwtAssertion,
    OAuth2,
    OAuth2ClientCredentials,
    RateLimit,
    Renewal,
    RetrySettings,
    Secret,
    Traffic,
)
from collector._base._redact import redact
from collector.emulator import EmulatorServer, Request, Response, TokenEndpoint, decode_jwt_claims

FAST = RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.05)
SECRET = "client-secret-7f3a9c"
AUTH_PAGE = Path(__file__).resolve().parent.parent / "docs" / "toolkit" / "auth.md"


class FakeClock:
    """Time that moves only when a test says so, shared by the token endpoint and the client."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Vendor:
    """An authorization server and an API on two origins; the API takes only the endpoint's tokens."""

    def __init__(self, **options: object) -> None:
        self.tokens = TokenEndpoint(**options)  # type: ignore[arg-type]
        self.auth = EmulatorServer().start()
        self.api = EmulatorServer().start()
        self.tokens.mount(self.auth, "/oauth/token")
        self.subjects: list[str] = []
        self.api.add_route("GET", "/data", "metadata", self.data)

    def data(self, request: Request) -> Response:
        self.subjects.append(self.tokens.check(request))
        return Response.json({"ok": True})

    @property
    def token_url(self) -> str:
        return f"{self.auth.url}/oauth/token"

    def close(self) -> None:
        self.auth.stop()
        self.api.stop()


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    server = Vendor()
    server.tokens.add_client("client-1", SECRET)
    yield server
    server.close()


def run(vendor: Vendor, auth: OAuth2, times: int = 1, *, pause: float = 0.0,
        clock: FakeClock | None = None, step: float = 0.0) -> list[object]:
    """`times` requests, one after another (`pause` real seconds or `step` fake ones between them)."""
    async def scenario() -> list[object]:
        http = HttpClient(vendor.api.url, Traffic(RateLimit(requests=100, per_seconds=1), retry=FAST, timeout=10),
                          auth=auth)
        try:
            answers = []
            for _ in range(times):
                answers.append(await http.json("GET", "/data"))
                await asyncio.sleep(pause)
                if clock is not None:
                    clock.now += step
            return answers
        finally:
            await http.aclose()

    return asyncio.run(scenario())


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_client_credentials_in_the_body_or_as_basic(vendor: Vendor, client_auth: str) -> None:
    auth = OAuth2(vendor.token_url, "client_credentials", client_id="client-1", client_secret=Secret(SECRET, "test"),
                  client_auth=client_auth)  # type: ignore[arg-type]
    assert run(vendor, auth, times=4) == [{"ok": True}] * 4
    assert vendor.tokens.audit().issued == 1  # one token for every request
    form = vendor.tokens.forms[0]
    assert form["grant_type"] == "client_credentials"
    assert ("client_secret" in form) == (client_auth == "body")


def test_basic_client_authentication_form_encodes_the_id_and_the_secret(vendor: Vendor) -> None:
    odd_secret = "s3cr:t/+&=é ünïcode"
    vendor.tokens.add_client("client:with/odd chars", odd_secret)
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client:with/odd chars", client_secret=odd_secret)
    assert run(vendor, auth) == [{"ok": True}]
    assert vendor.subjects == ["client:with/odd chars"]


def test_account_credentials_with_an_account_id() -> None:
    """Zoom's server-to-server shape: `grant_type=account_credentials&account_id=...`, client as Basic."""
    vendor = Vendor(client_auth=("basic",))
    try:
        vendor.tokens.add_client("zoom-client", SECRET)
        vendor.tokens.allow("account_credentials",
                            lambda client, form: form.get("account_id")
                            if form.get("account_id") == "acct-42" else None)
        auth = OAuth2(vendor.token_url, Grant("account_credentials", account_id="acct-42"), client_id="zoom-client",
                      client_secret=Secret(SECRET, "test"))
        assert run(vendor, auth, times=2) == [{"ok": True}] * 2
        assert vendor.subjects == ["acct-42", "acct-42"]
        wrong = OAuth2(vendor.token_url, Grant("account_credentials", account_id="acct-99"), client_id="zoom-client",
                       client_secret=Secret(SECRET, "test"))
        with pytest.raises(AuthenticationError, match=r"HTTP 400: The account_credentials grant was refused\.\)\. "
                                                       r"Check client_id \('zoom-client'\)"
                                                       r".*grant \(account_credentials\)"):
            run(vendor, wrong)
    finally:
        vendor.close()


def test_a_jwt_bearer_assertion_with_the_client_id_and_secret_sent_as_basic(vendor: Vendor) -> None:
    """The issue's case: RFC 7523's grant, the assertion signed HS256, the client as HTTP Basic."""
    clock = FakeClock()
    vendor.tokens.clock = clock
    vendor.tokens.lifetime = 60
    assertion = JwtAssertion(Secret(SECRET, "test"), algorithm="HS256", issuer="client-1", subject="user@example.com",
                             audience=vendor.token_url, claims={"scope": "recordings:read"}, clock=clock)
    auth = OAuth2(vendor.token_url, Grant.jwt_bearer(assertion), client_id="client-1",
                  client_secret=Secret(SECRET, "test"), clock=clock)
    run(vendor, auth, times=3, clock=clock, step=30)  # 0 s, 30 s, 60 s: the third needs a new token
    assert vendor.tokens.audit().issued == 2 and vendor.tokens.audit().refused == 0
    assert vendor.subjects == ["user@example.com"] * 3
    first, second = (decode_jwt_claims(form["assertion"]) for form in vendor.tokens.forms)
    assert first["jti"] != second["jti"]  # a fresh assertion for each token request (replays are refused)
    assert first["scope"] == "recordings:read" and first["exp"] - first["iat"] == 300
    assert all(form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" for form in vendor.tokens.forms)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_jwt_bearer_assertion_signed_with_a_private_key(vendor: Vendor, algorithm: str) -> None:
    key = rsa.generate_private_key(65537, 2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    private, public = _pem(key)
    vendor.tokens.add_client("service-account@example.iam", None, public_key=public)
    assertion = JwtAssertion(Secret(private, "test"), algorithm=algorithm,  # type: ignore[arg-type]
                             issuer="service-account@example.iam", audience=vendor.token_url, key_id="key-1")
    auth = OAuth2(vendor.token_url, Grant.jwt_bearer(assertion), client_auth="none")
    assert run(vendor, auth) == [{"ok": True}]
    assert vendor.subjects == ["service-account@example.iam"]
    assert private.splitlines()[1] not in redact(private)  # the key is registered as a secret


def test_a_client_authenticated_by_a_signed_jwt(vendor: Vendor) -> None:
    """RFC 7523 2.2 (`private_key_jwt`): `client_auth="none"` and the assertion as a parameter."""
    private, public = _pem(rsa.generate_private_key(65537, 2048))
    vendor.tokens.add_client("jwt-client", None, public_key=public)
    auth = OAuth2(vendor.token_url, "client_credentials", client_id="jwt-client", client_auth="none",
                  params={"client_assertion_type": CLIENT_ASSERTION_JWT,
                          "client_assertion": JwtAssertion(private, issuer="jwt-client", audience=vendor.token_url)})
    assert run(vendor, auth) == [{"ok": True}]
    assert vendor.subjects == ["jwt-client"]


def test_extra_token_parameters_are_sent_with_every_token_request(vendor: Vendor) -> None:
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=Secret(SECRET, "test"),
                                   scope="recordings.read transcripts.read",
                                   params={"audience": "https://api.vendor.example", "resource": lambda: "urn:rec"})
    run(vendor, auth)
    form = vendor.tokens.forms[0]
    assert (form["scope"], form["audience"], form["resource"]) == (
        "recordings.read transcripts.read", "https://api.vendor.example", "urn:rec")


@pytest.mark.parametrize(("lifetime", "margin"), [(3600, 300), (300, 30), (15, 5), (2, 1), (0.5, 0.25)])
def test_the_renewal_margin_is_relative_to_the_lifetime(lifetime: float, margin: float) -> None:
    assert Renewal().margin(lifetime) == margin
    assert Renewal(fraction=0.5, floor=0, ceiling=60).margin(100) == 50  # never before half the life


def test_a_15_second_token_is_reused_until_5_seconds_before_it_expires(vendor: Vendor) -> None:
    clock = FakeClock()
    vendor.tokens.clock, vendor.tokens.lifetime = clock, 15
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=SECRET, clock=clock)
    run(vendor, auth, times=21, clock=clock, step=1)  # one request a second for 20 s
    assert vendor.tokens.audit().issued == 3  # at 0 s, 10 s and 20 s: each token used for 10 of its 15 s
    assert vendor.tokens.audit().expired_arrivals == 0


def test_a_2_second_token_is_reused_for_a_second_on_a_shared_clock(vendor: Vendor) -> None:
    clock = FakeClock()
    vendor.tokens.clock, vendor.tokens.lifetime = clock, 2
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=SECRET, clock=clock)
    run(vendor, auth, times=21, clock=clock, step=0.25)  # four requests a second for 5 s
    assert vendor.tokens.audit().issued == 6  # one token per second: at 0, 1, 2, 3, 4 and 5 s
    assert vendor.tokens.audit().expired_arrivals == 0


def test_2_second_tokens_in_real_time_never_arrive_expired_and_are_reused() -> None:
    vendor = Vendor(lifetime=2)
    try:
        vendor.tokens.add_client("client-1", SECRET)
        auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=SECRET)
        started = time.monotonic()
        run(vendor, auth, times=30, pause=0.1)
        elapsed = time.monotonic() - started
        audit = vendor.tokens.audit()
        assert audit.expired_arrivals == 0 and vendor.api.count(status=401) == 0
        assert audit.issued <= elapsed + 2, (audit.issued, elapsed)  # about one a second, not one per request
    finally:
        vendor.close()


def test_a_refused_client_stops_the_tenant_once_without_asking_again(vendor: Vendor) -> None:
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1",
                                   client_secret=Secret("wrong-secret-1234", "t"))

    async def scenario() -> list[BaseException | object]:
        http = HttpClient(vendor.api.url, Traffic(RateLimit(requests=100, per_seconds=1), retry=FAST, max_in_flight=6),
                          auth=auth)
        try:
            answers: list[BaseException | object] = await asyncio.gather(
                *(http.json("GET", "/data") for _ in range(6)), return_exceptions=True)
            return answers
        finally:
            await http.aclose()

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, AuthenticationError) for o in outcomes), outcomes
    assert vendor.tokens.audit().token_requests == 1  # the vendor said no once; nobody asked again
    message = str(outcomes[0])
    assert message.startswith("The vendor refused the credentials at POST /oauth/token (HTTP 401: "
                              "Client authentication failed.). Check client_id ('client-1')")
    assert "wrong-secret-1234" not in message


def test_every_credential_involved_is_redacted(vendor: Vendor) -> None:
    vendor.tokens.lifetime = 60
    auth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=SECRET)
    run(vendor, auth)
    for credential in vendor.tokens.secrets():
        assert redact(f"x {credential} y") == "x [redacted] y", credential


def test_token_requests_are_outside_the_tenant_rate_limit_unless_asked(vendor: Vendor) -> None:
    oauth = OAuth2ClientCredentials(vendor.token_url, client_id="client-1", client_secret=SECRET)
    assert oauth.rate_limit_token_requests is False and oauth.share_rate_limit is False
    counted = OAuth2(vendor.token_url, client_id="client-1", client_secret=SECRET, rate_limit_token_requests=True)
    assert counted.rate_limit_token_requests is True
    counted.share_rate_limit = False  # the former name still works
    assert counted.rate_limit_token_requests is False


def _readme_examples() -> dict[str, Any]:
    """The code of the toolkit's authentication page (its blocks that are whole modules), run."""
    section = AUTH_PAGE.read_text(encoding="utf-8")
    module = types.ModuleType("readme_toolkit_authentication")
    sys.modules[module.__name__] = module  # pydantic resolves the settings' annotations there
    for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL):
        if block.startswith(('"""', "from ")):
            exec(compile(block, str(AUTH_PAGE), "exec"), module.__dict__)  # our own documentation
    return module.__dict__


def test_the_readme_examples_work_against_a_strict_token_endpoint(tmp_path: Path) -> None:
    examples = _readme_examples()
    vendor = Vendor(lifetime=60)
    try:
        vendor.tokens.add_client("acme-app", SECRET)
        vendor.tokens.allow("account_credentials", lambda client, form: form.get("account_id"))
        refresh = vendor.tokens.authorise("acme-app", subject="user-3")
        common = {"plugin": "acme", "tenant": "main", "token_url": vendor.token_url, "client_id": "acme-app",
                  "client_secret": SECRET}
        for extra in ({}, {"account_id": "acct-9"},
                      {"refresh_token": refresh, "token_file": str(tmp_path / "acme-main.json")}):
            settings = examples["AcmeSettings"].model_validate({**common, **extra})
            run(vendor, examples["build_auth"](settings), times=2)
        run(vendor, examples["build_jwt_auth"](vendor.token_url, "acme-app", Secret(SECRET, "test"), "user-4"))
        assert vendor.subjects == ["acme-app"] * 2 + ["acct-9"] * 2 + ["user-3"] * 2 + ["user-4"]
        assert [form["grant_type"] for form in vendor.tokens.forms] == [
            "client_credentials", "account_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
        assert all(form.get("scope") == "recordings:read" for form in vendor.tokens.forms[:3])
        assert vendor.tokens.audit().refused == 0
    finally:
        vendor.close()
