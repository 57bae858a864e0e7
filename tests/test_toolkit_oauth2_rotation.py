"""Single-use refresh tokens that rotate, kept in a `TokenFile` across processes and SIGKILL.

Against a strict token endpoint on 127.0.0.1: every refresh answers a new refresh token and the
old one is refused (its reuse counted). The tests check that each new one replaces the old one on
disk before its access token is used, that it survives a process killed with SIGKILL, that two
strategies sharing the file never refresh with one token, that a lost token stops the tenant with
a message asking to authorise again, and that a new token in the configuration wins.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import (
    AuthenticationError,
    HttpClient,
    OAuth2,
    RateLimit,
    RefreshTokenGrant,
    RetrySettings,
    Secret,
    TenantError,
    TokenFile,
    Traffic,
)
from collector._base._redact import redact
from collector.emulator import EmulatorServer, Request, Response, TokenEndpoint

FAST = RetrySettings(attempts=3, initial_wait=0.01, max_wait=0.05)
SECRET = "rotation-client-secret-1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Vendor(EmulatorServer):
    """One host: the token endpoint (strict rotation) and an API route that checks its tokens."""

    def __init__(self, **options: object) -> None:
        super().__init__()
        self.tokens = TokenEndpoint(**options)  # type: ignore[arg-type]
        self.tokens.add_client("app", SECRET)
        self.tokens.mount(self, "/oauth/token")
        self.add_route("GET", "/data", "metadata", lambda request: self.data(request))

    def data(self, request: Request) -> Response:
        return Response.json({"subject": self.tokens.check(request)})


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    with Vendor(lifetime=60) as server:
        yield server


def strategy(vendor: Vendor, path: Path, initial: str | None, clock: FakeClock | None = None) -> OAuth2:
    grant = RefreshTokenGrant(TokenFile(path), initial=None if initial is None else Secret(initial, "test"))
    return OAuth2("/oauth/token", grant, client_id="app", client_secret=Secret(SECRET, "test"),
                  **({"clock": clock} if clock else {}))  # type: ignore[arg-type]


async def requests(vendor: Vendor, *auths: OAuth2, times: int = 1, clock: FakeClock | None = None,
                   step: float = 0.0) -> None:
    clients = [HttpClient(vendor.url, Traffic(RateLimit(requests=100, per_seconds=1), retry=FAST), auth=auth)
               for auth in auths]
    try:
        for _ in range(times):
            await asyncio.gather(*(http.json("GET", "/data") for http in clients))
            if clock is not None:
                clock.now += step
    finally:
        for http in clients:
            await http.aclose()


def test_each_refresh_token_is_used_once_and_the_new_one_is_kept(tmp_path: Path) -> None:
    clock = FakeClock()
    with Vendor(lifetime=15, clock=clock) as vendor:
        initial = vendor.tokens.authorise("app", subject="user-7")
        path = tmp_path / "tokens" / "vendor.json"
        asyncio.run(requests(vendor, strategy(vendor, path, initial, clock), times=31, clock=clock, step=1))
        audit = vendor.tokens.audit()
        assert audit.issued == 4 and audit.reused_refresh_tokens == 0 and audit.expired_arrivals == 0
        saved = json.loads(path.read_text())
        assert saved["refresh_token"] == vendor.tokens.secrets()[-1]  # the last one issued
        assert saved["refresh_token"] != initial and saved["seed"].startswith("sha256:")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert redact(saved["refresh_token"]) == "[redacted]"


CHILD = textwrap.dedent("""
    import asyncio, sys, time
    from collector import HttpClient, OAuth2, RateLimit, RefreshTokenGrant, Secret, TokenFile, Traffic

    async def main() -> None:
        url, path, initial = sys.argv[1:4]
        grant = RefreshTokenGrant(TokenFile(path), initial=Secret(initial, "test"))
        auth = OAuth2("/oauth/token", grant, client_id="app", client_secret=Secret(%r, "test"))
        http = HttpClient(url, Traffic(RateLimit(requests=100, per_seconds=1)), auth=auth)
        await http.json("GET", "/data")
        print("sent", flush=True)
        time.sleep(60)

    asyncio.run(main())
