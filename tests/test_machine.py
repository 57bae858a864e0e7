"""The machine's budget: descriptors raised, exchanges in flight bounded across every tenant."""

from __future__ import annotations

import asyncio
import itertools
import resource

import pytest

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


def test_tenants_start_spread_over_their_first_burst_and_never_later_than_their_window() -> None:
    """Tenants started together open their windows together, every window after: 500 Xima tenants
    sent 1,500 requests at once. Their starts are spread over what that first burst costs."""
    from collector._runner._run import start_offsets

    assert start_offsets([]) == []
    few = start_offsets([(4, 1.0)] * 3)  # 12 requests: 36 ms of CPU
    assert few[0] == 0 and max(few) < 0.03
    many = start_offsets([(3, 10.0)] * 500)  # 1,500 requests: 4.5 s
    assert many[-1] == pytest.approx(4.5 * 499 / 500)
    assert len({round(later - earlier, 9) for earlier, later in itertools.pairwise(many)}) == 1  # evenly
    assert max(start_offsets([(3, 1.0)] * 500)) < 1.0  # never later than the tenant's own window
