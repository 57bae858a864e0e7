"""`collector worker`: one worker process of a cluster, collecting the tenants the queue hands it.

A worker holds the store shared (a `collector run` on the same store waits for none of them and
is refused while they run), keeps every tenant's rate-limit slots in the database
(`DatabaseLedger`, so a tenant handed to another machine keeps to its limit), and runs up to
`[cluster] tenants_per_worker` tenants at once, each exactly as `collector run` would (the same
`TenantJob`), under a lease (see `_lease`). Each tenant's job is a run of its own in the catalog,
with its summary, so `status` and `report` read the same as after `collector run`.

SIGTERM or SIGINT (systemd's stop, Kubernetes' termination) stops taking new tenants and lets
the running ones finish for up to `lease_seconds`; what is cut short resumes from its committed
state on the next pass, wherever it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from collector._base._errors import ConfigError, StoreFailure
from collector._base._exits import OUTCOMES
from collector._http._ledger import DatabaseLedger, share_ledgers
from collector._storage._checkpoints import write_checkpoint
from collector._storage._store import Store

from .._config import Config
from .._hookspecs import TenantEvent
from .._job import TenantJob
from .._machine import Machine
from .._plugins import Plugins
from .._summary import exit_code
from ._lease import Coordination, LeaseBusy, TenantLease
from ._queue import (
    COLLECT,
    RECOVER,
    TICK,
    due_pass,
    enqueue_pass,
    ensure_queue_schema,
    housekeeping_queue,
    make_app,
    recover_stalled,
)

log = logging.getLogger("collector.cluster")

_STALLED_SESSION = (("idle_in_transaction_session_timeout", "5s"),)
"""Catalog transactions are short: a session idle inside one this long belongs to a stalled worker."""


def require_cluster_store(config: Config) -> None:
    """Workers and `enqueue` need the catalog in PostgreSQL (the queue lives in the same database)."""
    if config.store.postgresql is None:
        raise ConfigError([f"{config.path}: store.postgresql: `collector worker` and `collector enqueue` need the "
                           "catalog in PostgreSQL (its database holds the task queue); add a [store.postgresql] "
                           "table with a dsn."])


def worker_name(name: str | None) -> str:
    """The worker's name: as given, or this machine's host name and the process id."""
    return name or f"{socket.gethostname()}-{os.getpid()}"


class TenantInterrupted(Exception):
    """A tenant's job was cut short by a database outage: its task is retried (see `Worker._register`)."""


