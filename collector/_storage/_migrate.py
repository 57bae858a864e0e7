"""`collector migrate-store`: move a store (an embedded one: SQLite catalog and a folder) into another
(PostgreSQL and S3, or any `StoreLocation`), resumably, verified, the source left as it was.

In order, each step safe to interrupt at any moment (SIGKILL included) and to run again:

1. **Open.** The source is read, never written. Its SQLite catalog is copied with SQLite's backup
   API into the target's scratch folder (`.tmp/`) and read there, so nothing appears beside it (a
   read-only connection to a WAL catalog leaves `-shm` and `-wal` files), and a catalog from an
   older release is migrated on that copy. The source's run lock is held (its `.lock` shared, or
   its PostgreSQL advisory lock), so no run or worker writes it meanwhile: they exit "busy". The
   target is opened for writing (created, migrated to the latest schema) under its own run lock.
   It must be empty, or hold an interrupted migration from this same source: a marker row in its
   `operations` (command `migrate-store`) names the source and a fingerprint of its contents (the
   row count of every table: every run and command adds a row), so a resumed migration is
   recognised, and a source changed since, or an unrelated catalog, is refused. The marker's id
   follows the source's own operations, whose ids are kept. When both stores share their folder,
   only its `.lock` and `.tmp/` are written.
2. **Objects.** Every file the source catalog names (stored audio and transcripts, quarantined
   items' copies) and everything under `.quarantine/` is streamed into a scratch file of the
   target, hashed on the way, and stored with `Objects.put_file` (which adopts an identical
   object: nothing doubles). A stored file that is not what its row says is not copied: it is
   reported, and its row is copied as it is, so `verify` on the target finds it missing and
   queues it to be fetched again. A stored file the target holds already (same size and sha256)
   is not read from the source again.
3. **Rows.** Only then every table of the schema (read from the migrations themselves, see
   `_catalog/_migration.py`, so a new table moves with no change here) is copied with its ids, a
   batch per transaction with `ON CONFLICT DO NOTHING`, so a resumed run skips what arrived (a
   table whose count matches already is not read); a table without a key is copied whole in one
   transaction. On PostgreSQL the identity sequences are then moved past the copied ids.
4. **Verify.** Row counts per table must match, and every stored file of the target's catalog must
   be in the target's objects with its size and (by default) its sha256, read back.

Memory stays flat: files go through in 1 MiB chunks, rows in batches read with cursors (only the
paths of unsettled items, quarantine copies, are held, to copy each once). Stores are named by
`str(StoreLocation)`, which shows no password or key; the secrets are registered with the redactor.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import chain, islice
from typing import TextIO, TypeVar

from collector._base._errors import CollectorError, ConfigError, StoreFailure
from collector._base._exits import EXIT_OK, EXIT_PARTIAL
from collector._base._redact import redact, register_secret
from collector._base._time import iso, now_utc

from ._catalog import SCHEMA_VERSION, Catalog, Table, schema_tables, snapshot_sqlite
from ._files import finish_file, temp_file
from ._objects import LocalObjects, Objects, S3Objects
from ._store import Store, StoreBusy, StoreLocation, read_only_catalog

T = TypeVar("T")
R = TypeVar("R")

_CHUNK = 1 << 20
_MARKER_TABLE = "operations"
_MARKER_COMMAND = "migrate-store"
_SNAPSHOT = "migrate-source-catalog.sqlite"


class MigrationRefused(ConfigError):
    """The migration cannot start: the target is not empty (nor an interrupted migration from this
    source), the source changed since an interrupted migration began, or both are the same store.
    Nothing was copied (a configuration problem: point `--to` at a new, empty store)."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


@dataclass(frozen=True)
class MigrationProblem:
    """Something the migration could not move or prove: a file (its key) or a table."""

    what: str
    """The object's key, or the table's name."""
    problem: str
    """missing, size, sha256, unreadable, elsewhere (stored beside another object) or rows."""
    detail: str
    """A whole sentence saying what was found and what it means."""


@dataclass(frozen=True)
class MigrationProgress:
    """How far a migration is, handed to the `progress` callback after each file, batch or check."""

    phase: str
    """"objects", "rows" or "verify"."""
    done: int
    """Files handled, rows handled or files verified so far in this phase."""
    total: int
    """How many there are in this phase."""
    bytes: int = 0
    """Bytes copied (objects) or read back (verify) so far."""
    table: str | None = None
    """The table being copied (rows)."""


