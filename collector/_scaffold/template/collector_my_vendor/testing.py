"""MyVendor's emulator as the conformance suite drives it (imported by tests only: needs pytest).

Two tenants on one emulated host, API keys in environment variables. The host pages four
recordings at a time, so a few recordings make several pages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector import iso, now_utc
from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations

from ._emudata import Tenant, malformed
from .emulator import MyVendorEmulator

BAD_AUDIO = ("html", "truncated", "duration")
RATE_LIMIT = (20, 0.5)  # per tenant (requests, seconds): the documented 20 a second, sped up


class MyVendorEmulation(Emulation):
    """Two MyVendor tenants with `recordings` recordings each, the newest an hour old."""

    processing = True  # recordings are listed while their audio is still processing
    concurrency_limit = 4  # requests in flight per API key (the emulator enforces it)
    redirects = False  # media served by a redirect to a signed URL? Then True, and implement
    # expire_signed_urls and credentials_leaked (StorageServer does the work).

    def __init__(self, *, bad_data: bool = False, recordings: int = 8) -> None:
        now = now_utc()
        self.start = now - timedelta(days=30)
        self.tenants = [Tenant("east"), Tenant("west")]
        self.keys = [tenant.api_key for tenant in self.tenants]
        self.api = MyVendorEmulator(self.tenants, page_size_cap=4, rate_limit=RATE_LIMIT, seed=1)
        self.api.start()
        self.bad_audio: dict[str, set[str]] = {tenant.name: set() for tenant in self.tenants}
        self.rejected: dict[str, int] = {tenant.name: 0 for tenant in self.tenants}
        for tenant in self.tenants:
            tenant.add_history(recordings, now - timedelta(hours=1), every=timedelta(minutes=7))
            if bad_data:
                self._add_bad_data(tenant)

    def _add_bad_data(self, tenant: Tenant) -> None:
        created = tenant.newest() - timedelta(minutes=1)
        for hostile in HOSTILE_IDS:  # stored safely, audio and all
            tenant.add(created, recording_id=hostile)
        for fault in BAD_AUDIO:  # quarantined
            item = tenant.add(created)
            tenant.audio_faults[item["id"]] = fault
            self.bad_audio[tenant.name].add(item["id"])
        for item in malformed(created):  # rejected
            tenant.add_item(created, item)
            self.rejected[tenant.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api]

    def sources(self) -> list[dict[str, Any]]:
        requests, seconds = RATE_LIMIT
        return [{"plugin": "my_vendor", "tenant": tenant.name, "base_url": self.api.url,
                 "api_key": self.secret(tenant.api_key), "start": iso(self.start),
                 "rate_limit": {"requests": requests, "per_seconds": seconds},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}}
                for tenant in self.tenants]

    def expected(self) -> Expectations:
        recordings = {tenant.name: {item["id"] for item in tenant.recordings()}
                      for tenant in self.tenants}
        audio = {tenant.name: {item["id"] for item in tenant.recordings()
                               if item["status"] == "ready"} - self.bad_audio[tenant.name]
                 for tenant in self.tenants}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int, *, status: str = "ready") -> None:
        now = now_utc()
        for tenant in self.tenants:
            for number in range(count):
                tenant.add(now - timedelta(milliseconds=count - number), status=status)

    def add_history(self, count: int) -> None:
        for tenant in self.tenants:
            oldest = min(row.created for row in tenant.rows)
            tenant.add_history(count, oldest - timedelta(days=1), every=timedelta(minutes=1))

    def add_late(self, count: int) -> None:
        for tenant in self.tenants:  # older than the newest recording, within the overlap
            newest = tenant.newest()
            for number in range(count):
                tenant.add(newest - timedelta(minutes=5, milliseconds=number))

    def add_processing(self, count: int) -> None:
        self.add_recordings(count, status="processing")

    def finish_processing(self) -> None:
        for tenant in self.tenants:
            tenant.finish_processing()

    def revoke(self, tenant: str) -> None:
        revoked = next(t for t in self.tenants if t.name == tenant)
        del self.api.tenants[revoked.api_key]

    def secrets(self) -> list[str]:
        return list(self.keys)
