"""One collection pass: every enabled source entry's job, concurrently, into one store.

`run_once` is the one run lifecycle: tell plugins a pass starts, open the store, take its lock,
run the pass (each tenant's end told to plugins), close, tell plugins the pass ended. The CLI's
`run`, `schedule` and `demo`, the test harness and the benchmarks all call it; a cluster worker
tells plugins of each tenant it runs, `enqueue --wait` of the whole pass (the same hooks). What
follows a pass (metrics, a verify slice, summary log lines) is built-in plugins (`_builtins`).

Every tenant's job starts in the pass's first moments (at most `scheduler.max_jobs` at once, if a
user caps it), their starts spread by `start_offsets` so that their windows do not open together;
within a tenant, its own rate limit and `max_in_flight` bound the requests, and what costs this machine
(sockets, files, verification) is bounded by the pass's `Machine`. A job never raises, so one
tenant's failure cannot stop
another. The pass ends with every tenant's summary stored in the catalog, a checkpoint of the evidence
chain (`_checkpoints`) and an exit code.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from collector._base._errors import StoreFailure
from collector._base._exits import EXIT_STORE, OUTCOMES
from collector._base._time import iso, now_utc
from collector._storage._checkpoints import CheckpointResult, write_checkpoint
from collector._storage._store import Store

from ._config import Config
from ._hookspecs import PassEvent, PassKind, TenantEvent
from ._job import TenantJob
from ._machine import Machine
from ._plugins import Plugins
from ._run_journal import RunJournal
from ._summary import TenantSummary, exit_code

_REQUEST_CPU = 0.003
"""Seconds of this process's CPU one request costs a pass, about (a verified Xima download, with
its catalog and evidence work: 2.6-3.3 ms measured by `bench/bench_tenants.py`)."""


def start_offsets(bursts: Sequence[tuple[int, float]]) -> list[float]:
    """When each tenant's job starts, in seconds after the first, given each tenant's first burst
    (the requests it may send at once: its allowance, at most its `max_in_flight`) and its window.

    Tenants started together open their windows together, and keep doing so: each slot is free again
    one window after its request's answer, so 500 Xima tenants send 1,500 requests at once, about
    4.4 s of event-loop CPU, and each waits for its place in the burst, every window (each slot's
    cycle took the window + 0.2 s at 200 tenants). So tenant i of n starts i/n of the way through a
    spread as long as the whole first burst's CPU (`_REQUEST_CPU` a request), but never later than
    its own window: a few tenants start within milliseconds, many are spread evenly over the time
    their burst would have taken anyway.
    """
    if not bursts:
        return []
    spread = sum(requests for requests, _ in bursts) * _REQUEST_CPU
    return [min(spread, window) * index / len(bursts) for index, (_, window) in enumerate(bursts)]


@contextmanager
def _fewer_gc_pauses() -> Iterator[None]:
    """Collect garbage less often during a pass.

    A sync allocates millions of short-lived objects while a page of them is alive, and CPython's
    default thresholds then run collections that rescan them. Freezing what exists at start-up and
    raising the first threshold measured 8% faster on the sync benchmark. Not higher: each request
    leaves a little cyclic garbage (httpx's response and its stream refer to each other) that pins
    freed pages of memory until a collection runs, and at 50,000 the resident size grew with the
    sync (150 MB at 100,000 recordings); at 5,000 it stays flat (under 100 MB at 100,000 and at
    200,000). Restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(5_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class RunResult:
    """What a pass did: its id in the catalog, each tenant's summary and the exit code."""

    run_id: int
    summaries: list[TenantSummary]
    exit_code: int
    store_failure: str | None = None
    """Why the store failed in this run (exit code 5), if it did."""
    checkpoint: CheckpointResult | None = None
    """The evidence chain's checkpoint written at the end of the pass (None if the store failed)."""


async def run_pass(
    config: Config,
    plugins: Plugins,
    store: Store,
    *,
    on_start: Callable[[list[TenantSummary]], None] | None = None,
    kind: PassKind = "run",
    interactive: bool = False,
) -> RunResult:
    """Collect every enabled source once; the caller holds the store's lock.

    `on_start` receives the live summaries as soon as the jobs exist (for progress displays). A pass
    whose start or finish the catalog cannot take (a full disk) is kept in the store's run journal
    and recorded by the next pass that can (`_run_journal`).
    """
    journal = RunJournal(store.root)
    await store.call(journal.reserve)
    started = iso(now_utc())
    try:
        await store.call(_record_pending, store, journal)
        run_id = await store.call(store.catalog.start_run)
    except StoreFailure as exc:
        await store.call(journal.keep, {"started": started, "finished": iso(now_utc()), "exit_code": EXIT_STORE,
                                        "outcome": OUTCOMES[EXIT_STORE], "reason": exc.reason})
        raise
    machine = Machine()
    jobs = [
        TenantJob(settings, plugins.sources[settings.plugin], store, plugins, run_id, machine)
        for settings in config.enabled_sources
    ]
    if on_start is not None:
        on_start([job.summary for job in jobs])
    cap = config.scheduler.max_jobs
    slots = asyncio.Semaphore(cap) if cap else None
    offsets = start_offsets([job.traffic.first_burst for job in jobs])

    async def run_job(job: TenantJob, offset: float) -> TenantSummary:
        if slots is None:
            await asyncio.sleep(offset)
            summary = await job.run()
        else:
            async with slots:
                summary = await job.run()
        plugins.tenant_finished(TenantEvent(kind, config, summary, run_id, interactive))
        return summary

    try:
        with _fewer_gc_pauses():
            started_jobs = (run_job(job, offset) for job, offset in zip(jobs, offsets, strict=True))
            summaries = list(await asyncio.gather(*started_jobs))
    finally:
        await asyncio.get_running_loop().run_in_executor(None, machine.close)
    code = EXIT_STORE if store.failure is not None else exit_code(summaries)
    checkpoint = None
    tenants = [(s.source, s.tenant, s.status.value, s.as_dict()) for s in summaries]
    try:
        await store.call(store.catalog.finish_run, run_id, code, OUTCOMES.get(code, "partial"), tenants)
    except StoreFailure:
        code = EXIT_STORE  # the summaries are printed all the same; the catalog keeps them once it can
        await store.call(journal.keep, {"run_id": run_id, "started": started, "finished": iso(now_utc()),
                                        "exit_code": code, "outcome": OUTCOMES[code], "tenants": tenants})
    else:
        try:
            checkpoint = await store.call(write_checkpoint, store, config.evidence, run_id)
        except StoreFailure:
            code = EXIT_STORE
    return RunResult(run_id, summaries, code, store.failure.reason if store.failure else None, checkpoint)


def _record_pending(store: Store, journal: RunJournal) -> None:
    """Record the passes the catalog could not take before (and mark killed ones interrupted)."""
    records = journal.pending()
    if records:
        store.catalog.record_missed_runs(records)
        journal.clear()
    store.catalog.mark_interrupted_runs()


Progress = Callable[[Callable[[], list[TenantSummary]]], AbstractContextManager[None]]
"""Shows a pass's live summaries while it runs; entered on the pass's event loop."""


def run_once(config: Config, plugins: Plugins, *, progress: Progress | None = None, kind: PassKind = "run",
             interactive: bool = False) -> RunResult:
    """Run one pass into the configured store: lock it, collect every enabled source, close it; the
    one pass lifecycle of `run`, `schedule` and `demo` (`kind`), with its hooks around it.

    Raises `StoreBusy` when another run holds the store. A failure of the store itself (it cannot
    be opened, the disk is full) is a result with exit code 5 and `store_failure` saying why.
    `progress` receives a function returning the live summaries (for a progress display);
    `interactive` tells plugins a live table shows them. Plugins hear `collector_pass_started`,
    then `collector_tenant_finished` as each tenant ends, and `collector_pass_finished` once the
    store's lock is released (so that a verify slice may take it).
    """
    plugins.pass_started(PassEvent(kind, config, interactive))
    result = _locked_pass(config, plugins, progress, kind, interactive)
    plugins.pass_finished(PassEvent(kind, config, interactive, result.run_id or None, tuple(result.summaries),
                                    result.exit_code, result.store_failure))
    return result


def _locked_pass(config: Config, plugins: Plugins, progress: Progress | None, kind: PassKind,
                 interactive: bool) -> RunResult:
    try:
        store = Store(config.store_location)
    except StoreFailure as exc:
        return RunResult(0, [], EXIT_STORE, exc.reason)
    try:
        with store.exclusive():
            return asyncio.run(_watched_pass(config, plugins, store, progress, kind, interactive))
    except StoreFailure as exc:
        return RunResult(0, [], EXIT_STORE, exc.reason)
    finally:
        store.close()


async def _watched_pass(config: Config, plugins: Plugins, store: Store, progress: Progress | None, kind: PassKind,
                        interactive: bool) -> RunResult:
    live: list[TenantSummary] = []

    def started(summaries: list[TenantSummary]) -> None:
        live[:] = summaries

    with progress(lambda: live) if progress else nullcontext():
        return await run_pass(config, plugins, store, on_start=started, kind=kind, interactive=interactive)
