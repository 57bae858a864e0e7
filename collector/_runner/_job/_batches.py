"""Downloads in the vendor's batches: `Source.open_audio_batch` opens up to `audio_batch_size` at once.

For a source that implements `open_audio_batch`, each download worker takes up to the vendor's
batch size of due recordings from the feed and then, for that batch:

1. reserves each recording's announced size against the egress budget, in order, before anything
   is asked of the vendor: a recording the budget cannot hold stops the tenant's downloads, and
   only those reserved are submitted (and downloaded: the budget holds them, whichever worker
   found it full; any other reason to stop ends the batch too);
2. asks the plugin for the batch (`open_audio_batch`): one opener per recording, or the error that
   recording failed with (settled as any item's error is: `_outcome`); an error raised by the call
   counts for every recording of the batch;
3. downloads the recordings one after another through the same path as single downloads
   (`fetch_audio`: pace limits, the free-space check, verification, evidence, quarantine, egress
   metering), each reservation given back as soon as its download ends.

The vendor's URLs are short-lived, so openers are renewed by asking the plugin again, never for
more recordings than the batch held: before an opener is older than `audio_batch_lifetime` (less a
tenth of it, or one request's share of the rate limit and half a second if longer; at most half
of it or a minute), for it and every recording of the batch not started yet (issued
together, they expire together); when a download answers a status of `audio_batch_expired_on`,
likewise (at most `_RENEWALS` times per recording in a run; then it is left for the next run, an
attempt counted); and for a single recording whose transfer broke off and is tried again. Nothing is kept outside the
catalog: a run killed mid-batch leaves the batch's unfinished recordings due, and the next run
submits them again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx

from collector._base._errors import BadStatus, ItemDeferred
from collector._base._model import Recording
from collector._sources._source import implements
from collector._storage._catalog import AUDIO, StoredAudio

from ._context import JobContext
from ._egress import EgressBudget
from ._fetch_audio import fetch_audio
from ._outcome import settle_item
from ._pace import PaceGuard

_RENEWALS = 2
"""Times a recording's expired URL is renewed in one run before its status counts as usual."""
_MOST_MARGIN = timedelta(minutes=1)

Download = AbstractAsyncContextManager[httpx.Response]


def uses_batches(job: JobContext) -> bool:
    """Whether the job's source downloads in the vendor's batches (it implements `open_audio_batch`)."""
    return implements(job.source, "open_audio_batch")


def batch_size(job: JobContext) -> int:
    """The vendor's batch size (at least 1)."""
    return max(1, int(job.source.audio_batch_size))


class _Batch:
    """The openers a batch's answers handed out, when each was issued, and how often each was renewed."""

    def __init__(self, job: JobContext) -> None:
        self._job = job
        self._openers: dict[str, Download | Exception] = {}
        self._issued: dict[str, float] = {}
        self.renewals: Counter[str] = Counter()
        lifetime = job.source.audio_batch_lifetime
        # The check comes before the download waits for its rate-limit slot and the event loop: the
        # margin is a tenth of the lifetime, or one request's share of the rate limit plus half a
        # second of a busy machine's delays if that is longer (at most half the lifetime).
        limit = job.settings.rate_limit or type(job.source).default_rate_limit
        delays = timedelta(seconds=limit.per_seconds / limit.requests + 0.5)
        self._usable = None if lifetime is None else (
            lifetime - min(max(lifetime / 10, delays), lifetime / 2, _MOST_MARGIN)).total_seconds()

    async def ask(self, recordings: Sequence[Recording]) -> None:
        """Ask the plugin to open `recordings` (at most the batch size), replacing what it gave before."""
        if not recordings:
            return
        assert len(recordings) <= batch_size(self._job)
        try:
            answer: Any = await self._job.source.open_audio_batch(recordings)
            if not isinstance(answer, Mapping):
                raise TypeError(f"open_audio_batch returned {type(answer).__name__}, not a mapping of vendor ids")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - it counts for every recording asked for
            answer = {recording.vendor_id: exc for recording in recordings}
        issued = time.monotonic()
        for recording in recordings:
            value = answer.get(recording.vendor_id)
            if value is None:
                value = ItemDeferred("The plugin's batch answer had no download for this recording; it is asked "
                                     "for again on the next run.")
            elif not isinstance(value, Exception) and not hasattr(value, "__aenter__"):
                value = TypeError(f"open_audio_batch gave a {type(value).__name__} for a recording, neither an "
                                  "opener (an async context manager) nor an error")
            self._openers[recording.vendor_id] = value
            self._issued[recording.vendor_id] = issued

    def failure(self, recording: Recording) -> Exception | None:
        """The error the batch's answer gave for `recording`, if it gave one."""
        value = self._openers.get(recording.vendor_id)
        return value if isinstance(value, Exception) else None

    def unstarted(self, recordings: Sequence[Recording]) -> list[Recording]:
        """Those of `recordings` holding an opener not entered yet."""
        return [r for r in recordings if r.vendor_id in self._openers and self.failure(r) is None]

    async def take(self, recording: Recording, later: Sequence[Recording]) -> Download:
        """`recording`'s opener, asked for again (with the `later` ones not started) if it is too old to use."""
        issued = self._issued.get(recording.vendor_id)
        if self._usable is not None and issued is not None and time.monotonic() - issued >= self._usable:
            await self.ask([recording, *self.unstarted(later)])
        value = self._openers.pop(recording.vendor_id, None)
        if value is None:
            raise ItemDeferred("The plugin's batch answer had no download for this recording; it is asked for "
                               "again on the next run.")
        if isinstance(value, Exception):
            raise value
        return value


