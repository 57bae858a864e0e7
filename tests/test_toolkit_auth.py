"""Auth strategies over real HTTP: static keys, Basic, token exchange, OAuth2 client credentials,
tokens checked right before sending (after any wait for a rate-limit slot), and credentials given
as a `Secret` or a `str` everywhere (anything else refused, never sent as its repr).

OAuth2's grants, renewal and rotation: tests/test_toolkit_oauth2*.py."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

import pytest

from collector import (
    ApiKeyAuth,
    Auth,
    AuthenticationError,
    BasicAuth,
    Grant,
    HeaderAuth,
    HttpClient,
    JwtAssertion,
    OAuth2,
    OAuth2ClientCredentials,
    RateLimit,
    RetrySettings,
    Secret,
    StaticBearerAuth,
    TokenExchange,
    Traffic,
    basic_credentials,
)
from collector._base._redact import redact
from collector.emulator import EmulatorError, EmulatorServer, Request, Response

FAST = RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.05)


class Vendor(EmulatorServer):
    """A token route issuing short-lived tokens, and a data route that checks them on arrival."""

    def __init__(self, *, lifetime: float = 60.0, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.lifetime = lifetime
        self.tokens: dict[str, float] = {}
        self.expired_arrivals = 0
        self.seen: list[dict[str, str]] = []
        self.numbers = itertools.count(1)
        self.add_route("POST", "/token", "auth", self.token)
        self.add_route("POST", "/oauth/token", "auth", self.oauth)
        self.add_route("GET", "/data", "metadata", self.data)
        self.add_route("GET", "/open", "metadata", self.open)

    def token(self, request: Request) -> Response:
        body = request.json()
        if body.get("key") != "right-key-123":
            raise EmulatorError(401, "Invalid API key.")
        value = f"tok-{next(self.numbers)}-abcdef"
        self.tokens[value] = time.time() + self.lifetime
        return Response.json({"session": {"token": value}, "ttl": self.lifetime})

    def oauth(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode()))
        client = request.basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client != ("the-client", "the-secret-456") or form.get("grant_type") != "client_credentials":
            return Response.json({"error": "invalid_client", "error_description": "Unknown client."}, 401)
        value = f"oauth-{next(self.numbers)}-abcdef"
        self.tokens[value] = time.time() + self.lifetime
        return Response.json({"access_token": value, "expires_in": self.lifetime, "scope": form.get("scope")})

    def data(self, request: Request) -> Response:
        expires = self.tokens.get(request.bearer or "")
        if expires is None:
            raise EmulatorError(401, "Unknown token.")
        if expires < time.time():
            self.expired_arrivals += 1
            raise EmulatorError(401, "The token has expired.")
        return Response.json({"ok": True})

    def open(self, request: Request) -> Response:
        self.seen.append(dict(request.headers) | {"?": str(sorted(request.query.items()))})
        return Response.json({"ok": True})


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    with Vendor() as server:
        yield server


def client(server: EmulatorServer, auth: Auth | None, *, limit: RateLimit = RateLimit(requests=100, per_seconds=1),
           ) -> HttpClient:
    return HttpClient(server.url, Traffic(limit, retry=FAST, timeout=10), auth=auth)


def run(http: HttpClient, path: str, times: int = 1) -> list[object]:
    async def scenario() -> list[object]:
        try:
            return list(await asyncio.gather(*(http.json("GET", path) for _ in range(times))))
        finally:
            await http.aclose()

    return asyncio.run(scenario())


def test_tokens_are_checked_after_the_wait_for_a_rate_limit_slot() -> None:
    # 2-second tokens, one request per 3 seconds: every request waits longer than a token lives.
    with Vendor(lifetime=2.0) as server:
        auth = TokenExchange("/token", json={"key": Secret("right-key-123", "test")}, token_field="session.token",
                             expires_field="ttl")
        auth.share_rate_limit = False  # the token route is not counted in this API's limit
        http = client(server, auth, limit=RateLimit(requests=1, per_seconds=3))
        assert run(http, "/data", times=3) == [{"ok": True}] * 3
        assert server.expired_arrivals == 0
        assert server.count(status=401) == 0


def test_a_token_route_that_refuses_the_key_stops_the_tenant_with_one_clear_message(vendor: Vendor) -> None:
    auth = TokenExchange("/token", json={"key": Secret("wrong-key-999", "test")}, hint="Check `api_key`.")
    with pytest.raises(AuthenticationError) as raised:
        run(client(vendor, auth), "/data")
    assert str(raised.value) == ("The vendor refused the credentials at POST /token (HTTP 401: Invalid API key.). "
                                 "Check `api_key`.")
    assert "wrong-key-999" not in str(raised.value)


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_oauth2_client_credentials(vendor: Vendor, client_auth: str) -> None:
    auth = OAuth2ClientCredentials(f"{vendor.url}/oauth/token", client_id="the-client",
                                   client_secret=Secret("the-secret-456", "test"), scope="recordings.read",
                                   client_auth=client_auth)  # type: ignore[arg-type]
    assert run(client(vendor, auth), "/data", times=4) == [{"ok": True}] * 4
    assert vendor.count(kind="auth") == 1  # one token for every request


def test_oauth2_refusals_name_what_to_check(vendor: Vendor) -> None:
    auth = OAuth2ClientCredentials(f"{vendor.url}/oauth/token", client_id="the-client",
                                   client_secret=Secret("not-the-secret", "test"))
    with pytest.raises(AuthenticationError, match=r"POST /oauth/token \(HTTP 401: Unknown client\.\)\. "
                                                  r"Check client_id \(.the-client.\)"):
        run(client(vendor, auth), "/data")


def test_basic_auth_and_its_derived_header_are_secrets(vendor: Vendor) -> None:
    auth = BasicAuth("AC-account-1", Secret("basic-password-789", "test"))
    run(client(vendor, auth), "/open")
    header = vendor.seen[0]["Authorization"]
    assert header == "Basic " + base64.b64encode(b"AC-account-1:basic-password-789").decode()
    assert redact(f"sent {header}") == "sent [redacted]"
    assert "[redacted]" in redact(header.split()[1])


@pytest.mark.parametrize("where", ["header", "param"])
def test_api_keys_in_a_header_or_the_query(vendor: Vendor, where: str) -> None:
    secret = Secret("api-key-value-321", "test")
    auth = ApiKeyAuth(secret, header="X-Api-Key") if where == "header" else ApiKeyAuth(secret, param="api_key")
    run(client(vendor, auth), "/open")
    seen = vendor.seen[0]
    assert (seen.get("X-Api-Key") if where == "header" else seen["?"]) == (
        "api-key-value-321" if where == "header" else "[('api_key', 'api-key-value-321')]")


def test_credentials_never_go_to_another_origin(vendor: Vendor) -> None:
    with Vendor() as elsewhere:
        http = client(vendor, StaticBearerAuth(Secret("static-token-000", "test")))
        run(http, f"{elsewhere.url}/open")
        assert "Authorization" not in elsewhere.seen[0]


# -- credentials given as a Secret or a str, never as an object's repr ---------------------------------


def test_basic_credentials_take_a_secret_or_a_str_and_never_send_a_repr() -> None:
    from pydantic import SecretStr

    expected = "Basic " + base64.b64encode(b"AC-account-2:pass-word-4567").decode()
    for user in ("AC-account-2", Secret("AC-account-2", "test")):
        for password in ("pass-word-4567", Secret("pass-word-4567", "test"), SecretStr("pass-word-4567")):
            assert basic_credentials(user, password) == expected  # type: ignore[arg-type]
    assert redact(expected) == "[redacted]" and redact("pass-word-4567") == "[redacted]"
    for wrong in (None, 42, b"pass-word-4567", object()):
        with pytest.raises(TypeError, match=r"^password must be a collector.Secret or a str, not "):
            basic_credentials("AC-account-2", wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="':'"):
        basic_credentials("user:name", "pass-word-4567")


@pytest.mark.parametrize("make", [
    lambda value: StaticBearerAuth(value),
    lambda value: HeaderAuth(value, header="X-Api-Key", scheme=None),
    lambda value: ApiKeyAuth(value, header="X-Api-Key"),
    lambda value: BasicAuth("AC-account-1", value),
    lambda value: OAuth2ClientCredentials("https://auth.example/token", client_id="c", client_secret=value),
    lambda value: OAuth2("https://auth.example/token", client_id="c", client_secret=value),
    lambda value: JwtAssertion(value, algorithm="HS256", issuer="c", audience="https://auth.example/token"),
], ids=["bearer", "header", "api-key", "basic", "client-credentials", "oauth2", "jwt"])
def test_every_strategy_takes_a_secret_or_a_str_and_refuses_anything_else(make: Callable[[object], object]) -> None:
    make(Secret("credential-value-1", "test"))
    make("credential-value-1")
    with pytest.raises(TypeError, match=r"must be a collector.Secret or a str, not int"):
        make(12345678)


def test_a_str_and_a_secret_send_the_same_credential(vendor: Vendor) -> None:
    for value in ("api-key-value-321", Secret("api-key-value-321", "test")):
        run(client(vendor, ApiKeyAuth(value, header="X-Api-Key")), "/open")
        run(client(vendor, HeaderAuth(value, header="X-Key", scheme="Token")), "/open")
    assert [seen.get("X-Api-Key") for seen in vendor.seen[::2]] == ["api-key-value-321"] * 2
    assert [seen.get("X-Key") for seen in vendor.seen[1::2]] == ["Token api-key-value-321"] * 2
    assert not any("Secret(" in value for seen in vendor.seen for value in seen.values())


def test_a_token_parameter_of_the_wrong_type_is_refused_when_the_strategy_is_built() -> None:
    with pytest.raises(TypeError, match=r"token parameter 'account_id' must be a str, a Secret or a callable"):
        OAuth2("https://auth.example/token", Grant("account_credentials", account_id=42),  # type: ignore[arg-type]
               client_id="c", client_secret="client-secret-1")
    with pytest.raises(TypeError, match=r"token parameter 'audience'"):
        OAuth2("https://auth.example/token", client_id="c", client_secret="client-secret-1",
               params={"audience": None})  # type: ignore[dict-item]


def test_token_requests_can_be_counted_outside_the_tenant_limit_by_name() -> None:
    # The former `share_rate_limit` (found with dir()) is `rate_limit_token_requests`, a constructor keyword.
    with Vendor(lifetime=2.0) as server:
        auth = TokenExchange("/token", json={"key": Secret("right-key-123", "test")}, token_field="session.token",
                             expires_field="ttl", rate_limit_token_requests=False)
        assert auth.share_rate_limit is False
        http = client(server, auth, limit=RateLimit(requests=1, per_seconds=3))
        assert run(http, "/data", times=2) == [{"ok": True}] * 2
        assert server.expired_arrivals == 0 and server.count(status=401) == 0
    assert TokenExchange("/token").rate_limit_token_requests is True  # a route of the API: counted
