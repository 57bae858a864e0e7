"""Fetching one recording's audio: stream to a temporary file, hash, verify, place or quarantine.

Memory stays flat whatever the file size: chunks go straight from the socket to the file and the
hash. The file is fsynced and probed (`probe_audio` decodes it to the end) before it is renamed
into the store, and only then is the catalog told; a body that is not intact audio is moved to
the quarantine folder and reported as a `QuarantinedDownload`. A connection that breaks mid-body
is retried within the run with the tenant's backoff policy, then left for the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx

from .._audio import AudioRejected, file_extension, probe_audio, sniff_container
from .._catalog import StoredAudio
from .._errors import ItemDeferred, ItemRejected
from .._files import finish_file, temp_file
from .._http import backoff_delay
from .._model import Recording
from .._redact import redact
from .._source import Source
from .._store import Store

_CHUNK = 1 << 16
_SNIFF_EXTENSIONS = {"ogg": ".ogg", "wav": ".wav", "mp3": ".mp3", "flac": ".flac", "mp4": ".mp4"}


class QuarantinedDownload(ItemRejected):
    """A download that is not intact audio, kept at `kept_at` (store-relative) for inspection."""

    def __init__(self, reason: str, kept_at: str, size: int) -> None:
        super().__init__(reason)
        self.kept_at = kept_at
        self.size = size


async def fetch_audio(source: Source, recording: Recording, store: Store, *, attempts: int,
                      on_retry: Callable[[], None]) -> StoredAudio:
    """Download, verify and store one recording's audio, or raise an error saying why not.

    HTTP errors raised while opening the download propagate unchanged for the job to classify; a
    failure of our own disk raises `StoreFailure` (it never counts against the recording). The
    bytes of a transfer that breaks off are metered as the vendor meters them: every byte that
    arrived, including those still in the HTTP client's buffer.
    """
    if recording.media_size:
        store.check_free_space(recording.media_size)
    for attempt in range(1, attempts + 1):
        received = 0
        opened: httpx.Response | None = None
        try:
            with temp_file(store.temp_dir) as (temp, handle):
                digest = hashlib.sha256()
                async with source.open_audio(recording) as response:
                    opened = response
                    content_type = response.headers.get("content-type")
                    async for chunk in response.aiter_bytes(_CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                await asyncio.to_thread(finish_file, handle)
                return await _verify_and_place(source, recording, store, temp, content_type,
                                               digest.hexdigest(), received)
        except OSError as exc:  # httpx wraps network errors in its own classes: this is our disk
            raise store.failed(exc) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            metered = max(received, opened.num_bytes_downloaded if opened is not None else 0)
            await store.call(store.catalog.record_egress, recording.key, metered)
            reason = redact(f"The download broke off after {received} bytes ({type(exc).__name__}: {exc}).")
            if attempt == attempts:
                raise ItemDeferred(reason) from None
            on_retry()
            await asyncio.sleep(backoff_delay(attempt, source.settings.retry))
    raise AssertionError("unreachable")  # pragma: no cover


async def _verify_and_place(source: Source, recording: Recording, store: Store, temp: Path,
                            content_type: str | None, sha256: str, size: int) -> StoredAudio:
    expect = source.expected_audio(recording)
    try:
        probe = await asyncio.to_thread(
            probe_audio, temp, content_type=content_type, expected_duration=expect.duration,
            expected_channels=expect.channels, expected_sample_rate=expect.sample_rate,
            expected_codec=expect.codec,
        )
    except AudioRejected as exc:
        with temp.open("rb") as head:
            extension = _SNIFF_EXTENSIONS.get(sniff_container(head.read(64)) or "", ".bin")
        relative = store.quarantine_relpath(recording, extension)
        await store.call(store.place, temp, relative)
        raise QuarantinedDownload(exc.reason, str(relative), size) from None
    relative = store.audio_relpath(recording, file_extension(probe))
    await store.call(store.place, temp, relative)
    stored = StoredAudio(
        path=str(relative), sha256=sha256, size=size, container=probe.container, codec=probe.codec,
        sample_rate=probe.sample_rate, channels=probe.channels, duration=probe.duration,
    )
    await store.call(store.catalog.audio_stored, recording.key, stored)
    return stored
