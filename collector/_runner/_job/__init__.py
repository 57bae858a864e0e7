"""One tenant's job in a run: a metadata task, a download task and a transcript task, side by side.

- `_metadata`: pages from `Source.sync`, mapped and committed with their state;
- `_revisits`: beside the listing, parents whose children come later are visited until they settle;
- `_downloads`: workers claim due audio, within the egress budget, and fetch it (`_fetch_audio`),
  one recording at a time or in the vendor's batches (`_batches`);
- `_transcripts`: claims due transcripts in the source's batch size and fetches them;
- `_reconcile`: once the listing has completed, asks the vendor's own count of settled days;
- `_retention`: afterwards, stored objects' locks follow the vendor's changed retention and holds.

They share a `JobContext`; whatever goes wrong with an item becomes an outcome in one place
(`_outcome.settle_item`). An item error touches one item, a tenant error stops this tenant (or
only its downloads), and nothing here can stop another tenant. `TenantJob.run` never raises: a
failure is in the summary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from collector._base._errors import CollectorError, RunError
from collector._base._redact import redact
from collector._http._client import HttpClient, Traffic
from collector._http._quotas import RoutePause
from collector._sources._source import Source, SourceContext, SourceSettings, implements
from collector._storage._catalog import WorkPlan
from collector._storage._store import Store

from .._machine import Machine
from .._plugins import Plugins
from .._summary import TenantStatus, TenantSummary
from ._context import JobContext
from ._downloads import run_downloads
from ._metadata import run_metadata
from ._reconcile import run_reconcile
from ._retention import apply_retention_changes
from ._revisits import run_revisits
from ._transcripts import run_transcripts

log = logging.getLogger("collector.job")


class TenantLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A tenant's logger: every record carries `source` and `tenant`, and keeps its own `extra` fields."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Merge the tenant's fields with the call's."""
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class TenantJob:
    """Collects one `[[sources]]` entry for one run and reports a `TenantSummary`."""

    def __init__(self, settings: SourceSettings, source_cls: type[Source], store: Store, plugins: Plugins,
                 run_id: int, machine: Machine) -> None:
        self.settings = settings
        self.source_cls = source_cls
        self.store = store
        self.plugins = plugins
        self.run_id = run_id
        self.machine = machine
        self.summary = TenantSummary(source=settings.plugin, tenant=settings.tenant)
        self.log = TenantLog(log, {"source": settings.plugin, "tenant": settings.tenant})
        self.traffic = Traffic(
            settings.rate_limit or source_cls.default_rate_limit,
            max_in_flight=settings.max_in_flight or source_cls.default_max_in_flight,
            retry=settings.retry, timeout=settings.timeout, account=source_cls.account_key(settings),
            connections=machine.connections, log=self.log,
            route_limits=source_cls.route_limits(settings),
        )
        self.plan = WorkPlan(audio=settings.audio, transcripts=settings.transcripts,
                             media_wait=settings.media_wait, transcript_wait=settings.transcript_wait,
                             revisit_interval=source_cls.default_revisit_interval if settings.revisit_interval is None
                             else settings.revisit_interval)
        self._clients: list[HttpClient] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._halted = False

    async def run(self) -> TenantSummary:
        """Run the tenant's job to the end; never raises (a failure is in the summary)."""
        summary = self.summary
        summary.phase = "starting"
        source: Source | None = None
        try:
            restart = await self.store.call(self.store.catalog.restart_from, self.settings.plugin,
                                            self.settings.tenant)
            context = SourceContext(source=self.settings.plugin, tenant=self.settings.tenant,
                                    http_factory=self._http_client, log=self.log, audit=self._audit,
                                    restart_from=restart)
            await self._load_route_pauses()
            source = self.source_cls(self.settings, context)
            await self.store.call(self.store.catalog.queue_missing_work, self.settings.plugin, self.settings.tenant,
                                  self.plan)
            await self.store.call(self.store.catalog.expire_waits, self.settings.plugin, self.settings.tenant)
            await self._run_tasks(source)
        except RunError as exc:
            summary.problem(exc.reason, TenantStatus.FAILED)
        except CollectorError as exc:
            summary.problem(exc.reason)
        except Exception as exc:  # a plugin bug must not take other tenants down
            self.log.exception("The %s job failed", summary.label)
            summary.problem(redact(f"The job failed: {type(exc).__name__}: {exc}"), TenantStatus.FAILED)
        finally:
            if source is not None:
                summary.notes.extend(n for n in source.context.notes if n not in summary.notes)
                for warning in source.context.warnings:
                    summary.problem(warning, TenantStatus.PARTIAL)
                await _quietly(source.aclose())
            for client in self._clients:
                await _quietly(client.aclose())
            stats = self.traffic.stats
            summary.retried += stats.retries
            summary.requests, summary.throttled = stats.requests, stats.throttled
            summary.bandwidth_limited = stats.statuses.get(509, 0)
            summary.waited_seconds = round(self.traffic.waited, 3)
            summary.notes.extend(pause.sentence() for pause in self.traffic.pauses.in_force())
            await self._count_leftovers()
            summary.settle()
        return summary

    async def _run_tasks(self, source: Source) -> None:
        self.summary.phase = "running"
        job = JobContext(settings=self.settings, source=source, store=self.store, plugins=self.plugins,
                         run_id=self.run_id, summary=self.summary, log=self.log, halt=self.stop, plan=self.plan,
                         machine=self.machine, revisits=implements(source, "children"),
                         rate_bound=lambda: self.traffic.rate_bound)
        work: list[Coroutine[Any, Any, None]] = [run_metadata(job), run_reconcile(job)]
        if job.revisits:
            work.append(run_revisits(job))
        if self.settings.audio:
            work.append(run_downloads(job))
        if self.settings.transcripts:
            work.append(run_transcripts(job))
        self._tasks = [asyncio.create_task(coroutine) for coroutine in work]
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        if self.store.failure is None and not self._halted:
            await apply_retention_changes(job)

    async def _load_route_pauses(self) -> None:
        """Honour the routes earlier runs found paused by the vendor's quota; record new pauses at once."""
        catalog, plugin, tenant = self.store.catalog, self.settings.plugin, self.settings.tenant
        self.traffic.pauses.load(await self.store.call(catalog.route_pauses, plugin, tenant))

        async def record(pause: RoutePause) -> None:
            await self.store.call(catalog.pause_route, plugin, tenant, pause.route, pause.until, pause.reason)

        self.traffic.pauses.on_pause = record

    def stop(self, error: CollectorError) -> None:
        """Stop every task of this tenant (its credentials were refused, or its lease passed to another worker)."""
        self._halted = True
        self.summary.problem(error.reason)
        self.log.warning("%s stopped: %s", self.summary.label, error.reason,
                         extra={"event": "tenant_stopped", "reason": error.reason})
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def _http_client(self, base_url: str, auth: Any, headers: dict[str, str] | None) -> HttpClient:
        client = HttpClient(base_url, self.traffic, auth=auth, headers=headers)
        self._clients.append(client)
        return client

    async def _audit(self, key: Any, action: str, detail: str) -> None:
        await self.store.call(self.store.catalog.audit, key, action, redact(detail))

    async def _count_leftovers(self) -> None:
        try:
            counts = await self.store.call(self.store.catalog.leftovers, self.settings.plugin, self.settings.tenant)
        except Exception:  # noqa: BLE001 - the summary must still be produced
            return
        kinds = [table for table, wanted in (("audio", self.settings.audio), ("transcripts", self.settings.transcripts))
                 if wanted]
        self.summary.deferred = sum(counts.get(f"{table}_pending", 0) for table in kinds)
        self.summary.waiting = sum(counts.get(f"{table}_waiting", 0) for table in kinds)
        self.summary.failed_total = sum(counts.get(f"{table}_{status}", 0) for table in kinds
                                        for status in ("failed", "lost"))
        self.summary.held_recordings = counts.get("recordings", 0)


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 - cleanup must not mask the real outcome
        pass