async def download_batch(job: JobContext, budget: EgressBudget, pace: PaceGuard, recordings: Sequence[Recording],
                         on_stored: Callable[[Recording, StoredAudio], None]) -> None:
    """Download one batch of due recordings (at most the vendor's batch size), as the module says."""
    reserved: dict[str, int] = {}
    try:
        for recording in recordings:
            try:
                reserved[recording.vendor_id] = await budget.reserve(recording)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the budget is used up: downloads stop
                await settle_item(job, AUDIO, recording, exc)
                break
        ready = [recording for recording in recordings if recording.vendor_id in reserved]
        if not ready or not job.may_finish_admitted:
            return
        batch = _Batch(job)
        await batch.ask(ready)
        for number, recording in enumerate(ready):
            if not job.may_finish_admitted:
                return  # the rest stays due (and its reservations are given back)
            try:
                await _download(job, pace, batch, recording, ready[number + 1:], on_stored)
            finally:
                budget.settle(reserved.pop(recording.vendor_id, 0))
    finally:
        for size in reserved.values():
            budget.settle(size)


async def _download(job: JobContext, pace: PaceGuard, batch: _Batch, recording: Recording,
                    later: Sequence[Recording], on_stored: Callable[[Recording, StoredAudio], None]) -> None:
    """One recording of a batch: its opener used once, renewed when it expired, asked for again to retry."""
    source = job.source
    if (failed := batch.failure(recording)) is not None:
        await settle_item(job, AUDIO, recording, failed)
        return
    while True:
        try:
            stored = await fetch_audio(source, recording, job.store, job.machine,
                                       attempts=job.settings.retry.attempts, on_retry=job.summary.count_retry,
                                       pace=pace, opener=_opener(batch, recording, later), rate_bound=job.rate_bound)
        except asyncio.CancelledError:
            raise
        except BadStatus as exc:
            if exc.status not in source.audio_batch_expired_on:
                await settle_item(job, AUDIO, recording, exc)
            elif batch.renewals[recording.vendor_id] < _RENEWALS:
                batch.renewals[recording.vendor_id] += 1  # its URL expired: ask again (with the ones after it)
                job.log.info("A %s batch download answered HTTP %s: asking for its URL again.", job.summary.label,
                             exc.status)
                await batch.ask([recording, *batch.unstarted(later)])
                continue
            else:
                await settle_item(job, AUDIO, recording, ItemDeferred(
                    f"{exc.reason} Its URL was asked for again {_RENEWALS} times in this run and refused each time; "
                    "it is tried again on the next run."))
        except Exception as exc:  # noqa: BLE001 - every outcome is decided in one place
            await settle_item(job, AUDIO, recording, exc)
        else:
            on_stored(recording, stored)
        return


def _opener(batch: _Batch, recording: Recording,
            later: Sequence[Recording]) -> Callable[[], Awaitable[Download]]:
    """`fetch_audio`'s opener: the batch's for the first attempt, a new one (asked for alone) for a retry."""
    attempts = 0

    async def open_download() -> Download:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            await batch.ask([recording])
        return await batch.take(recording, later)

    return open_download
