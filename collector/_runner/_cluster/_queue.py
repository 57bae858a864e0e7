"""The cluster's task queue: procrastinate on the catalog's own PostgreSQL database.

A pass is one job per tenant (`collect_tenant`), deferred with the tenant as both its `lock`
(procrastinate never runs two jobs with one lock at once) and its `queueing_lock` (a tenant
waiting in the queue is not queued twice). Two periodic tasks, which procrastinate queues once
per tick however many workers run, on a queue of their own (`housekeeping_queue`) that every
worker serves beside its tenants' jobs: `schedule_tick` (every minute: starts the pass the
`[scheduler]` cron names, once, recorded by name in `cluster_passes`) and `recover_stalled`
(every 5 s: the jobs of workers that stopped sending heartbeats are marked failed and queued
again, so another worker resumes their tenants; procrastinate does not do this by itself).

procrastinate is imported only here, by `collector worker` and `collector enqueue`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collector._storage._catalog import Catalog, PostgresTarget
from collector._storage._store import Store

from .._config import Config
from .._summary import TenantSummary

log = logging.getLogger("collector.cluster")

COLLECT = "collector.collect_tenant"
RECOVER = "collector.recover_stalled"
TICK = "collector.schedule_tick"


def make_app(target: PostgresTarget) -> Any:
    """A procrastinate App on the catalog's database (the password passed apart from the DSN)."""
    import procrastinate

    kwargs: dict[str, Any] = {"application_name": "recording-collector-queue"}
    if target.password:
        kwargs["password"] = target.password
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=target.dsn, kwargs=kwargs, min_size=1, max_size=4))


def ensure_queue_schema(catalog: Catalog) -> None:
    """Create procrastinate's tables in the catalog's database once (applying them twice fails,
    and workers may start together)."""
    from procrastinate.schema import SchemaManager

    if catalog.install_once("procrastinate_jobs", SchemaManager.get_schema()):
        log.info("Created the task queue's tables in the catalog's database")


def housekeeping_queue(queue: str) -> str:
    """The queue of the periodic tasks (`recover_stalled`, `schedule_tick`), served by each worker
    apart from the tenants' jobs so a worker busy with tenants still runs them."""
    return f"{queue}-housekeeping"


def tenant_lock(source: str, tenant: str) -> str:
    """The queue's lock for a tenant (its jobs never run at the same time)."""
    return f"tenant:{source}/{tenant}"


@dataclass
class Enqueued:
    """What `enqueue_pass` did: the pass's name, the tenants queued, those already waiting."""

    name: str
    queued: int
    already_waiting: int
    already_enqueued: bool = False
    """The pass of this name was enqueued before: nothing was queued again."""


async def enqueue_pass(app: Any, store: Store, config: Config, name: str | None = None) -> Enqueued:
    """Queue one `collect_tenant` job per enabled tenant, once per pass `name` (default: the
    time of day now, to the minute, in UTC)."""
    from procrastinate.exceptions import AlreadyEnqueued

    name = name or datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    sources = config.enabled_sources
    if not await store.call(store.catalog.record_pass, name, len(sources)):
        return Enqueued(name, 0, 0, already_enqueued=True)
    queued = waiting = 0
    for settings in sources:
        lock = tenant_lock(settings.plugin, settings.tenant)
        try:
            await app.configure_task(COLLECT, queue=config.cluster.queue, lock=lock, queueing_lock=lock).defer_async(
                source=settings.plugin, tenant=settings.tenant, pass_name=name)
            queued += 1
        except AlreadyEnqueued:
            waiting += 1
    log.info("Pass %s enqueued: %d tenants queued, %d already waiting", name, queued, waiting,
             extra={"event": "pass_enqueued", "pass": name, "queued": queued, "already_waiting": waiting})
    return Enqueued(name, queued, waiting)


def due_pass(config: Config, now: datetime) -> str | None:
    """The name of the pass the `[scheduler]` cron named in the last ten minutes, if any (a tick
    missed while no worker ran is caught up by the next; older ones are left to the next pass)."""
    from .._schedule import next_pass

    tick = next_pass(config.scheduler.cron, config.scheduler.timezone, now - timedelta(minutes=10))
    return tick.strftime("%Y-%m-%dT%H:%MZ") if tick <= now else None


async def recover_stalled(app: Any, queue: str, stalled_seconds: float) -> int:
    """Mark the jobs of workers silent for `stalled_seconds` failed and queue their tenants again,
    and queue again the tenants whose jobs a worker aborted without being asked (its queue worker
    stopped on a database error or a shutdown while the tenant ran); returns how many."""
    return await _recover_silent(app, queue, stalled_seconds) + await _recover_aborted(app, queue)