@dataclass
class MigrationResult:
    """What a migration moved and proved; `complete` when nothing is left to report."""

    source: str
    target: str
    resumed: bool = False
    """The target held an interrupted (or finished) migration from this source: it was continued."""
    objects_copied: int = 0
    bytes_copied: int = 0
    objects_present: int = 0
    """Objects the target held already (an earlier, interrupted run stored them)."""
    objects_absent: int = 0
    """Files named by items that are not stored (a quarantine copy, the path of a re-queued item)
    that are not in the source: nothing to copy, and nothing the catalog promises."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per table in the source (and, once verified, in the target)."""
    rows_copied: dict[str, int] = field(default_factory=dict)
    """Rows per table this run inserted (the rest were there already)."""
    files_verified: int = 0
    bytes_verified: int = 0
    problems: list[MigrationProblem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every row and every stored file is in the target, proven."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 complete, 1 problems to look at (each one in `problems`)."""
        return EXIT_OK if self.complete else EXIT_PARTIAL


@dataclass(frozen=True)
class _File:
    path: str
    promised: bool
    """The catalog says the file is stored: it must be there, with `size` and `sha256` if known."""
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class _Copied:
    file: _File
    outcome: str  # copied, present, absent, problem
    size: int = 0
    problem: MigrationProblem | None = None


def migrate_store(source: StoreLocation, target: StoreLocation, *,
                  progress: Callable[[MigrationProgress], None] | None = None, verify_sha256: bool = True,
                  workers: int = 4, batch_rows: int = 1000) -> MigrationResult:
    """Copy the store at `source` into `target` and prove the copy (see the module docstring).

    Run it again after any interruption: it continues, and ends in the same state. `workers`
    files are copied (and read back) at once; `batch_rows` rows are committed per transaction.
    Raises `MigrationRefused` when the target is not this migration's, `StoreBusy` when a run
    holds either store, `StoreFailure` when either store fails (run it again once it is fixed).
    """
    for location in (source, target):
        register_secret(location.postgres.password if location.postgres else None)
        register_secret(location.s3.secret_access_key if location.s3 else None)
    source = replace(source, root=source.root.resolve())
    target = replace(target, root=target.root.resolve())
    if source.catalog_target == target.catalog_target:
        raise MigrationRefused(f"The source and the target are the same store ({source}); there is nothing to migrate.")
    if not source.has_catalog():
        raise MigrationRefused(f"There is no store at {source}: it has no catalog to migrate.")
    try:
        return _Migration(source, target, progress, verify_sha256, max(1, workers), max(1, batch_rows)).run()
    except CollectorError:
        raise
    except Exception as exc:
        if isinstance(exc, (OSError, sqlite3.Error)) or type(exc).__module__.split(".")[0] in ("psycopg", "obstore"):
            detail = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            raise StoreFailure(redact(
                f"The migration from {source} to {target} stopped: {detail}. Nothing in the source was changed; "
                "run the migration again to continue where it stopped.")) from None
        raise


class _Migration:
    """One run of `migrate_store`: the stores, the counts, and the result being built."""

    store: Store
    """The target."""
    catalog: Catalog
    """The source's catalog (a migrated copy of an embedded one)."""
    objects: Objects
    """The source's files."""
    label: str
    """What the marker row says about the source: its name, and tokens for the name and the contents."""

    def __init__(self, source: StoreLocation, target: StoreLocation,
                 progress: Callable[[MigrationProgress], None] | None, verify_sha256: bool, workers: int,
                 batch_rows: int) -> None:
        self.source, self.target = source, target
        self.progress = progress or (lambda _: None)
        self.verify_sha256, self.workers, self.batch_rows = verify_sha256, workers, batch_rows
        self.result = MigrationResult(str(source), str(target))
        self.tables = schema_tables()
        self.marker_id = 0
        self.bad_paths: set[str] = set()

    def run(self) -> MigrationResult:
        with ExitStack() as stack:
            store = Store(self.target)
            stack.callback(store.close)
            self.store = store
            stack.enter_context(store.exclusive())
            if self.source.root != self.target.root:  # a shared folder's lock is the target's, held above
                stack.enter_context(_shared_lock(self.source))
            store.temp_dir.mkdir(parents=True, exist_ok=True)
            self.catalog = stack.enter_context(self._source_catalog())
            self.objects = (S3Objects(self.source.s3, store.temp_dir) if self.source.s3
                            else LocalObjects(self.source.root, store.temp_dir))
            self.result.rows = {table.name: self._count(self.catalog, table) for table in self.tables}
            self._claim_target()
            self._copy_objects()
            self._copy_rows()
            self._verify()
            self._finish()
        return self.result

    # -- opening ---------------------------------------------------------------------------------

    @contextmanager
    def _source_catalog(self) -> Iterator[Catalog]:
        """The source's catalog: a migrated copy of its SQLite file, or its PostgreSQL database read-only."""
        if self.source.postgres is not None:
            catalog = read_only_catalog(self.source)
            try:
                if catalog.schema_version() != SCHEMA_VERSION:
                    raise MigrationRefused(
                        f"The catalog {catalog.where} is from an older recording-collector; the next `collector run` "
                        "on it migrates it. Run it once, then migrate the store.")
                if not catalog.lock_store():  # runs and workers are kept out as they keep each other out
                    raise StoreBusy(f"A collector run or worker is using the store {self.source}; migrate it when "
                                    "none is.")
                yield catalog
            finally:
                catalog.close()  # the lock goes with the connection
            return
        snapshot = self.store.temp_dir / _SNAPSHOT
        leftovers = [snapshot.with_name(snapshot.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
        try:
            for path in leftovers:
                path.unlink(missing_ok=True)
            snapshot_sqlite(self.source.root / "catalog.sqlite", snapshot)
            catalog = Catalog(snapshot)  # migrated to the latest schema here, on the copy
            try:
                yield catalog
            finally:
                catalog.close()
        finally:
            for path in leftovers:
                path.unlink(missing_ok=True)

    def _claim_target(self) -> None:
        """Find this migration's marker in the target, or check that the target is empty and place it."""
        target = self.store.catalog
        name = str(self.source)
        token = hashlib.sha256(name.encode()).hexdigest()[:16]
        contents = hashlib.sha256(json.dumps(self.result.rows, sort_keys=True).encode()).hexdigest()[:16]
        self.label = f"from {name} [source {token}, contents {contents}]"
        found = target.latest_operation(_MARKER_COMMAND, containing=f"[source {token}, ")
        if found:
            self.marker_id = found[0]
            if f"[source {token}, contents {contents}]" not in found[1]:
                raise MigrationRefused(
                    f"The source {name} changed since the interrupted migration into {self.target} began (a run or a "
                    "command wrote it); nothing more was copied. Migrate again into a new, empty target (a new "
                    "database and bucket), with no collector run using the source.")
            self.result.resumed = True
            return
        if target.fresh_chain():  # a new catalog's own genesis: the source's chain is copied in its place
            target.forget_fresh_chain()
        held = {table.name: count for table in self.tables if (count := self._count(target, table))}
        if held:
            summary = ", ".join(f"{table} {count:,}" for table, count in sorted(held.items()))
            other = target.latest_operation(_MARKER_COMMAND)
            origin = (f" It holds a migration {other[1].split(' [source ')[0]}." if other else "")
            raise MigrationRefused(
                f"The target {self.target} is not empty (rows: {summary}) and is not an interrupted migration from "
                f"{name}; nothing was copied.{origin} Migrate into a new, empty catalog and bucket.")
        self.marker_id = self.catalog.last_operation_id() + 1
        target.place_operation(self.marker_id, iso(now_utc()), _MARKER_COMMAND,
                               f"{self.label}: started, not finished yet")

    def _count(self, catalog: Catalog, table: Table) -> int:
        """Rows of a table (the target's marker, and the chain's events after the source's, not counted)."""
        if catalog is self.store.catalog and table.name == _MARKER_TABLE and self.marker_id:
            return catalog.row_count(table.name, except_id=self.marker_id)
        if catalog is self.store.catalog and table.name == "chain":
            return catalog.row_count(table.name, up_to_seq=self.catalog.chain_head()[0])
        return catalog.row_count(table.name)

    # -- objects ---------------------------------------------------------------------------------

    def _copy_objects(self) -> None:
        """Every file the source names, into the target's objects (before any row that points to it)."""
        promised = self.catalog.stored_file_count()
        others: dict[str, None] = {}
        for path, stored, _, _ in self.catalog.named_files(self.batch_rows):
            if not stored:
                others[path] = None
        for key in self.objects.keys(".quarantine/"):
            others[key] = None
        total, done = promised + len(others), 0
        files = (_File(path, True, size, sha) for path, stored, size, sha in self.catalog.named_files(self.batch_rows)
                 if stored)
        everything = chain(files, (_File(path, False, None, None) for path in others))

        def absorb(copied: _Copied) -> None:
            nonlocal done
            done += 1
            result = self.result
            if copied.outcome == "copied":
                result.objects_copied += 1
                result.bytes_copied += copied.size
            elif copied.outcome == "present":
                result.objects_present += 1
            elif copied.outcome == "absent":
                result.objects_absent += 1
            if copied.problem is not None:
                result.problems.append(copied.problem)
                self.bad_paths.add(copied.file.path)
            self.progress(MigrationProgress("objects", done, total, result.bytes_copied))

        _bounded(self.workers, everything, self._copy_one, absorb)

    def _copy_one(self, file: _File) -> _Copied:
        """Copy one file (on a worker thread); a file the source cannot give as promised is a problem."""
        target = self.store.objects
        if (file.promised and file.size is not None and file.sha256 is not None
                and target.holds(file.path, file.size, file.sha256)):
            return _Copied(file, "present")  # stored by an earlier run: the source need not be read again
        with temp_file(self.store.temp_dir) as (temp, handle):
            digest, size = hashlib.sha256(), 0
            try:
                for chunk in self.objects.chunks(file.path):
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            except FileNotFoundError:
                if not file.promised:
                    return _Copied(file, "absent")
                return _Copied(file, "problem", problem=MigrationProblem(
                    file.path, "missing", f"The catalog says {file.path} is stored, but the source has no such file; "
                    "its row is copied as it is, so `collector verify` on the target queues it to be fetched again."))
            except (OSError, ValueError) as exc:
                return _Copied(file, "problem", problem=MigrationProblem(
                    file.path, "unreadable", redact(f"{file.path} cannot be read from the source ({exc}); it was not "
                                                    "copied.")))
            sha256 = digest.hexdigest()
            if file.promised and ((file.size is not None and size != file.size)
                                  or (file.sha256 is not None and sha256 != file.sha256)):
                problem = "size" if file.size is not None and size != file.size else "sha256"
                what = (f"{size:,} bytes where the catalog says {file.size:,}" if problem == "size"
                        else "its sha256 is not the one the catalog recorded")
                return _Copied(file, "problem", problem=MigrationProblem(
                    file.path, problem, f"The source's {file.path} is damaged ({what}); it was not copied. Its row is "
                    "copied as it is, so `collector verify` on the target queues it to be fetched again."))
            if not file.promised and target.holds(file.path, size, sha256):
                return _Copied(file, "present")
            if isinstance(target, LocalObjects):
                finish_file(handle)
            else:
                handle.flush()
            try:
                stored_at = target.put_file(temp, file.path, sha256, size)
            except FileExistsError:
                return _Copied(file, "problem", problem=MigrationProblem(
                    file.path, "elsewhere", f"The target already holds other objects at {file.path} and beside it; "
                    "the file was not copied."))
        if stored_at != file.path:
            return _Copied(file, "problem", size, MigrationProblem(
                file.path, "elsewhere", f"The target already holds a different object at {file.path}; the file was "
                f"stored beside it at {stored_at}, but the catalog row points to {file.path}."))
        return _Copied(file, "copied", size)

    # -- rows ------------------------------------------------------------------------------------

    def _copy_rows(self) -> None:
        """Every table's rows, ids kept, a batch per transaction (a keyless table in one)."""
        total, done = sum(self.result.rows.values()), 0
        target = self.store.catalog
        for table in self.tables:
            wanted = self.result.rows[table.name]
            before = self._count(target, table)
            if before != wanted:
                rows = self.catalog.table_rows(table, self.batch_rows)
                if table.key:
                    for batch in _batches(rows, self.batch_rows):
                        target.insert_rows(table, batch)
                        done += len(batch)
                        self.progress(MigrationProgress("rows", done, total, table=table.name))
                else:  # nothing to tell a copied row from a new one: the whole table, or none of it
                    target.replace_rows(table, _batches(rows, self.batch_rows))
                    done += wanted
            else:
                done += wanted
            after = self._count(target, table)
            self.result.rows_copied[table.name] = (after - before) if table.key else (after if before != wanted else 0)
            self.progress(MigrationProgress("rows", done, total, table=table.name))
        target.advance_identities(self.tables)

    # -- verify ----------------------------------------------------------------------------------

    def _verify(self) -> None:
        """Row counts per table, then every stored file of the target's catalog in its objects."""
        target = self.store.catalog
        for table in self.tables:
            there, wanted = self._count(target, table), self.result.rows[table.name]
            if there != wanted:
                self.result.problems.append(MigrationProblem(
                    table.name, "rows",
                    f"The target's {table.name} has {there:,} rows where the source has {wanted:,}."))
        total = target.stored_file_count()
        done = 0
        files = (_File(path, True, size, sha) for path, size, sha in target.every_stored_file(self.batch_rows)
                 if path not in self.bad_paths)

        def absorb(checked: tuple[int, MigrationProblem | None]) -> None:
            nonlocal done
            done += 1
            self.result.files_verified += 1
            self.result.bytes_verified += checked[0]
            if checked[1] is not None:
                self.result.problems.append(checked[1])
            self.progress(MigrationProgress("verify", done, total, self.result.bytes_verified))

        _bounded(self.workers, files, self._check_one, absorb)

    def _check_one(self, file: _File) -> tuple[int, MigrationProblem | None]:
        """Bytes read back, and what is wrong with the target's copy of one stored file (None: intact)."""
        objects = self.store.objects
        try:
            size = objects.size(file.path)
        except ValueError as exc:
            return 0, MigrationProblem(file.path, "unreadable", f"The target cannot hold {file.path} ({exc}).")
        if size is None:
            return 0, MigrationProblem(file.path, "missing", f"The target has no object at {file.path}.")
        if file.size is not None and size != file.size:
            return 0, MigrationProblem(file.path, "size", f"The target's {file.path} has {size:,} bytes where the "
                                                          f"catalog says {file.size:,}.")
        if not self.verify_sha256 or file.sha256 is None:
            return 0, None
        if _sha256(objects.chunks(file.path)) != file.sha256:
            return size, MigrationProblem(file.path, "sha256", f"The target's {file.path} reads back with another "
                                                               "sha256 than the catalog's.")
        return size, None

    def _finish(self) -> None:
        """The marker says the migration finished, and what it found."""
        result = self.result
        detail = (f"{self.label}: finished {iso(now_utc())}: {sum(result.rows.values()):,} rows, "
                  f"{result.files_verified:,} stored files verified ({result.bytes_verified:,} bytes read back); "
                  f"{len(result.problems)} problem(s)")
        if not result.problems:  # the chain records where its files now are (copied verbatim, by key)
            self.store.catalog.append_event({"type": "migrated", "from": str(self.source), "to": str(self.target),
                                             "files": result.files_verified, "events": self.catalog.chain_head()[0]})
        self.store.catalog.set_operation_detail(self.marker_id, detail)


# -- helpers ---------------------------------------------------------------------------------------

@contextmanager
def _shared_lock(location: StoreLocation) -> Iterator[None]:
    """Hold the source folder's run lock shared (read-only): a `collector run` cannot start meanwhile."""
    lock = location.root / ".lock"
    if not lock.is_file():
        yield  # no run ever held this store
        return
    with lock.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusy(f"A collector run is using the store {location}; migrate it when no run is using "
                            "it.") from None
        yield


def _sha256(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _bounded(workers: int, items: Iterable[T], work: Callable[[T], R], absorb: Callable[[R], None]) -> None:
    """`work` on every item on `workers` threads, at most twice that many in flight (memory flat);
    `absorb` runs on this thread, once per result. The first failure stops the rest and is raised."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate")
    pending: set[Future[R]] = set()
    try:
        for item in items:
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    absorb(future.result())
            pending.add(pool.submit(work, item))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                absorb(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def render_migration(result: MigrationResult, out: TextIO, *, as_json: bool = False) -> None:
    """What a migration moved and proved: the totals, then every problem (or one JSON document)."""
    if as_json:
        json.dump({**asdict(result), "complete": result.complete, "exit_code": result.exit_code}, out, indent=2)
        out.write("\n")
        return
    out.write(f"Migrated {result.source} to {result.target}{' (continued)' if result.resumed else ''}: "
              f"{result.objects_copied:,} files copied ({result.bytes_copied:,} bytes), {result.objects_present:,} "
              f"there already; {sum(result.rows.values()):,} rows in {len(result.rows)} tables "
              f"({sum(result.rows_copied.values()):,} copied now); {result.files_verified:,} stored files verified "
              f"({result.bytes_verified:,} bytes read back).\n")
    out.writelines(f"{problem.problem}: {problem.detail}\n" for problem in result.problems)
    out.write("Complete: every row and every stored file is in the target.\n" if result.complete else
              f"{len(result.problems)} problem(s), listed above; the source is untouched.\n")


__all__ = [
    "MigrationProblem",
    "MigrationProgress",
    "MigrationRefused",
    "MigrationResult",
    "migrate_store",
    "render_migration",
]
