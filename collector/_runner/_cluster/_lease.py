"""A worker's lease on one tenant: taken before the tenant's job starts, renewed while it runs.

The lease is a row in the catalog (`tenant_leases`, see `collector._storage._catalog._cluster`), timed by
the database's clock. Three things keep a tenant on one worker at a time, even when a worker
stalls (SIGSTOP, a frozen VM, a long GC) rather than dies:

- **taking** bumps the lease's epoch, and is only possible once the previous holder released it
  or it expired by the database's clock;
- **sending**: before every request the job checks `gate()`, which refuses once this machine's
  monotonic clock passes the moment the lease was last renewed plus its length, less a margin.
  That moment is always before the database's expiry (the renewal started before the database
  stamped it), so a worker that wakes from a stall stops sending before anybody could have
  taken its tenant over; a monotonic clock keeps counting while a process is stopped;
- **writing**: every catalog transaction of the tenant checks the epoch (a fencing token, see
  `ClusterCatalog.fences`) and fails with `LeaseLost` if another worker took the lease meanwhile.

A renewal that fails because the database cannot be reached is tried again until the lease
would lapse; then the tenant's job is stopped (it resumes from its committed state wherever the
tenant goes next). Leases are taken and renewed on a connection of their own (`Coordination`), not
the store's, whose one thread can be busy with a hundred tenants' commits when a renewal is due.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from collector._storage._catalog import Catalog, LeaseLost, PostgresTarget
from collector._storage._store import Store

T = TypeVar("T")

log = logging.getLogger("collector.cluster")


class LeaseBusy(Exception):
    """Another worker kept the tenant's lease for as long as this one was willing to wait."""


class Coordination:
    """The worker's own connection to the catalog's database for leases and rate-limit ledgers,
    with one thread for leases; `lock` serializes the two users of the connection."""

    def __init__(self, target: PostgresTarget) -> None:
        self.catalog = Catalog(target)
        self.lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leases")

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a lease operation on the leases' thread; a lost connection is opened again for the
        next call (the caller decides whether to try again)."""
        def locked() -> T:
            with self.lock:
                try:
                    return function(*args)
                except self.catalog.errors as exc:
                    self.catalog.reconnect_quietly(exc)
                    raise
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(locked))

    def close(self) -> None:
        """Close the thread and the connection."""
        self._executor.shutdown(wait=True)
        self.catalog.close()


class TenantLease:
    """One tenant's lease, held by this worker for one job."""

    def __init__(self, coordination: Coordination, store: Store, source: str, tenant: str, worker: str,
                 seconds: float) -> None:
        self.coordination = coordination
        self.store = store
        self.tenant = (source, tenant)
        self.worker = worker
        self.seconds = seconds
        self.epoch: int | None = None
        self._margin = min(2.0, seconds / 10)
        self._valid_until = 0.0
        self.lapsed_in_outage = False
        """The lease lapsed because the database could not be reached to renew it (not taken over):
        the tenant's job is worth running again once the database is back."""

    async def take(self, *, wait: float) -> None:
        """Take the lease, waiting up to `wait` seconds for its current holder's to lapse."""
        deadline = time.monotonic() + wait
        while True:
            started = time.monotonic()
            try:
                epoch, left = await self.coordination.call(self.coordination.catalog.take_lease, *self.tenant,
                                                           self.worker, self.seconds)
            except self.coordination.catalog.errors as exc:
                log.warning("The lease on %s could not be taken (%s); trying again", "/".join(self.tenant),
                            type(exc).__name__)
                epoch, left = None, 1.0
            if epoch is not None:
                self.epoch = epoch
                self._valid_until = started + self.seconds - self._margin
                self.store.catalog.fences[self.tenant] = epoch
                return
            if time.monotonic() + left > deadline:
                raise LeaseBusy(f"{'/'.join(self.tenant)} is leased to another worker")
            await asyncio.sleep(min(left + 0.05, 1.0))

    def gate(self) -> None:
        """Raise `LeaseLost` if the lease may have lapsed: nothing more may be sent."""
        if time.monotonic() >= self._valid_until:
            raise LeaseLost(*self.tenant)

    async def keep(self, on_lost: Callable[[LeaseLost], None]) -> None:
        """Renew the lease every third of its length until cancelled; call `on_lost` and return
        when it cannot be renewed (taken over, or the database unreachable until it lapses)."""
        assert self.epoch is not None, "take() the lease first"
        failure = ""
        while True:
            await asyncio.sleep(self.seconds / 3)
            started = time.monotonic()
            try:
                renewed: bool | None = await self.coordination.call(self.coordination.catalog.renew_lease,
                                                                    *self.tenant, self.epoch, self.seconds)
            except self.coordination.catalog.errors as exc:
                failure = type(exc).__name__
                log.warning("The lease on %s could not be renewed: the database did not answer (%s); trying again "
                            "until the lease lapses", "/".join(self.tenant), failure)
                renewed = None
            if renewed:
                self._valid_until = started + self.seconds - self._margin
            elif renewed is False:
                on_lost(LeaseLost(*self.tenant))
                return
            elif time.monotonic() >= self._valid_until:
                self.lapsed_in_outage = True
                on_lost(LeaseLost(*self.tenant, f"lapsed: the database could not be reached to renew it ({failure})"))
                return

    async def release(self) -> None:
        """Give the lease back (another worker may take the tenant at once); quietly, since a
        lease that cannot be released simply lapses."""
        self.store.catalog.fences.pop(self.tenant, None)
        if self.epoch is not None:
            try:
                await self.coordination.call(self.coordination.catalog.release_lease, *self.tenant, self.epoch)
            except self.coordination.catalog.errors:
                pass
