"""One tenant's job in a run: metadata, audio downloads and transcripts, pipelined.

Three kinds of task run side by side for a tenant:

- the metadata task pulls pages from `Source.sync` (one page fetched ahead while the previous one
  commits), maps them with `Source.parse` (bad items are quarantined) and commits each page with
  its sync state in one transaction;
- download workers claim due audio from the catalog (left over from earlier runs first, then what
  the metadata task has just committed) and fetch it;
- a transcript worker does the same for transcripts, in the source's batch size.

The catalog is the only queue: whatever is claimed but not finished when the process dies is
still pending in the catalog and is picked up by the next run. Errors are handled by class (see
`_errors`): an item error touches one item, a tenant error stops this tenant (or only its
downloads), and nothing here can stop another tenant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._catalog import Rejected, now_utc
from ._download import download_audio
from ._errors import (
    AuthenticationError,
    CollectorError,
    DownloadsStopped,
    HTTPError,
    ItemDeferred,
    ItemError,
    ItemRejected,
    ItemUnavailable,
    RunError,
    TenantError,
    classify_http_error,
)
from ._hookspecs import StoredEvent
from ._http import HttpClient, RequestStats
from ._model import Recording, Transcript, TranscriptState
from ._plugins import Plugins
from ._ratelimit import SlidingWindowLimiter
from ._redact import redact
from ._source import Page, Source, SourceContext, SourceSettings
from ._store import Store
from ._summary import TenantStatus, TenantSummary

log = logging.getLogger("collector.job")

_CLAIM_BATCH = 32
_IDLE_RECHECK = 1.0


class _WorkFeed:
    """Hands out claimed catalog items to workers; waits for the metadata task when empty."""

    def __init__(self, claim: Callable[[], Awaitable[list[Recording]]], metadata_done: asyncio.Event,
                 work_added: asyncio.Event) -> None:
        self._claim = claim
        self._metadata_done = metadata_done
        self._work_added = work_added
        self._buffer: list[Recording] = []
        self._lock = asyncio.Lock()

    async def next_batch(self, size: int) -> list[Recording]:
        """Up to `size` due items; an empty list once metadata is done and nothing is due."""
        async with self._lock:
            while not self._buffer:
                finished = self._metadata_done.is_set()
                self._work_added.clear()
                self._buffer = await self._claim()
                if self._buffer:
                    break
                if finished:
                    return []
                try:
                    await asyncio.wait_for(self._work_added.wait(), _IDLE_RECHECK)
                except TimeoutError:
                    pass
            batch, self._buffer = self._buffer[:size], self._buffer[size:]
            return batch


class TenantJob:
    """Collects one `[[sources]]` entry for one run and reports a `TenantSummary`."""

    def __init__(self, settings: SourceSettings, source_cls: type[Source], store: Store, plugins: Plugins,
                 run_id: int) -> None:
        self.settings = settings
        self.source_cls = source_cls
        self.store = store
        self.plugins = plugins
        self.run_id = run_id
        self.summary = TenantSummary(source=settings.plugin, tenant=settings.tenant)
        self.log = logging.LoggerAdapter(log, {"source": settings.plugin, "tenant": settings.tenant})
        self.stats = RequestStats()
        self._limiter = SlidingWindowLimiter(settings.rate_limit or source_cls.default_rate_limit)
        self._clients: list[HttpClient] = []
        self._metadata_done = asyncio.Event()
        self._work_added = asyncio.Event()
        self._downloads_stopped: str | None = None
        self._egress_reserved = 0  # announced bytes of downloads in progress (see _check_budget)
        self._egress_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the job ---------------------------------------------------------------------------------

    async def run(self) -> TenantSummary:
        """Run the tenant's job to the end; never raises (a failure is in the summary)."""
        summary = self.summary
        summary.phase = "starting"
        source: Source | None = None
        try:
            context = SourceContext(
                source=self.settings.plugin, tenant=self.settings.tenant, http_factory=self._http_client,
                log=self.log, audit=self._audit,
            )
            source = self.source_cls(self.settings, context)
            await self.store.call(
                self.store.catalog.queue_missing_work, self.settings.plugin, self.settings.tenant,
                audio=self.settings.audio, transcripts=self.settings.transcripts,
                transcript_wait=self.settings.transcript_wait,
            )
            await self._run_tasks(source)
        except RunError as exc:
            summary.problem(exc.reason, TenantStatus.FAILED)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not take other tenants down
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
            summary.retried += self.stats.retries
            await self._count_leftovers()
            summary.settle()
        return summary

    async def _run_tasks(self, source: Source) -> None:
        self.summary.phase = "running"
        self._tasks = [asyncio.create_task(self._metadata(source), name="metadata")]
        if self.settings.audio:
            feed = _WorkFeed(
                lambda: self.store.call(
                    self.store.catalog.claim_audio, self.settings.plugin, self.settings.tenant, self.run_id,
                    _CLAIM_BATCH, self.settings.max_attempts,
                ),
                self._metadata_done, self._work_added,
            )
            self._tasks += [
                asyncio.create_task(self._downloads(source, feed), name=f"download-{i}")
                for i in range(self.settings.download_workers)
            ]
        if self.settings.transcripts:
            self._tasks.append(asyncio.create_task(self._transcripts(source), name="transcripts"))
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    def _halt(self, error: CollectorError) -> None:
        """Stop every task of this tenant (credentials refused, store unusable)."""
        self.summary.problem(error.reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def _http_client(self, base_url: str, auth: Any) -> HttpClient:
        client = HttpClient(
            base_url, limiter=self._limiter, retry=self.settings.retry, timeout=self.settings.timeout,
            max_in_flight=self.settings.max_in_flight, auth=auth, stats=self.stats,
        )
        self._clients.append(client)
        return client

    async def _audit(self, key: Any, action: str, detail: str) -> None:
        await self.store.call(self.store.catalog.audit, key, action, redact(detail))

    # -- metadata --------------------------------------------------------------------------------

    async def _metadata(self, source: Source) -> None:
        try:
            state = await self.store.call(self.store.catalog.load_state, self.settings.plugin, self.settings.tenant)
            # Fetching runs one page ahead; mapping page n+1 while page n commits was measured
            # slower (the two threads then fight over the GIL), so a page is mapped and committed
            # before the next is mapped.
            async for page in _prefetch(source.sync(state)):
                await self._commit(source, page)
        except AuthenticationError as exc:
            self._halt(exc)
        except HTTPError as exc:
            error = classify_http_error(exc, item=False)
            if isinstance(error, AuthenticationError):
                self._halt(error)
            else:
                self.summary.problem(f"Metadata collection stopped: {error.reason}")
        except TenantError as exc:
            self.summary.problem(f"Metadata collection stopped: {exc.reason}")
        finally:
            self._metadata_done.set()
            self._work_added.set()

    async def _commit(self, source: Source, page: Page) -> None:
        recordings, rejects = self._parse(source, page.items)
        counts = await self.store.call(
            self.store.catalog.commit_page, self.settings.plugin, self.settings.tenant, recordings, rejects,
            page.state, audio=self.settings.audio, transcripts=self.settings.transcripts,
            transcript_wait=self.settings.transcript_wait,
        )
        self.summary.new_recordings += counts.new
        self.summary.updated_recordings += counts.updated
        self.summary.quarantined += counts.quarantined
        for reject in rejects:
            self.log.warning("Quarantined a %s item: %s", self.summary.label, reject.reason)
        if counts.new or counts.updated:
            self._work_added.set()
        if counts.new and self.plugins.wants_stored_events:
            for recording in recordings:
                if recording.vendor_id in counts.new_ids:
                    self.plugins.recording_stored(StoredEvent("metadata", recording))

    def _parse(self, source: Source, items: Iterable[Mapping[str, Any]]) -> tuple[list[Recording], list[Rejected]]:
        recordings: list[Recording] = []
        rejects: list[Rejected] = []
        expected = (self.settings.plugin, self.settings.tenant)
        for item in items:
            try:
                parsed = list(source.parse(item))
                for recording in parsed:
                    if (recording.source, recording.tenant) != expected:
                        raise ValueError(f"the plugin labelled a recording {recording.source}/{recording.tenant}")
            except Exception as exc:  # noqa: BLE001 - any mapping failure quarantines the item
                rejects.append(Rejected(_item_id(source, item), redact(describe_error(exc)), item))
            else:
                recordings.extend(parsed)
        return recordings, rejects

    # -- audio -----------------------------------------------------------------------------------

    async def _downloads(self, source: Source, feed: _WorkFeed) -> None:
        while self._downloads_stopped is None:
            batch = await feed.next_batch(1)
            if not batch:
                return
            await self._download(source, batch[0])

    async def _download(self, source: Source, recording: Recording) -> None:
        reserved = 0
        try:
            reserved = await self._reserve_budget(recording)
            stored = await download_audio(
                source, recording, self.store, attempts=self.settings.retry.attempts, on_retry=self._count_retry
            )
        except DownloadsStopped as exc:
            self._stop_downloads(exc)
        except AuthenticationError as exc:
            self._halt(exc)
        except HTTPError as exc:
            await self._item_failed("audio", recording, classify_http_error(exc, item=True))
        except ItemError as exc:
            await self._item_failed("audio", recording, exc)
        except (RunError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected error costs one attempt, not the run
            self.log.exception("Unexpected error downloading %s", recording.key)
            await self._item_failed("audio", recording, ItemDeferred(describe_error(exc)))
        else:
            self.summary.audio_files += 1
            self.summary.audio_bytes += stored.size
            if self.plugins.wants_stored_events:
                self.plugins.recording_stored(StoredEvent("audio", recording, path=Path(stored.path)))
        finally:
            self._egress_reserved -= reserved

    async def _reserve_budget(self, recording: Recording) -> int:
        """Check the egress budget and reserve this download's announced size; returns the reservation.

        Bytes of downloads still in progress count against the budget too, so concurrent workers
        cannot overshoot it together. The reservation is dropped when the download ends (the
        catalog's egress table then holds what was really transferred).
        """
        budget = self.settings.egress_budget
        if budget is None:
            return 0
        size = recording.media_size or 0
        async with self._egress_lock:
            since = now_utc() - timedelta(days=budget.days)
            used = await self.store.call(
                self.store.catalog.egress_since, self.settings.plugin, self.settings.tenant, since)
            if used + self._egress_reserved + size >= budget.bytes:
                raise DownloadsStopped(
                    f"The egress budget is used up: {used:,} of {budget.bytes:,} bytes in the last "
                    f"{budget.days:g} days; the remaining audio waits for a later run."
                )
            self._egress_reserved += size
        return size

    def _stop_downloads(self, error: DownloadsStopped) -> None:
        if self._downloads_stopped is None:
            self._downloads_stopped = error.reason
            self.summary.problem(f"Downloads stopped: {error.reason}")
            self.log.warning("Downloads for %s stopped: %s", self.summary.label, error.reason)

    def _count_retry(self) -> None:
        self.summary.retried += 1

    async def _item_failed(self, kind: str, recording: Recording, error: CollectorError) -> None:
        """Record an item-level failure in the catalog and the summary."""
        catalog = self.store.catalog
        key = recording.key
        reason = redact(error.reason)
        if isinstance(error, AuthenticationError):
            self._halt(error)
        elif isinstance(error, DownloadsStopped):
            self._stop_downloads(error)
        elif isinstance(error, ItemUnavailable):
            self.summary.unavailable += 1
            if kind == "audio":
                await self.store.call(catalog.audio_unavailable, key, reason)
            else:
                await self.store.call(catalog.transcript_not_ready, key, final=True)
        elif isinstance(error, ItemRejected):
            self.summary.quarantined += 1
            if kind == "transcript":
                await self.store.call(catalog.transcript_rejected, key, reason, error.payload)
            self.log.warning("Quarantined %s of %s: %s", kind, key, reason)
        else:
            defer = catalog.audio_deferred if kind == "audio" else catalog.transcript_deferred
            final = await self.store.call(defer, key, reason, self.settings.max_attempts)
            if final:
                self.summary.failed += 1
            self.log.warning("Could not fetch %s of %s: %s", kind, key, reason)

    # -- transcripts -----------------------------------------------------------------------------

    async def _transcripts(self, source: Source) -> None:
        feed = _WorkFeed(
            lambda: self.store.call(
                self.store.catalog.claim_transcripts, self.settings.plugin, self.settings.tenant, self.run_id,
                max(_CLAIM_BATCH, source.transcript_batch_size),
            ),
            self._metadata_done, self._work_added,
        )
        while batch := await feed.next_batch(max(1, source.transcript_batch_size)):
            try:
                results = await source.fetch_transcripts(batch)
            except AuthenticationError as exc:
                self._halt(exc)
                return
            except (HTTPError, ItemError) as exc:
                error = classify_http_error(exc, item=True) if isinstance(exc, HTTPError) else exc
                for recording in batch:
                    await self._item_failed("transcript", recording, error)
                continue
            for recording in batch:
                await self._store_transcript(recording, results.get(recording.vendor_id, TranscriptState.NOT_READY))

    async def _store_transcript(self, recording: Recording, result: Any) -> None:
        catalog = self.store.catalog
        if isinstance(result, Transcript):
            path = await self.store.call(self.store.write_transcript, recording, result)
            await self.store.call(catalog.transcript_stored, recording.key, str(path), len(result.segments))
            self.summary.transcripts += 1
            if self.plugins.wants_stored_events:
                self.plugins.recording_stored(StoredEvent("transcript", recording, path=path))
        elif isinstance(result, ItemError):
            await self._item_failed("transcript", recording, result)
        elif result is TranscriptState.NONE:
            await self.store.call(catalog.transcript_not_ready, recording.key, final=True)
        else:
            await self.store.call(catalog.transcript_not_ready, recording.key, final=False)
            self.summary.transcripts_awaited += 1

    # -- end of job ------------------------------------------------------------------------------

    async def _count_leftovers(self) -> None:
        try:
            counts = await self.store.call(self.store.catalog.work_counts, self.settings.plugin, self.settings.tenant)
        except Exception:  # noqa: BLE001 - the summary must still be produced
            return
        deferred = 0
        if self.settings.audio:
            deferred += counts.get("audio_pending", 0)
        if self.settings.transcripts:
            deferred += counts.get("transcripts_pending", 0)
        self.summary.deferred = deferred
        self.summary.held_recordings = counts.get("recordings", 0)


async def _prefetch(pages: AsyncIterator[Page], depth: int = 1) -> AsyncIterator[Page]:
    """Iterate `pages` while fetching up to `depth` pages ahead (fetch overlaps commit)."""
    queue: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for page in pages:
                await queue.put(page)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(exc)
            return
        await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        await _quietly(task)


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 - cleanup must not mask the real outcome
        pass


def describe_error(exc: BaseException) -> str:
    """A sentence for a mapping or validation failure, never including the offending input."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in error['loc']) or 'item'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:5]
        ]
        return "The item does not map to a recording: " + "; ".join(parts) + "."
    if isinstance(exc, CollectorError):
        return exc.reason
    text = str(exc) or "no detail"
    return f"The item does not map to a recording: {type(exc).__name__}: {text}."


def _item_id(source: Source, item: Any) -> str | None:
    """The item's id for the quarantine listing, if the source can tell it."""
    try:
        return source.item_id(item)
    except Exception:  # noqa: BLE001 - the item is bad already; an id is a nicety
        return None
