"""Fetching one recording's audio: stream to a temporary file, hash, verify, place or quarantine.

Memory stays flat whatever the file size, and the steps overlap: chunks are gathered into blocks of
`_BLOCK` bytes, and each block's chunks are written (`os.writev`: never joined into a copy on the
event loop) and hashed on the machine's file pool (on two threads at once) while the next block
arrives (one block in flight, so at most two are held); every 32 MB the kernel is asked to start
writing the file to the disk, so the final fsync has little left to do. The temporary file is
created when the
first bytes arrive, not while the request waits for its rate-limit slot. Then one job on the
verification pool (one thread per core) writes the last block, fsyncs, verifies (`probe_audio`:
container checks or a full decode) and renames the file into the store or into quarantine; one
job, because each hand-over to a thread costs about 0.1 ms of CPU here, and most bodies are one
block. Only then is the catalog told, in a group commit with the other downloads that finished
meanwhile (`Store.stored_audio`). A body that is not intact audio is reported as a
`QuarantinedDownload`. A connection that breaks mid-body, or a body too slow to keep its pace
limits (`_pace`), is retried within the run with the tenant's backoff policy, then left for the
next run. The download is opened by `Source.open_audio`, or by an `opener` the caller gives (a
vendor's batch job hands out one per recording: see `_batches`), asked again for each attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx

from collector._base._errors import ItemDeferred, ItemRejected
from collector._base._model import Recording
from collector._base._redact import redact
from collector._base._time import iso, now_utc
from collector._http._bulk import body_chunks
from collector._http._client import Custody, backoff_delay, custody_of
from collector._http._custody import AnnouncedDigest, announced_digests
from collector._sources._source import AudioExpectation, Source
from collector._storage import _proof as proof
from collector._storage._audio import AudioRejected, file_extension, probe_audio, sniff_container
from collector._storage._catalog import StoredAudio
from collector._storage._objects import Retention, retention_for
from collector._storage._store import Store

from .._machine import Machine
from ._pace import PaceGuard, TransferAbandoned

R = TypeVar("R")

_BLOCK = 1 << 20
_IOV_MAX = 1024
"""Chunks per `os.writev` call (Linux's IOV_MAX)."""
_WRITEBACK = 32 << 20
"""Bytes written after which their writeback to the disk is started (large downloads only)."""
_SNIFF_EXTENSIONS = {"ogg": ".ogg", "wav": ".wav", "mp3": ".mp3", "flac": ".flac", "mp4": ".mp4"}

Opener = Callable[[], Awaitable[AbstractAsyncContextManager[httpx.Response]]]
"""Opens one attempt at a download: what `Source.open_audio` returns, asked for anew each attempt."""


class QuarantinedDownload(ItemRejected):
    """A download that is not intact audio, kept at `kept_at` (store-relative) for inspection."""

    def __init__(self, reason: str, kept_at: str, size: int, sha256: str) -> None:
        super().__init__(reason)
        self.kept_at = kept_at
        self.size = size
        self.sha256 = sha256


class _Sink:
    """A body on its way to a temporary file: the chunks of each block written (`os.writev`, never
    joined into one copy) and hashed on `pool` (the two at once, on two threads) while the next
    block arrives."""

    def __init__(self, directory: Path, pool: Executor) -> None:
        self._directory = directory
        self._pool = pool
        self._digest = hashlib.sha256()
        self._fd: int | None = None
        self._chunks: list[bytes] = []
        self._gathered = 0
        self._pending: list[asyncio.Future[None]] = []
        self._written = 0
        self._flushing = 0
        self.path: Path | None = None
        self.size = 0

    def _open(self) -> int:
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._directory, suffix=".part")
        self.path = Path(name)
        return fd

    def _write(self, chunks: list[bytes]) -> None:
        if self._fd is None:
            self._fd = self._open()
        for start in range(0, len(chunks), _IOV_MAX):
            batch = chunks[start:start + _IOV_MAX]
            total = sum(map(len, batch))
            done = os.writev(self._fd, batch)
            if done < total:  # a short write (a signal, a full disk): the rest, until it raises
                rest = memoryview(b"".join(batch))[done:]
                while rest:
                    rest = rest[os.write(self._fd, rest):]
            self._written += total
        if self._written - self._flushing >= _WRITEBACK:
            # Start writing the last blocks to the disk now (the kernel does it in the background),
            # so the fsync at the end has little left to wait for and the page cache stays small.
            os.posix_fadvise(self._fd, self._flushing, self._written - self._flushing, os.POSIX_FADV_DONTNEED)
            self._flushing = self._written

    def _hash(self, chunks: list[bytes]) -> None:
        update = self._digest.update
        for chunk in chunks:
            update(chunk)  # releases the GIL for chunks over 2 KiB

    def _finish(self, chunks: list[bytes]) -> str:
        self._write(chunks)  # opens the file even for an empty body, which the checks then reject
        self._hash(chunks)
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self._digest.hexdigest()

    async def _settled(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            await future

    async def add(self, chunk: bytes) -> None:
        """Take a chunk of the body; a full block goes to the pool once the previous one is done."""
        self._chunks.append(chunk)
        self._gathered += len(chunk)
        self.size += len(chunk)
        if self._gathered >= _BLOCK:
            chunks, self._chunks, self._gathered = self._chunks, [], 0
            await self._settled()
            loop = asyncio.get_running_loop()
            self._pending = [loop.run_in_executor(self._pool, self._write, chunks),
                             loop.run_in_executor(self._pool, self._hash, chunks)]

    async def finish(self, pool: Executor, then: Callable[[Path, str], R]) -> R:
        """Write what is left, fsync and close the file, then run `then(path, sha256)`: one job on
        `pool`, so a small body costs one hand-over to a thread, not three."""
        await self._settled()
        chunks, self._chunks = self._chunks, []

        def finish_then() -> R:
            sha256 = self._finish(chunks)
            assert self.path is not None
            return then(self.path, sha256)

        return await asyncio.get_running_loop().run_in_executor(pool, finish_then)

    async def discard(self) -> None:
        """Wait for any write in flight, then close and delete the file (unless it was moved away)."""
        for future in self._pending:
            try:
                await asyncio.shield(future)
            except Exception:  # noqa: BLE001 - the write's own error has been raised already
                pass
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _Mismatch(AudioRejected):
    """The file is not what the vendor said it is (size or checksum)."""


async def fetch_audio(source: Source, recording: Recording, store: Store, machine: Machine, *, attempts: int,
                      on_retry: Callable[[], None], pace: PaceGuard, opener: Opener | None = None,
                      rate_bound: Callable[[], bool] = lambda: False) -> StoredAudio:
    """Download, verify and store one recording's audio, or raise an error saying why not.

    Each attempt is opened by `opener()` when given, else by `source.open_audio(recording)`.
    `rate_bound()` says whether the tenant is held by its rate limit now, so that the catalog
    commit may wait a moment to share its transaction (`GroupCommit`).

    HTTP errors raised while opening the download propagate unchanged for the job to classify; a
    failure of our own disk raises `StoreFailure` (it never counts against the recording). The
    bytes of a transfer that breaks off (or is abandoned by `pace` as too slow) are metered as the
    vendor meters them: every byte that arrived, including those still in the HTTP client's
    buffer. An abandoned transfer is tried again only while the tenant's downloads go on.
    """
    if recording.media_size:
        store.check_free_space(recording.media_size)
    for attempt in range(1, attempts + 1):
        opened: httpx.Response | None = None
        sink = _Sink(store.temp_dir, machine.file_pool)
        try:
            download = await opener() if opener is not None else source.open_audio(recording)
            async with download as response:
                opened = response
                content_type = response.headers.get("content-type")
                custody = custody_of(response)
                async for chunk in pace.watch(body_chunks(response), recording.vendor_id):
                    await sink.add(chunk)
            lock = retention_for(source.settings.object_lock_days, recording.retain_until, recording.legal_hold)
            expect = source.expected_audio(recording)
            digests = announced_digests(response.headers, expect.checksum_header, partial=response.status_code == 206)
            settle = partial(_verify_and_place, expect, digests, recording, store, content_type, custody, sink.size,
                             lock)
            stored = await sink.finish(machine.verify_pool, settle)
            await store.stored_audio.submit((recording.key, stored), patient=rate_bound())
            return stored
        except OSError as exc:  # httpx wraps network errors in its own classes: this is our disk
            raise store.failed(exc) from None
        except (httpx.TransportError, httpx.StreamError, TransferAbandoned) as exc:
            metered = max(sink.size, opened.num_bytes_downloaded if opened is not None else 0)
            await store.call(store.catalog.record_egress, recording.key, metered)
            if isinstance(exc, TransferAbandoned):
                reason, retry = exc.reason, pace.may_retry()
            else:
                reason = redact(f"The download broke off after {sink.size} bytes ({type(exc).__name__}: {exc}).")
                retry = True
            if attempt == attempts or not retry:
                raise ItemDeferred(reason) from None
            on_retry()
            await asyncio.sleep(backoff_delay(attempt, source.settings.retry))
        finally:
            await sink.discard()
    raise AssertionError("unreachable")  # pragma: no cover


def _verify_and_place(expect: AudioExpectation, digests: list[AnnouncedDigest], recording: Recording, store: Store,
                      content_type: str | None, custody: Custody, size: int, retention: Retention | None, temp: Path,
                      sha256: str) -> StoredAudio:
    """Verify the finished file and move it into the store, or into quarantine (raising
    QuarantinedDownload). What proved it is recorded with it (see `collector._storage._proof`)."""
    try:
        checks = _vendor_checks(expect, digests, temp, sha256, size)
        probe = probe_audio(temp, content_type=content_type, expected_duration=expect.duration,
                            expected_channels=expect.channels, expected_sample_rate=expect.sample_rate,
                            expected_codec=expect.codec, duration_tolerance=expect.duration_tolerance,
                            duration_is_upper_bound=expect.duration_is_upper_bound)
    except AudioRejected as exc:
        with temp.open("rb") as head:
            extension = _SNIFF_EXTENSIONS.get(sniff_container(head.read(64)) or "", ".bin")
        kept = store.place(temp, store.quarantine_relpath(recording, extension), sha256, size)
        raise QuarantinedDownload(exc.reason, kept, size, sha256) from None
    checks |= probe.checks
    if expect.duration is not None:
        checks.add(proof.VENDOR_DURATION)
    if custody.framed:
        checks.add(proof.TRANSFER)
    key = store.place(temp, store.audio_relpath(recording, file_extension(probe)), sha256, size,
                      retention=retention)
    return StoredAudio(
        path=key, sha256=sha256, size=size, container=probe.container, codec=probe.codec,
        sample_rate=probe.sample_rate, channels=probe.channels, duration=probe.duration,
        evidence=proof.level_of(checks), checks=tuple(proof.ordered(checks)), fetched=iso(now_utc()),
        endpoint=custody.endpoint, request_id=custody.request_id, content_length=custody.content_length,
    )


def _vendor_checks(expect: AudioExpectation, digests: list[AnnouncedDigest], temp: Path, sha256: str,
                   size: int) -> set[str]:
    """The vendor's own statements about the file that it meets (size, checksum, the checksums
    the download's headers state); a file that contradicts one is not this recording, or not all
    of it, and is rejected."""
    checks: set[str] = set()
    computed = {"sha256": sha256}

    def digest_of(algorithm: str) -> str | None:
        """The file's digest in `algorithm` (sha256 as hashed on the way; any other read back once)."""
        if algorithm not in computed:
            found = _file_digest(temp, algorithm)
            if found is None:
                return None
            computed[algorithm] = found
        return computed[algorithm]

    if expect.size is not None:
        if expect.size != size:
            raise _Mismatch(f"The vendor announced {expect.size:,} bytes for this recording but {size:,} arrived, so "
                            "the download is incomplete or not this recording.")
        checks.add(proof.VENDOR_SIZE)
    if expect.checksum:
        algorithm, _, expected = expect.checksum.partition(":")
        algorithm = algorithm.strip().lower().replace("-", "")
        actual = digest_of(algorithm)
        if actual is None or not expected:
            raise _Mismatch(f"The vendor's checksum {redact(expect.checksum)[:40]!r} is not '<algorithm>:<hex>' with "
                            "an algorithm this machine knows, so the file cannot be checked against it.")
        if actual != expected.strip().lower():
            raise _Mismatch(f"The file's {algorithm} differs from the vendor's checksum, so it is not the recording "
                            "the vendor holds (or it was damaged on the way).")
        checks.add(proof.VENDOR_CHECKSUM)
    for digest in digests:
        if digest_of(digest.algorithm) != digest.hexdigest:
            raise _Mismatch(f"The file's {digest.algorithm} differs from the one the download's {digest.header} "
                            "header states, so it is not the file the vendor sent (or it was damaged on the way).")
        checks.add(proof.VENDOR_CHECKSUM)
    return checks


def _file_digest(path: Path, algorithm: str) -> str | None:
    """The file's digest in a hashlib algorithm other than sha256 (read back once), or None if unknown."""
    try:
        digest = hashlib.new(algorithm)
    except ValueError:
        return None
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