async def _recover_aborted(app: Any, queue: str) -> int:
    """Tenants whose job ended "aborted" though nobody asked: queued again (the aborted row goes)."""
    from procrastinate.exceptions import AlreadyEnqueued

    rows = await app.connector.execute_query_all_async(
        "SELECT id, lock, queueing_lock, args FROM procrastinate_jobs WHERE task_name=%(task)s AND "
        "queue_name=%(queue)s AND status='aborted' AND NOT abort_requested", task=COLLECT, queue=queue)
    for row in rows:
        try:
            await app.configure_task(COLLECT, queue=queue, lock=row["lock"], queueing_lock=row["queueing_lock"]
                                     ).defer_async(**row["args"])
        except AlreadyEnqueued:
            pass  # queued already (by another worker's tick, or a pass)
        await app.connector.execute_query_async("DELETE FROM procrastinate_jobs WHERE id=%(id)s AND status='aborted'",
                                                id=row["id"])
        log.warning("The job of %s/%s was cut short (its worker's queue stopped); the tenant is queued again",
                    row["args"].get("source"), row["args"].get("tenant"),
                    extra={"event": "tenant_recovered", "source": row["args"].get("source"),
                           "tenant": row["args"].get("tenant")})
    return len(rows)


async def _recover_silent(app: Any, queue: str, stalled_seconds: float) -> int:
    """Jobs of workers silent for `stalled_seconds`: marked failed, their tenants queued again."""
    from procrastinate.exceptions import AlreadyEnqueued
    from procrastinate.jobs import Status

    recovered = 0
    for job in await app.job_manager.get_stalled_jobs(queue=queue, task_name=COLLECT,
                                                      seconds_since_heartbeat=stalled_seconds):
        try:
            await app.configure_task(COLLECT, queue=queue, lock=job.lock, queueing_lock=job.queueing_lock).defer_async(
                **job.task_kwargs)
        except AlreadyEnqueued:
            pass  # queued again by an earlier tick that could not mark the old job
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        recovered += 1
        log.warning("The worker running %s/%s stopped sending heartbeats; the tenant is queued again",
                    job.task_kwargs.get("source"), job.task_kwargs.get("tenant"),
                    extra={"event": "tenant_recovered", "source": job.task_kwargs.get("source"),
                           "tenant": job.task_kwargs.get("tenant")})
    return recovered


@dataclass
class PassReport:
    """A pass started on the cluster: what was queued, and (when waited for) each tenant's run
    of this very pass as `status` shows runs, or a failed entry for a tenant that has none."""

    enqueued: Enqueued
    tenants: list[dict[str, Any]]

    def summaries(self) -> list[TenantSummary]:
        """The tenants' runs of the pass as summaries (for the pass-finished hook)."""
        return [TenantSummary.from_dict(run) for run in self.tenants]


def start_pass(config: Config, name: str | None = None, *, wait: bool = False) -> PassReport:
    """Enqueue a pass (see `enqueue_pass`) and, with `wait`, wait until none of its tenants is
    queued or running, then read their runs from the catalog."""

    store = Store(config.store_location)

    async def go() -> PassReport:
        await store.call(ensure_queue_schema, store.catalog)
        app = make_app(config.store_location.postgres)  # type: ignore[arg-type]
        async with app.open_async():
            enqueued = await enqueue_pass(app, store, config, name)
            if wait:
                await _wait_for(app, enqueued.name)
        tenants = []
        for settings in config.enabled_sources if wait else []:
            last = await store.call(store.catalog.last_run, settings.plugin, settings.tenant)
            if last is None or last.get("pass") != enqueued.name:  # its job failed before the tenant ran
                last = {"status": "failed", "messages": ["No run of this pass finished; see the workers' logs."]}
            tenants.append({"source": settings.plugin, "tenant": settings.tenant, **last})
        return PassReport(enqueued, tenants)

    try:
        return asyncio.run(go())
    finally:
        store.close()


async def _wait_for(app: Any, name: str) -> None:
    """Wait until no tenant of the pass is queued or running. The database going away meanwhile is
    waited out, however long (the workers ride it out too): said once when it goes, once when it is
    back, and never a traceback."""
    away_since: float | None = None
    while True:
        try:
            left = await jobs_left(app, name)
            if away_since is not None:
                log.info("The database is back after %.0f s; pass %s has %d tenant(s) to go",
                         time.monotonic() - away_since, name, left, extra={"event": "database_back"})
                away_since = None
            if not left:
                return
        except Exception as exc:  # psycopg's or procrastinate's: the database is away
            if type(exc).__module__.split(".")[0] not in ("psycopg", "psycopg_pool", "procrastinate"):
                raise
            if away_since is None:
                away_since = time.monotonic()
                log.warning("The database cannot be reached (%s); waiting for it, and then for pass %s",
                            type(exc).__name__, name, extra={"event": "database_away"})
        await asyncio.sleep(1.0 if away_since is None else 2.0)


async def jobs_left(app: Any, name: str) -> int:
    """How many tenants of the pass `name` are still queued or running."""
    row = await app.connector.execute_query_one_async(
        "SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE task_name=%(task)s AND args->>'pass_name'=%(name)s "
        "AND status IN ('todo', 'doing')", task=COLLECT, name=name)
    return int(row["n"])
