"""The store: a catalog and the files it describes, on the embedded backends or the scale-out ones.

The embedded default is a directory a person can browse, with the SQLite catalog at its root:

    <store>/catalog.sqlite                       the catalog (see _catalog)
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.<ext>              verified audio
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.transcript.json    transcript
    <store>/.quarantine/<source>/<tenant>/<name>.<ext>             downloads that failed checks
    <store>/.tmp/                                scratch space for atomic writes (emptied per run)
    <store>/.lock                                held by the one run writing the store

With `[store.postgresql]` the catalog is a PostgreSQL database, and with `[store.s3]` the files are
objects in a bucket under the same keys (`_objects`); the folder then holds only `.tmp/` and
`.lock`. File names come from `safe_name`, dates from the recording's UTC start. Catalog calls run
on one dedicated thread so the event loop never waits on the database and transactions never
interleave; a PostgreSQL connection lost mid-run is opened again and the call made again (each
catalog call is one transaction), for `reconnect_seconds`.

Every failure of the store itself (a full disk, a permission, a read-only mount, a damaged or newer
catalog, a database or bucket that stays unreachable) becomes one `StoreFailure` whose message
names the store, what failed and the free space left; the first one is kept in `failure`, and
downloads everywhere stop when it is set.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

from collector._base._errors import RunError, StoreFailure
from collector._base._model import Recording, Transcript
from collector._base._time import now_utc

from ._catalog import Catalog, LeaseLost, PostgresTarget
from ._files import recording_dir, safe_name, safe_segment, store_path
from ._objects import BucketError, LocalObjects, Objects, Retention, S3Location, S3Objects

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")
P = ParamSpec("P")

CATALOG_NAME = "catalog.sqlite"


_FULL = 1024 * 1024
"""Below this much free space, a write error is read as "the disk is full" (SQLite may say "disk I/O")."""


def held(recording: Recording) -> bool:
    """Whether the vendor holds the recording (a legal hold, or a retention date still to come):
    its files are then never deleted or overwritten, by any command."""
    return recording.legal_hold or (recording.retain_until is not None and recording.retain_until > now_utc())


class StoreBusy(RunError):
    """Another run holds the store's lock."""


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _at(exc: BaseException) -> str:
    """Where an operating-system error happened (its file), for the operator to look at."""
    where = getattr(exc, "filename", None)
    return f" at {where}" if where else ""


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
    elif code == errno.EROFS:
        problem, hint = f"is on a read-only file system{_at(exc)}", "Mount it read-write"
    elif code in (errno.EACCES, errno.EPERM) or "readonly database" in text or "read-only" in text:
        problem = f"cannot be written (permission denied or read-only){_at(exc)}"
        hint = "Check the store's owner and mount"
    elif isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        problem, hint = "has a damaged catalog", "Restore catalog.sqlite from a backup"
    elif isinstance(exc, BucketError):
        problem = f"{what}: its S3 bucket did not answer as it should ({exc})"
        hint = ("Check the bucket's name and that it exists, the endpoint, the credentials and the network to it; "
                "the disk is not the problem")
        free = "the local folder is fine"
    elif type(exc).__module__.split(".")[0] == "psycopg":
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        problem = f"{what}: its PostgreSQL catalog did not answer as it should ({first})"
        hint = "Check that the database server answers (its host, port, credentials) and the network to it"
        free = "the local folder is fine"
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
    once its own item is committed (or raises the batch's `StoreFailure`). An item of a tenant
    whose lease passed to another worker (`tenant_of` names an item's tenant) fails alone with
    `LeaseLost`, and the rest of its batch is committed without it.

    A batch of `patient` items only (their callers have nothing to send before a while: their
    tenants wait for a rate-limit slot) waits up to `LINGER` for company first; any other item ends
    the wait. Tenants held to their limits finish downloads a few milliseconds apart, never together,
    so without it nearly every one was a transaction of its own: 50 such tenants at a 1 s window,
    CPU per request 3.04 -> 2.82 ms (bench/README.md, phase 3). A tenant that is not held by its
    limit commits at once as before: a linger for every item (2.70 -> 2.32 ms there) slowed a pass
    of two unlimited tenants by 13%, each download waiting for its commit.
    """

    LINGER = 0.005
    """Seconds a batch of patient items waits for company."""

    def __init__(self, store: Store, commit: Callable[[list[T]], None],
                 tenant_of: Callable[[T], tuple[str, str]]) -> None:
        self._store = store
        self._commit = commit
        self._tenant_of = tenant_of
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._hurry = False
        """An item waiting now may not linger."""
        self._wake: asyncio.Future[None] | None = None
        """Set while a batch lingers: completing it ends the wait."""

    async def submit(self, item: T, *, patient: bool = False) -> None:
        """Commit `item` with whatever else is waiting; return once it is committed. `patient`: the
        caller may wait `LINGER` longer (see the class docstring)."""
        import asyncio  # here, not at the top: `status` reads the store without an event loop

        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if not patient:
            self._hurry = True
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(None)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        import asyncio

        while self._waiting:
            if not self._hurry:
                self._wake = asyncio.get_running_loop().create_future()
                await asyncio.wait((self._wake,), timeout=self.LINGER)  # returns on either, raises on neither
                self._wake = None
            self._hurry = False
            batch, self._waiting = self._waiting, []
            try:
                await self._store.call(self._commit, [item for item, _ in batch])
            except LeaseLost as exc:
                # Only the tenant whose lease passed to another worker fails; the others go again.
                tenant_of = self._tenant_of
                for item, done in batch:
                    if tenant_of(item) == exc.tenant and not done.done():
                        done.set_exception(exc)
                self._waiting[:0] = [(item, done) for item, done in batch if tenant_of(item) != exc.tenant]
                continue
            except BaseException as exc:  # every waiter gets the batch's failure
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


@dataclass(frozen=True)
class StoreLocation:
    """Where a store's parts are: its folder, and its PostgreSQL catalog and S3 bucket if configured."""

    root: Path
    postgres: PostgresTarget | None = None
    s3: S3Location | None = None
    reconnect_seconds: float = 60.0
    min_free_bytes: int = 64 * 1024 * 1024
    """Space a download must leave free on the store's disk (`[store] min_free_bytes`): the catalog
    must still be writable."""

    @property
    def catalog_target(self) -> Path | PostgresTarget:
        """The catalog: the folder's SQLite file, or the PostgreSQL database."""
        return self.postgres or self.root / CATALOG_NAME

    def has_catalog(self) -> bool:
        """Whether a catalog can be there already (a new embedded store has no file yet)."""
        return self.postgres is not None or (self.root / CATALOG_NAME).is_file()

    def __str__(self) -> str:
        if self.postgres is None and self.s3 is None:
            return str(self.root)
        return f"catalog {self.catalog_target}, files {self.s3 or self.root}"


def _of_the_store(exc: BaseException) -> bool:
    """Whether opening a store failed for a reason of the store's own: its disk, its database or
    its bucket (the drivers are imported only when configured, so their errors go by module)."""
    return isinstance(exc, (OSError, sqlite3.Error)) or type(exc).__module__.split(".")[0] in ("psycopg", "obstore")


def read_only_catalog(location: StoreLocation) -> Catalog:
    """The store's catalog opened read-only (for `status`, `report`, `export`, a dry run): it never
    writes and never waits for a run's lock; a failure to open it is a `StoreFailure`."""
    try:
        return Catalog(location.catalog_target, read_only=True)
    except RunError:
        raise
    except Exception as exc:  # sqlite3 or psycopg: the store's own failure
        if _of_the_store(exc):
            raise StoreFailure(describe_store_error(location.root, exc, "cannot be read")) from None
        raise


class Store:
    """A store: its catalog, its files, and the lock that keeps runs from overlapping."""

    def __init__(self, root: Path | StoreLocation, *, read_only: bool = False, worker: str | None = None) -> None:
        location = root if isinstance(root, StoreLocation) else StoreLocation(root)
        self.location = location
        self.root = location.root.resolve()
        self.temp_dir = self.root / ".tmp" / safe_segment(worker) if worker else self.root / ".tmp"
        """Scratch space: a cluster worker has its own (see `shared`), since workers share the folder."""
        self.failure: StoreFailure | None = None
        """The first failure of the store in this run (downloads stop once it is set)."""
        self._errors: tuple[type[BaseException], ...] = (OSError, sqlite3.Error)
        try:
            if not read_only:
                self.root.mkdir(parents=True, exist_ok=True)
            self.catalog = Catalog(location.catalog_target, read_only=read_only)
            self._errors = (OSError, *self.catalog.errors)
            self.objects: Objects = (S3Objects(location.s3, self.temp_dir) if location.s3
                                     else LocalObjects(self.root, self.temp_dir))
            if isinstance(self.objects, S3Objects) and not read_only:
                self.objects.check()  # a wrong bucket is found now, not after the first download
        except RunError:
            raise
        except Exception as exc:  # sqlite3, psycopg or obstore: all are the store's own failures
            if _of_the_store(exc):
                raise self.failed(exc, "cannot be opened") from None
            raise
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog")
        self.stored_audio = GroupCommit(self, self.catalog.audio_stored_many, lambda item: (item[0][0], item[0][1]))
        """Verified downloads recorded in the catalog in groups (see `GroupCommit`)."""

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a catalog (or file) operation on the store's worker thread; a failure of the store
        itself raises `StoreFailure`.

        A lost PostgreSQL connection is opened again and the call made again, with backoff, for
        up to `reconnect_seconds`; then it is the store's failure like any other.
        """
        import asyncio  # see GroupCommit.submit

        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.location.reconnect_seconds
        pause = 0.2
        while True:
            try:
                return await loop.run_in_executor(self._executor, partial(function, *args, **kwargs))
            except self._errors as exc:
                if not self.catalog.lost(exc) or time.monotonic() + pause > deadline:
                    raise self.failed(exc) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
            try:
                await loop.run_in_executor(self._executor, self.catalog.reconnect)
            except self._errors:
                pass  # still down: the next attempt tries again

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
        margin = self.location.min_free_bytes
        if needed + margin > free:
            failure = StoreFailure(
                f"The store {self.root} has {_size(free)} free, not enough for a download the vendor announces "
                f"as {_size(needed)} plus the {_size(margin)} kept free ([store] min_free_bytes); downloads stop for "
                "this run and nothing counts against any recording. Free some space and run again"
                + (", or lower min_free_bytes on a small volume." if margin > needed else "."))
            if self.failure is None:
                self.failure = failure
            raise failure

    def close(self) -> None:
        """Finish pending work and close the catalog."""
        self._executor.shutdown(wait=True)
        self.catalog.close()

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the store's lock for a run; raise StoreBusy if another process holds it."""
        return self._held(shared=False)

    def shared(self) -> AbstractContextManager[None]:
        """Hold the store as one of a cluster's workers: a shared lock (workers run side by side;
        a `collector run` or `verify` holds it exclusively, and whoever comes second is told the
        store is busy). The worker's own scratch space (`Store(worker=...)`) is emptied now: only
        a worker of that name writes there."""
        return self._held(shared=True)

    @contextmanager
    def _held(self, *, shared: bool) -> Iterator[None]:
        try:
            handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the duration
        except OSError as exc:
            raise self.failed(exc, "cannot be locked") from None
        try:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = "A collector run" if shared else "Another collector run (or a cluster worker)"
                raise StoreBusy(f"{holder} is using the store {self.root}; try again later.") from None
            if not shared:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
            with self._catalog_lock(shared=shared):
                self.clean_temp()
                yield
        finally:
            handle.close()

    @contextmanager
    def _catalog_lock(self, *, shared: bool = False) -> Iterator[None]:
        """A PostgreSQL catalog is shared by machines: the run's lock is one in the database too."""
        if self.catalog.dialect.name != "postgresql":
            yield
            return
        try:
            taken = self.catalog.lock_store(shared=shared)
        except self._errors as exc:
            raise self.failed(exc, "cannot be locked") from None
        if not taken:
            raise StoreBusy(f"Another collector run or worker is using the store ({self.location}); try again later.")
        try:
            yield
        finally:
            try:
                self.catalog.unlock_store(shared=shared)
            except self._errors:
                pass  # the lock goes with the connection

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

    def place(self, temp: Path, relative: Path, sha256: str, size: int, *, retention: Retention | None = None) -> str:
        """Put a finished, verified temporary file into the store (see `Objects.put_file`); returns
        the key it is stored under, which the catalog records."""
        return self.objects.put_file(temp, str(relative), sha256, size, retention=retention)

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
        key = self.objects.put_bytes(str(relative), data, keep=held(recording))
        return Path(key), hashlib.sha256(data).hexdigest(), len(data)