class Worker:
    """One worker process: its store, its machine budget, and the tasks it registers with the queue."""

    def __init__(self, config: Config, plugins: Plugins, store: Store, coordination: Coordination,
                 name: str) -> None:
        self.config = config
        self.coordination = coordination
        self.plugins = plugins
        self.store = store
        self.name = name
        self.machine = Machine()
        self.app = make_app(config.store_location.postgres)  # type: ignore[arg-type]
        self._sources = {(s.plugin, s.tenant): s for s in config.enabled_sources}
        self._register()

    def _register(self) -> None:
        import procrastinate

        cluster = self.config.cluster
        app = self.app

        async def collect_tenant(source: str, tenant: str, pass_name: str) -> None:
            await self.collect(source, tenant, pass_name)

        async def recover(timestamp: int) -> None:
            await recover_stalled(app, cluster.queue, cluster.stalled_seconds)

        async def tick(timestamp: int) -> None:
            name = due_pass(self.config, datetime.now(UTC))
            if name is not None:
                await enqueue_pass(app, self.store, self.config, name)

        # A tenant whose lease lapsed while the database was away is queued again (as a retry of its
        # job, so `enqueue --wait` waits for it too), every 10 s while outages last, 30 times at most.
        retry = procrastinate.RetryStrategy(max_attempts=30, wait=10, retry_exceptions={TenantInterrupted})
        app.task(name=COLLECT, queue=cluster.queue, retry=retry)(collect_tenant)
        # The periodic tasks run on a queue of their own, served apart from the tenants' jobs: a
        # worker whose every slot runs a tenant still recovers a stalled peer's tenants on time.
        housekeeping = housekeeping_queue(cluster.queue)
        app.periodic(cron="* * * * * */5")(app.task(name=RECOVER, queue=housekeeping)(recover))
        if cluster.schedule:
            app.periodic(cron="* * * * *")(app.task(name=TICK, queue=housekeeping)(tick))

    async def collect(self, source: str, tenant: str, pass_name: str) -> None:
        """Collect one tenant under its lease, as one run in the catalog."""
        settings = self._sources.get((source, tenant))
        if settings is None:
            log.warning("%s/%s was queued but is not an enabled [[sources]] entry of this worker's configuration; "
                        "skipped", source, tenant)
            return
        cluster = self.config.cluster
        lease = TenantLease(self.coordination, self.store, source, tenant, self.name, cluster.lease_seconds)
        try:
            await lease.take(wait=cluster.lease_seconds + cluster.stalled_seconds)
        except LeaseBusy as exc:
            log.info("%s; another worker is collecting it", exc)
            return
        # A worker outlives the failures of its store (a disk filled and freed, an S3 outage): each
        # tenant tries again, where a `collector run` stops downloading for the rest of its pass.
        self.store.failure = None
        try:
            run_id = await self.store.call(self.store.catalog.start_run)
            job = TenantJob(settings, self.plugins.sources[settings.plugin], self.store, self.plugins, run_id,
                            self.machine)
            job.traffic.gate = lease.gate
            job.traffic.worker = self.name
            keeper = asyncio.create_task(lease.keep(job.stop))
            try:
                summary = await job.run()
            finally:
                keeper.cancel()
        finally:
            await lease.release()
        code = exit_code([summary])
        try:
            await self.store.call(self.store.catalog.finish_run, run_id, code, OUTCOMES.get(code, "partial"),
                                  [(summary.source, summary.tenant, summary.status.value,
                                    {**summary.as_dict(), "pass": pass_name})])
            await self.store.call(write_checkpoint, self.store, self.config.evidence, run_id)
        except StoreFailure as exc:
            log.error("The summary of %s could not be saved: %s", summary.label, exc.reason)
        self.plugins.tenant_finished(TenantEvent("worker", self.config, summary, run_id, worker=self.name,
                                                 pass_name=pass_name))
        if lease.lapsed_in_outage:
            log.warning("%s stopped because the database was away; its job is queued again", summary.label,
                        extra={"event": "tenant_requeued", "worker": self.name, "pass": pass_name})
            raise TenantInterrupted(f"{summary.label}: the database was away; run again")

    async def run(self, *, until_idle: bool = False) -> None:
        """Work until stopped (SIGTERM/SIGINT), or with `until_idle` until the queue is empty.

        procrastinate's worker stops itself when its database connection fails (its heartbeat and
        listener tasks end with the error); this loop starts it again once the database answers,
        so a PostgreSQL restart or failover costs a pause, not the worker. Tenants that were
        running keep running meanwhile (they reconnect on their own).
        """
        import procrastinate.worker

        cluster = self.config.cluster
        await self.store.call(ensure_queue_schema, self.store.catalog)
        stopping = asyncio.Event()
        current: list[Any] = []

        def stop() -> None:
            stopping.set()
            for worker in current:
                worker.stop()

        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_unrecorded_job)
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop)
        async with self.app.open_async():
            while not stopping.is_set():
                options: dict[str, Any] = {
                    "fetch_job_polling_interval": cluster.poll_seconds, "delete_jobs": "successful",
                    "update_heartbeat_interval": cluster.stalled_seconds / 4,
                    "stalled_worker_timeout": cluster.stalled_seconds, "install_signal_handlers": False}
                worker: Any = procrastinate.worker.Worker(
                    self.app, queues=[cluster.queue], name=self.name, concurrency=cluster.tenants_per_worker,
                    wait=not until_idle, shutdown_graceful_timeout=cluster.lease_seconds, **options)
                keeper: Any = procrastinate.worker.Worker(
                    self.app, queues=[housekeeping_queue(cluster.queue)], name=f"{self.name}-housekeeping",
                    concurrency=1, wait=True, shutdown_graceful_timeout=5.0, **options)
                current[:] = [worker, keeper]
                keeping = asyncio.create_task(keeper.run())
                try:
                    await worker.run()
                except Exception as exc:  # noqa: BLE001 - the database is away: wait and start again
                    log.warning("The task queue cannot be reached (%s); trying again", type(exc).__name__)
                finally:
                    keeper.stop()
                    await asyncio.gather(keeping, return_exceptions=True)
                if until_idle or stopping.is_set():
                    break
                log.warning("The task queue's worker stopped on a database error; it starts again")
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=2.0)
                except TimeoutError:
                    pass

    def close(self) -> None:
        """Release the machine's pools."""
        self.machine.close()


