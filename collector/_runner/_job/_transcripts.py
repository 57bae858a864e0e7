"""The transcript task: claim due transcripts in the source's batch size, fetch, store or settle."""

from __future__ import annotations

import asyncio

from collector._base._errors import ItemNotReady, ItemUnavailable
from collector._base._model import Recording, Transcript, TranscriptResult, TranscriptState
from collector._storage._catalog import TRANSCRIPT

from .._hookspecs import StoredEvent
from ._context import JobContext
from ._feed import WorkFeed
from ._outcome import settle_item

_NOT_READY = ItemNotReady("The vendor has not finished the transcript yet.")
_NONE = ItemUnavailable("The vendor has no transcript for this recording.")


async def run_transcripts(job: JobContext) -> None:
    """Fetch every due transcript of the tenant."""
    settings, source = job.settings, job.source
    size = max(1, source.transcript_batch_size)
    feed = WorkFeed(
        lambda: job.store.call(job.store.catalog.claim, TRANSCRIPT, settings.plugin, settings.tenant, job.run_id,
                               job.claim_size(size)),
        job.metadata_done, job.work_added,
    )
    try:
        while job.store.failure is None and (batch := await feed.next_batch(size)):
            try:
                results = await source.fetch_transcripts(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every outcome is decided in one place
                for recording in batch:
                    await settle_item(job, TRANSCRIPT, recording, exc)
                continue
            for recording in batch:
                await _store(job, recording, results.get(recording.vendor_id, TranscriptState.NOT_READY))
    finally:
        await feed.aclose()


async def _store(job: JobContext, recording: Recording, result: TranscriptResult) -> None:
    if isinstance(result, Transcript):
        store = job.store
        path, sha256, size = await store.call(store.write_transcript, recording, result)
        await store.call(store.catalog.transcript_stored, recording.key, str(path), len(result.segments), sha256,
                         size)
        job.summary.transcripts += 1
        if job.plugins.wants_stored_events:
            job.plugins.recording_stored(StoredEvent("transcript", recording, path=path))
        return
    if result is TranscriptState.NOT_READY:
        await settle_item(job, TRANSCRIPT, recording, _NOT_READY)
    elif result is TranscriptState.NONE:
        await settle_item(job, TRANSCRIPT, recording, _NONE)
    else:
        await settle_item(job, TRANSCRIPT, recording, result)
