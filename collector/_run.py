"""One collection pass: every enabled source entry's job, concurrently, into one store.

At most `scheduler.max_jobs` tenant jobs run at once; within a tenant, its own rate limit and
`max_in_flight` bound the requests. A job never raises, so one tenant's failure cannot stop
another. The pass ends with every tenant's summary stored in the catalog and an exit code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ._config import Config
from ._job import TenantJob
from ._plugins import Plugins
from ._store import Store
from ._summary import TenantSummary, exit_code


@dataclass
class RunResult:
    """What a pass did: its id in the catalog, each tenant's summary and the exit code."""

    run_id: int
    summaries: list[TenantSummary]
    exit_code: int


async def run_pass(
    config: Config,
    plugins: Plugins,
    store: Store,
    *,
    on_start: Callable[[list[TenantSummary]], None] | None = None,
) -> RunResult:
    """Collect every enabled source once; the caller holds the store's lock.

    `on_start` receives the live summaries as soon as the jobs exist (for progress displays).
    """
    run_id = await store.call(store.catalog.start_run)
    jobs = [
        TenantJob(settings, plugins.sources[settings.plugin], store, plugins, run_id)
        for settings in config.enabled_sources
    ]
    if on_start is not None:
        on_start([job.summary for job in jobs])
    slots = asyncio.Semaphore(config.scheduler.max_jobs)

    async def run_job(job: TenantJob) -> TenantSummary:
        async with slots:
            return await job.run()

    summaries = list(await asyncio.gather(*(run_job(job) for job in jobs)))
    code = exit_code(summaries)
    for summary in summaries:
        await store.call(
            store.catalog.save_tenant_summary, run_id, summary.source, summary.tenant, summary.status.value,
            summary.as_dict(),
        )
    await store.call(store.catalog.finish_run, run_id, code, "complete" if code == 0 else "partial")
    return RunResult(run_id, summaries, code)
