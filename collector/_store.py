"""The embedded store: a directory a person can browse, with the SQLite catalog at its root.

    <store>/catalog.sqlite                       the catalog (see _catalog)
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.<ext>              verified audio
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.transcript.json    transcript
    <store>/.quarantine/<source>/<tenant>/<name>.<ext>             downloads that failed checks
    <store>/.tmp/                                scratch space for atomic writes (emptied per run)
    <store>/.lock                                held by the one run writing the store

File names come from `safe_name`, dates from the recording's UTC start. Catalog calls run on one
dedicated thread so the event loop never waits on SQLite and transactions never interleave.

Every failure of the store itself (a full disk, a permission, a read-only mount, a damaged or newer
catalog) becomes one `StoreFailure` whose message names the store, what failed and the free
space left; the first one is kept in `failure`, and downloads everywhere stop when it is set.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._catalog import Catalog
from ._errors import RunError, StoreFailure
from ._files import move_into_place, recording_dir, safe_name, safe_segment, store_path, write_atomic
from ._model import Recording, Transcript

T = TypeVar("T")

CATALOG_NAME = "catalog.sqlite"


_FULL = 1024 * 1024
"""Below this much free space, a write error is read as "the disk is full" (SQLite may say "disk I/O")."""
_FREE_MARGIN = 64 * 1024 * 1024
"""Space a download must leave free on the store's disk (the catalog must still be writable)."""


class StoreBusy(RunError):
    """Another run holds the store's lock."""


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def describe_store_error(root: Path, exc: BaseException, what: str = "failed") -> str:
    """One sentence for a failure of the store: what happened, where, the free space, what to do."""
    try:
        available = shutil.disk_usage(root if root.exists() else root.parent).free
        free = f"{_size(available)} free"
    except OSError:
        available, free = None, "free space unknown"
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    full = available is not None and available < _FULL and ("disk i/o error" in text or isinstance(exc, OSError))
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text or full:
        problem, hint = "is full", "Free some space and run again"
    elif code in (errno.EACCES, errno.EPERM) or "readonly database" in text or "read-only" in text:
        problem, hint = "cannot be written (permission denied or read-only)", "Check the store's owner and mount"
    elif code == errno.EROFS:
        problem, hint = "is on a read-only file system", "Mount it read-write"
    elif isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        problem, hint = "has a damaged catalog", "Restore catalog.sqlite from a backup"
    else:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        problem, hint = f"{what} ({detail})", "Check the disk and the store's folder"
    return (f"The store {root} {problem} ({free}); downloads stop for this run and nothing counts against any "
            f"recording. {hint}.")


class GroupCommit(Generic[T]):
    """Catalog writes that arrive together are committed together: one transaction, one fsync.

    While one batch commits on the store's thread, whatever arrives waits and joins the next, so
    under load (hundreds of downloads finishing a second) the catalog's fsyncs stop growing with
    the downloads, and when idle an item still commits at once. Each caller's `submit` returns
    once its own item is committed (or raises the batch's `StoreFailure`).
    """

    def __init__(self, store: Store, commit: Callable[[list[T]], None]) -> None:
        self._store = store
        self._commit = commit
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Commit `item` with whatever else is waiting; return once it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._store.call(self._commit, [item for item, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - every waiter gets the batch's failure
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class Store:
    """A store directory: its catalog, its files, and the lock that keeps runs from overlapping."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root.resolve()
        self.temp_dir = self.root / ".tmp"
        self.failure: StoreFailure | None = None
        """The first failure of the store in this run (downloads stop once it is set)."""
        try:
            if not read_only:
                root.mkdir(parents=True, exist_ok=True)
            self.catalog = Catalog(self.root / CATALOG_NAME, read_only=read_only)
        except RunError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise self.failed(exc, "cannot be opened") from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog")
        self.stored_audio = GroupCommit(self, self.catalog.audio_stored_many)
        """Verified downloads recorded in the catalog in groups (see `GroupCommit`)."""

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a catalog (or file) operation on the store's worker thread; a failure of the store
        itself raises `StoreFailure`."""
        return await self.call_in(self._executor, function, *args, **kwargs)

    async def call_in(self, executor: Executor, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a file operation on `executor` (a pool of the machine's); errors as for `call`."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, partial(function, *args, **kwargs))
        except (OSError, sqlite3.Error) as exc:
            raise self.failed(exc) from None

    def failed(self, exc: BaseException, what: str = "failed") -> StoreFailure:
        """A `StoreFailure` describing `exc` (kept as the run's first failure of the store)."""
        failure = StoreFailure(describe_store_error(self.root, exc, what))
        if self.failure is None:
            self.failure = failure
        return failure

    def check_free_space(self, needed: int) -> None:
        """Refuse to start a download of `needed` bytes that cannot fit on the store's disk."""
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return
        if needed + _FREE_MARGIN > free:
            failure = StoreFailure(
                f"The store {self.root} has {_size(free)} free, not enough for a download the vendor announces "
                f"as {_size(needed)} (plus {_size(_FREE_MARGIN)} kept free); downloads stop for this run and "
                "nothing counts against any recording. Free some space and run again.")
            if self.failure is None:
                self.failure = failure
            raise failure

    def close(self) -> None:
        """Finish pending work and close the catalog."""
        self._executor.shutdown(wait=True)
        self.catalog.close()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store's lock for a run; raise StoreBusy if another process holds it."""
        try:
            handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the duration
        except OSError as exc:
            raise self.failed(exc, "cannot be locked") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"Another collector run is using the store {self.root}; try again later.") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self.clean_temp()
            yield
        finally:
            handle.close()

    def clean_temp(self) -> None:
        """Delete scratch files left by a run that was killed (only called while holding the lock)."""
        if self.temp_dir.is_dir():
            for leftover in self.temp_dir.iterdir():
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)

    # -- layout ----------------------------------------------------------------------------------

    def audio_relpath(self, recording: Recording, extension: str) -> Path:
        """Where a recording's audio goes, relative to the store root."""
        return recording_dir(recording.key, recording.start) / f"{safe_name(recording.vendor_id)}{extension}"

    def transcript_relpath(self, recording: Recording) -> Path:
        """Where a recording's transcript goes, relative to the store root."""
        return recording_dir(recording.key, recording.start) / f"{safe_name(recording.vendor_id)}.transcript.json"

    def quarantine_relpath(self, recording: Recording, extension: str) -> Path:
        """Where a rejected download is kept for inspection, relative to the store root."""
        key = recording.key
        return Path(".quarantine", safe_segment(key.source), safe_segment(key.tenant),
                    f"{safe_name(key.vendor_id)}{extension}")

    def absolute(self, relative: Path) -> Path:
        """The absolute path of a store-relative path, refusing anything outside the store."""
        return store_path(self.root, relative)

    # -- file operations (run them with `call`) -----------------------------------------------------

    def place(self, temp: Path, relative: Path) -> None:
        """Move a finished temporary file to its place in the store, atomically."""
        move_into_place(temp, self.absolute(relative))

    def write_transcript(self, recording: Recording, transcript: Transcript) -> tuple[Path, str, int]:
        """Write a transcript file atomically; returns its store-relative path, sha256 and size."""
        relative = self.transcript_relpath(recording)
        document = {
            "source": recording.source,
            "tenant": recording.tenant,
            "vendor_id": recording.vendor_id,
            **transcript.model_dump(mode="json"),
        }
        data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")
        write_atomic(self.absolute(relative), data, self.temp_dir)
        return relative, hashlib.sha256(data).hexdigest(), len(data)
