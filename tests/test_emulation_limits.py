"""`Emulation.peak_in_flight` looks at the servers that enforce a limit on requests in flight.

A storage host that every tenant shares counts all of them under one key and no concurrency limit
covers it (vendors document the limit for their API), so its peak is not a tenant's.
"""

from __future__ import annotations

from typing import Any

from collector.emulator import EmulatorServer, StorageServer
from collector.testing import Emulation, Expectations


class TwoHosts(Emulation):
    """An API host limited to 3 requests in flight per tenant, and a shared storage host."""

    concurrency_limit = 3

    def __init__(self, api_limit: int | None = 3) -> None:
        self.api = EmulatorServer(max_in_flight=api_limit)
        self.storage = StorageServer()

    def servers(self) -> list[EmulatorServer]:
        return [self.api, self.storage]

    def sources(self) -> list[dict[str, Any]]:
        return []

    def expected(self) -> Expectations:
        return Expectations(recordings={}, audio={})

    def add_recordings(self, count: int) -> None:
        """No data."""

    def secrets(self) -> list[str]:
        return []


def test_the_peak_is_taken_at_the_servers_that_enforce_a_limit() -> None:
    emulation = TwoHosts()
    emulation.api.peak_in_flight.update({"tenant-a": 3, "tenant-b": 2})
    emulation.storage.peak_in_flight["all"] = 6  # both tenants' downloads at once
    assert emulation.peak_in_flight() == 3


def test_without_a_limited_server_every_server_counts() -> None:
    emulation = TwoHosts(api_limit=None)
    emulation.api.peak_in_flight["all"] = 2
    emulation.storage.peak_in_flight["all"] = 5
    assert emulation.peak_in_flight() == 5
