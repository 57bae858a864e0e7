"""The machine's budget: descriptors raised, exchanges in flight bounded across every tenant."""

from __future__ import annotations

import asyncio
import resource

from collector import HttpClient, RateLimit, Traffic
from collector._http._client import RetrySettings
from collector._runner._machine import Machine, raise_open_file_limit
from collector.emulator import EmulatorServer, Response


class Slow(EmulatorServer):
    """Answers after a short pause, so concurrent requests overlap."""

    def __init__(self) -> None:
        super().__init__(rate_limit=None)
        self.add_route("GET", "/slow", "metadata", self.slow)

    def slow(self, request: object) -> Response:
        import time

        time.sleep(0.05)
        return Response.json({"ok": True})


def test_the_soft_limit_on_open_files_is_raised_towards_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_file_limit() >= soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(soft, hard)


def test_exchanges_in_flight_are_bounded_across_tenants() -> None:
    """Three tenants, four requests in flight each allowed, but the machine allows two at once."""

    async def scenario(server: Slow) -> None:
        budget = asyncio.Semaphore(2)
        clients = [HttpClient(server.url, Traffic(RateLimit(requests=100, per_seconds=1), max_in_flight=4,
                                                  retry=RetrySettings(attempts=1), connections=budget))
                   for _ in range(3)]
        try:
            await asyncio.gather(*(c.json("GET", "/slow") for c in clients for _ in range(4)))
        finally:
            for c in clients:
                await c.aclose()
        assert budget._value == 2  # every share given back

    with Slow() as server:
        asyncio.run(scenario(server))
        assert sum(server.peak_in_flight.values()) >= 1
        assert max(server.peak_in_flight.values()) <= 2


def test_a_machine_sizes_its_verification_pool_to_the_cores() -> None:
    import os

    async def scenario() -> Machine:
        return Machine()

    machine = asyncio.run(scenario())
    try:
        assert machine.verify_pool._max_workers == (os.cpu_count() or 1)
        assert machine.connection_limit >= 16
    finally:
        machine.close()
