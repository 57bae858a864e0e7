"""The download task: workers claim due audio, keep within the egress budget, fetch and verify it.

`download_workers` workers share one feed of claimed items (left over from earlier runs first,
then what the metadata task has just committed). Before each download the egress budget is
checked, counting the announced size of downloads still in progress, so concurrent workers
cannot overshoot it together; the catalog's egress table then holds what was really transferred.
The workers also share one `PaceGuard`: bodies too slow for the source's pace limits are
abandoned, and a run of them stops the tenant's downloads (see `_pace`). A source that implements
`open_audio_batch` has each worker take the vendor's batch size of items at once (see `_batches`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from collector._base._model import Recording
from collector._base._time import iso
from collector._storage._catalog import AUDIO, StoredAudio

from .._hookspecs import StoredEvent
from ._batches import batch_size, download_batch, uses_batches
from ._context import JobContext
from ._egress import EgressBudget
from ._feed import WorkFeed
from ._fetch_audio import fetch_audio
from ._outcome import settle_item
from ._pace import PaceGuard, PaceLimits


async def run_downloads(job: JobContext) -> None:
    """Download every due audio file of the tenant with `download_workers` workers."""
    settings = job.settings
    size = job.claim_size(max(settings.download_workers, batch_size(job) if uses_batches(job) else 1))
    feed = WorkFeed(
        lambda: job.store.call(job.store.catalog.claim, AUDIO, settings.plugin, settings.tenant, job.run_id, size),
        job.metadata_done, job.work_added,
    )
    budget = EgressBudget(job)
    pace = PaceGuard(PaceLimits.of(settings), job.stop_downloads, lambda: job.may_fetch)
    try:
        await asyncio.gather(*(_worker(job, feed, budget, pace) for _ in range(settings.download_workers)))
    finally:
        await feed.aclose()
    if job.downloads_stopped is not None and job.store.failure is None:
        # Every item left waiting says why, and from when it can resume if that is known.
        resume = iso(job.downloads_resume_at) if job.downloads_resume_at else None
        await job.store.call(job.store.catalog.defer_pending, settings.plugin, settings.tenant,
                             f"Downloads stopped: {job.downloads_stopped}", resume)


async def _worker(job: JobContext, feed: WorkFeed, budget: EgressBudget, pace: PaceGuard) -> None:
    batches = uses_batches(job)
    size = batch_size(job) if batches else 1
    while job.may_fetch:
        batch = await feed.next_batch(size)
        if not batch:
            return
        if batches:
            await download_batch(job, budget, pace, batch, lambda recording, stored: _stored(job, recording, stored))
        else:
            await _download(job, budget, pace, batch[0])


async def _download(job: JobContext, budget: EgressBudget, pace: PaceGuard, recording: Recording) -> None:
    reserved = 0
    try:
        reserved = await budget.reserve(recording)
        stored = await fetch_audio(job.source, recording, job.store, job.machine, attempts=job.settings.retry.attempts,
                                   on_retry=job.summary.count_retry, pace=pace, rate_bound=job.rate_bound)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - every outcome is decided in one place
        await settle_item(job, AUDIO, recording, exc)
    else:
        _stored(job, recording, stored)
    finally:
        budget.settle(reserved)


def _stored(job: JobContext, recording: Recording, stored: StoredAudio) -> None:
    """Count a stored audio file and tell the plugins."""
    job.summary.audio_files += 1
    job.summary.audio_bytes += stored.size
    if job.plugins.wants_stored_events:
        job.plugins.recording_stored(StoredEvent("audio", recording, path=Path(stored.path)))