""") % SECRET


def test_the_rotated_token_survives_a_process_killed_right_after_using_it(vendor: Vendor, tmp_path: Path) -> None:
    initial = vendor.tokens.authorise("app", subject="user-7")
    path = tmp_path / "vendor.json"
    child = subprocess.Popen([sys.executable, "-c", CHILD, vendor.url, str(path), initial], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"sent\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    asyncio.run(requests(vendor, strategy(vendor, path, initial)))  # the next run, same configuration
    audit = vendor.tokens.audit()
    assert audit.issued == 2 and audit.reused_refresh_tokens == 0 and audit.refused == 0


def test_two_strategies_sharing_the_file_never_refresh_with_one_token(vendor: Vendor, tmp_path: Path) -> None:
    initial = vendor.tokens.authorise("app", subject="user-7")
    path = tmp_path / "vendor.json"
    asyncio.run(requests(vendor, *(strategy(vendor, path, initial) for _ in range(4))))
    audit = vendor.tokens.audit()
    assert audit.issued == 4 and audit.reused_refresh_tokens == 0 and audit.refused == 0


def test_a_lost_refresh_token_stops_the_tenant_asking_to_authorise_again(vendor: Vendor, tmp_path: Path) -> None:
    initial = vendor.tokens.authorise("app", subject="user-7")
    path = tmp_path / "vendor.json"
    asyncio.run(requests(vendor, strategy(vendor, path, initial)))
    path.unlink()  # as if the process had died before the new token reached the disk
    with pytest.raises(AuthenticationError) as raised:
        asyncio.run(requests(vendor, strategy(vendor, path, initial)))
    message = str(raised.value)
    assert "HTTP 400: The refresh token has already been used." in message
    assert "authorise the collector again with the vendor and put the new refresh token" in message
    assert str(path) in message and initial not in message
    assert vendor.tokens.audit().reused_refresh_tokens == 1


def test_a_new_refresh_token_in_the_configuration_replaces_the_saved_one(vendor: Vendor, tmp_path: Path) -> None:
    path = tmp_path / "vendor.json"
    first = vendor.tokens.authorise("app", subject="user-7")
    asyncio.run(requests(vendor, strategy(vendor, path, first)))
    vendor.tokens.revoke("user-7")  # the operator revokes the app and authorises it again
    again = vendor.tokens.authorise("app", subject="user-7")
    asyncio.run(requests(vendor, strategy(vendor, path, again)))
    asyncio.run(requests(vendor, strategy(vendor, path, again)))  # and the rotated one is used next
    audit = vendor.tokens.audit()
    assert audit.refused == 0 and audit.reused_refresh_tokens == 0 and audit.issued == 3


def test_without_a_configured_token_the_saved_one_is_used_and_none_is_an_error(vendor: Vendor, tmp_path: Path) -> None:
    path = tmp_path / "vendor.json"
    with pytest.raises(AuthenticationError, match=r"No refresh token: the token file .* holds none"):
        asyncio.run(requests(vendor, strategy(vendor, path, None)))
    asyncio.run(requests(vendor, strategy(vendor, path, vendor.tokens.authorise("app", subject="user-7"))))
    asyncio.run(requests(vendor, strategy(vendor, path, None)))
    assert vendor.tokens.audit().issued == 2


def test_a_vendor_with_a_grace_period_accepts_a_token_lost_moments_ago(tmp_path: Path) -> None:
    with Vendor(lifetime=60, refresh_grace=30) as vendor:
        initial = vendor.tokens.authorise("app", subject="user-7")
        path = tmp_path / "vendor.json"
        asyncio.run(requests(vendor, strategy(vendor, path, initial)))
        path.unlink()
        asyncio.run(requests(vendor, strategy(vendor, path, initial)))
        assert vendor.tokens.audit().refused == 0


def test_a_damaged_token_file_is_a_clear_tenant_error(vendor: Vendor, tmp_path: Path) -> None:
    path = tmp_path / "vendor.json"
    path.write_text("{not json")
    with pytest.raises(TenantError, match=r"the token file .*vendor\.json is not the JSON the collector writes"):
        asyncio.run(requests(vendor, strategy(vendor, path, vendor.tokens.authorise("app", subject="user-7"))))


def test_an_unwritable_token_folder_says_what_to_do(vendor: Vendor, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocked = tmp_path / "a-file"
        blocked.write_text("")
        path = blocked / "vendor.json"  # a folder that cannot be made, even as root
    else:
        tmp_path.chmod(0o500)
        path = tmp_path / "sub" / "vendor.json"
    with pytest.raises(TenantError, match=r"Cannot (open|write)"):
        asyncio.run(requests(vendor, strategy(vendor, path, vendor.tokens.authorise("app", subject="user-7"))))
