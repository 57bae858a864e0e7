"""The conformance suite, whole, for a vendor with 2-second access tokens and single-use refresh tokens.

The plugin (tests/fixtures/oauth2toy) uses `OAuth2` with a `RefreshTokenGrant` kept in a
`TokenFile`; it is installed through an entry point, as a user installs one, and its emulation
declares `short_tokens` and `token_rotation`, which switch on the token checks: across runs and a
SIGKILL-resume the vendor never sees a refresh token used twice or an expired access token, and
token requests stay near the minimum. Every other promise (SIGKILL, faults, no secret in any
output: the token files live outside the scanned folder) is checked too.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from collector.emulator import HOSTILE_IDS, EmulatorServer, Request, Response, TokenAudit, TokenEndpoint, audio_answer
from collector.testing import Emulation, Expectations, SourceConformance

PLUGIN = Path(__file__).parent / "fixtures" / "oauth2toy" / "collector_oauth2toy.py"
BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LIFETIME = 2.0


class RotatingVendor(EmulatorServer):
    """The API and its token endpoint on one host; each tenant's items are the token's subject's."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.tokens = TokenEndpoint(lifetime=LIFETIME, client_auth=("basic",))
        self.tokens.mount(self, "/oauth/token")
        self.items: dict[str, list[Any]] = {}
        self.audio_faults: dict[str, str] = {}
        self.add_route("GET", "/items", "metadata", self.list_items)
        self.add_route("GET", r"/audio/(?P<item_id>.+)", "audio", self.audio)

    def list_items(self, request: Request) -> Response:
        tenant = self.tokens.check(request)
        after, limit = int(request.query.get("after", 0)), int(request.query.get("limit", 4))
        page = self.items[tenant][after:after + limit]
        return Response.json({"items": page, "next": after + len(page)})

    def audio(self, request: Request, item_id: str) -> Response:
        tenant = self.tokens.check(request)
        item = next(i for i in self.items[tenant] if isinstance(i, dict) and i.get("id") == item_id)
        return audio_answer(f"{tenant}/{item_id}", item["duration"], fault=self.audio_faults.get(item_id))


class RotatingEmulation(Emulation):
    """Two tenants, each its own OAuth2 client and refresh token, their token files in a folder of our own."""

    short_tokens = True
    token_rotation = True

    def __init__(self, *, bad_data: bool = False) -> None:
        self.vendor = RotatingVendor(seed=3).start()
        self.folder = Path(tempfile.mkdtemp(prefix="collector-tokens-"))  # outside the scanned tmp_path
        self.tenants = ["north", "south"]
        self.clients = {tenant: (f"app-{tenant}", os.urandom(12).hex()) for tenant in self.tenants}
        self.refresh = {}
        self.bad_audio: dict[str, set[str]] = {tenant: set() for tenant in self.tenants}
        self.rejected = dict.fromkeys(self.tenants, 0)
        for tenant, (client_id, secret) in self.clients.items():
            self.vendor.tokens.add_client(client_id, secret)
            self.refresh[tenant] = self.vendor.tokens.authorise(client_id, subject=tenant)
            self.vendor.items[tenant] = []
        self.add_recordings(6)
        if bad_data:
            for tenant in self.tenants:
                self._add_bad_data(tenant)

    def _item(self, tenant: str, vendor_id: str | None = None) -> dict[str, Any]:
        items = self.vendor.items[tenant]
        n = len(items)
        item = {"id": vendor_id or f"{tenant}-{n:04d}", "start": (BASE + timedelta(minutes=n)).isoformat(),
                "duration": 1.0 + n % 2}
        items.append(item)
        return item

    def _add_bad_data(self, tenant: str) -> None:
        for hostile in HOSTILE_IDS:
            self._item(tenant, f"{tenant}:{hostile}")
        for fault in ("html", "truncated"):
            item = self._item(tenant)
            self.vendor.audio_faults[item["id"]] = fault
            self.bad_audio[tenant].add(item["id"])
        self.vendor.items[tenant] += [{"id": f"{tenant}-bad-start", "start": "yesterday", "duration": 1.0},
                                      "not an object"]
        self.rejected[tenant] += 2

    def servers(self) -> list[EmulatorServer]:
        return [self.vendor]

    def set_transient_faults(self, rate: float) -> None:
        # A strict vendor that rotated a refresh token and whose answer was lost holds the only copy of
        # the new one: no client survives that, so faults stay off the token route (see the README).
        if rate:
            self.vendor.faults.set_rate(rate, kinds=("metadata", "audio"))
        else:
            self.vendor.faults.clear()

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": "oauth2toy", "tenant": tenant, "base_url": self.vendor.url,
                 "token_url": f"{self.vendor.url}/oauth/token", "client_id": self.clients[tenant][0],
                 "client_secret": self.secret(self.clients[tenant][1]),
                 "refresh_token": self.secret(self.refresh[tenant]),
                 "token_file": str(self.folder / f"{tenant}.json"),
                 "rate_limit": {"requests": 200, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}} for tenant in self.tenants]

    def expected(self) -> Expectations:
        recordings = {tenant: {i["id"] for i in self.vendor.items[tenant] if isinstance(i, dict)
                               and i["start"] != "yesterday"} for tenant in self.tenants}
        audio = {tenant: ids - self.bad_audio[tenant] for tenant, ids in recordings.items()}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for tenant in self.tenants:
            for _ in range(count):
                self._item(tenant)

    def add_history(self, count: int) -> None:
        self.add_recordings(count)  # listed by position: a new store lists them, a second run does not

    def revoke(self, tenant: str) -> None:
        self.vendor.tokens.revoke(tenant)

    def token_audit(self) -> TokenAudit:
        return self.vendor.tokens.audit()

    def secrets(self) -> list[str]:
        basic = [base64.b64encode(f"{quote_plus(i)}:{quote_plus(s)}".encode()).decode()
                 for i, s in self.clients.values()]
        return [*self.vendor.tokens.secrets(), *basic]

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin as a user installs it: its module and a dist-info with the entry point."""
    site = tmp_path_factory.mktemp("oauth2toy-site")
    shutil.copy(PLUGIN, site / PLUGIN.name)
    dist = site / "collector_oauth2toy-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: collector-oauth2toy\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[recording_collector]\noauth2toy = collector_oauth2toy\n")
    return site


class TestRotatingTokensConformance(SourceConformance):
    """The whole conformance suite against two tenants of the rotating-token vendor."""

    source_name = "oauth2toy"
    backends = ("embedded",)  # HTTP shapes, the change feed's sync state and a token file touch no path the
    # store backends take differently; the shipped plugins' and the revisit/batch suites run on both.

    @pytest.fixture(autouse=True)
    def _plugin_on_the_path(self, installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.syspath_prepend(str(installed))  # this process's entry points
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(installed), os.environ.get("PYTHONPATH")])))
        yield
        sys.modules.pop("collector_oauth2toy", None)

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return RotatingEmulation(bad_data=bad_data)