def _unrecorded_job(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's handler of exceptions nobody awaited. procrastinate records a job's end in
    a task of its own; when this worker was stalled (SIGSTOP, a frozen VM) and its job was handed
    to another worker meanwhile, that record fails ("not in doing status") and the task's error was
    printed as a "Task exception was never retrieved" traceback. It is expected and harmless (the
    replacement job runs, or ran): one line says so. Anything else goes to the default handler."""
    future = context.get("future")
    name = future.get_name() if isinstance(future, asyncio.Task) else ""
    error = context.get("exception")
    if name.startswith("process job") and type(error).__module__.startswith("procrastinate"):
        log.warning("The end of %s could not be recorded: the job was handed to another worker while this one "
                    "was stalled, or the database was away (%s); the tenant is collected by its replacement",
                    name.removeprefix("process job "), type(error).__name__, extra={"event": "job_unrecorded"})
        return
    loop.default_exception_handler(context)


def run_worker(config: Config, plugins: Plugins, *, name: str | None = None, until_idle: bool = False) -> int:
    """Run one worker until it is stopped; 0 on a clean stop, 5 if the store failed."""
    require_cluster_store(config)
    me = worker_name(name)
    location = config.store_location
    target = location.postgres
    assert target is not None
    # A worker that stalls (SIGSTOP, a frozen VM) in the middle of a transaction would hold its row
    # locks (a ledger row, a lease it fences) until it wakes, and every other worker would wait on
    # them. The server ends such a session after a few idle seconds, rolling it back (the worker's
    # next call connects again and finds its lease gone); and a lock is waited for half a second at
    # most on the connection the event loop uses (a claim then tries again a second later).
    store = Store(replace(location, postgres=replace(target, settings=_STALLED_SESSION)), worker=me)
    coordination = Coordination(replace(target, settings=(*_STALLED_SESSION, ("lock_timeout", "500ms"))))
    # A slot left in flight by a worker that died is taken back once that worker holds no lease (see
    # DatabaseLedger), and at the latest when its request cannot still be waiting for its response
    # headers: after the longest request timeout configured.
    stale = max((s.timeout for s in config.enabled_sources), default=60.0) + 5.0

    def ledger(account: str, slots: int, window: float) -> Any:
        return DatabaseLedger(coordination.catalog, coordination.lock, account, slots, window=window,
                              stale_after=stale, holder=me)

    share_ledgers(ledger)
    worker: Worker | None = None
    try:
        with store.shared():
            worker = Worker(config, plugins, store, coordination, me)
            log.info("Worker %s started: up to %d tenants at once, queue %s", me, config.cluster.tenants_per_worker,
                     config.cluster.queue, extra={"event": "worker_started", "worker": me})
            plugins.service_started(config, "worker")  # the built-in metrics plugin serves /metrics
            asyncio.run(worker.run(until_idle=until_idle))
            log.info("Worker %s stopped", me, extra={"event": "worker_stopped", "worker": me})
    finally:
        share_ledgers(None)
        if worker is not None:
            worker.close()
        store.close()
        coordination.close()
    return 0
