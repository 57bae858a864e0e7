"""The catalog's database: SQLite (a file) or PostgreSQL (a server), transactions, and migrations.

Every schema change ships a migration (see `_schema.MIGRATIONS`) and is tested by opening a
catalog written by the previous version (`tests/fixtures/catalog-v*.sql`). A catalog is migrated
when a run opens it for writing, each migration in its own transaction; a catalog written by a
newer collector is refused with a clear message instead of being guessed at. On PostgreSQL the
version lives in a one-row table `catalog_version` and migrations hold an advisory lock, so
workers starting together migrate once.

The queries of the catalog's mixins are written once and run on both (see `_dialect` for what
differs); `self._db` is the connection they use: sqlite3's own, or `PostgresConnection`, which
has the same `execute`/`executemany` shape.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector._base._errors import RunError

from ._dialect import POSTGRES, SQLITE, Dialect, postgres_ddl
from ._postgres import PostgresConnection, PostgresTarget
from ._schema import LATEST, MIGRATIONS, statements

_MIGRATION_LOCK = 0x636F6C6C  # "coll": the advisory lock PostgreSQL migrations hold
_STORE_LOCK = 0x72756E73  # "runs": held by a `collector run` (exclusive) or a worker (shared)


class CatalogVersionError(RunError):
    """The catalog was written by a newer recording-collector than this one."""


class Database:
    """The connection behind a catalog; mixins add the queries of each job."""

    def __init__(self, target: Path | PostgresTarget, *, read_only: bool = False) -> None:
        self.target = target
        self.read_only = read_only
        self._db: Any
        self.dialect: Dialect
        if isinstance(target, PostgresTarget):
            self.dialect = POSTGRES
            self._db = PostgresConnection(target, read_only=read_only)
            self.errors: tuple[type[BaseException], ...] = (sqlite3.Error, *self._db.errors)
        else:
            self.dialect = SQLITE
            self._db = self._open_sqlite(target, read_only)
            self.errors = (sqlite3.Error,)
        version = self.schema_version()
        if version > LATEST:
            self._db.close()
            raise CatalogVersionError(
                f"The catalog {self.where} was written by a newer recording-collector (schema {version}; this one "
                f"knows up to {LATEST}). Upgrade recording-collector to read or write this store."
            )
        if version < LATEST and not read_only:
            self._migrate()

    @staticmethod
    def _open_sqlite(path: Path, read_only: bool) -> sqlite3.Connection:
        if read_only:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=5)
        else:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @property
    def where(self) -> str:
        """The catalog's file, or its server's DSN without the password (for messages)."""
        return str(self.target)

    @property
    def path(self) -> Path:
        """The SQLite catalog's file (only for an embedded store)."""
        assert isinstance(self.target, Path), "a PostgreSQL catalog has no file"
        return self.target

    def schema_version(self) -> int:
        """The catalog's schema version (0 for a new catalog)."""
        if self.dialect is SQLITE:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if self._db.execute("SELECT to_regclass('catalog_version')").fetchone()[0] is None:
            return 0
        row = self._db.execute("SELECT version FROM catalog_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        for target, sql in MIGRATIONS:
            with self._transaction() as db:
                if self.dialect is POSTGRES:
                    db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
                    db.execute("CREATE TABLE IF NOT EXISTS catalog_version (version INTEGER NOT NULL)")
                if target <= self.schema_version():
                    continue  # applied already (by another worker, on PostgreSQL)
                for statement in statements(sql):
                    db.execute(postgres_ddl(statement) if self.dialect is POSTGRES else statement)
                self._after_migration(db, target)
                if self.dialect is POSTGRES:
                    db.execute("DELETE FROM catalog_version")
                    db.execute("INSERT INTO catalog_version VALUES (?)", (target,))
                else:
                    db.execute(f"PRAGMA user_version={target}")

    def _after_migration(self, db: Any, version: int) -> None:
        """What a migration needs beyond SQL, in its transaction (a mixin's, e.g. starting the chain)."""

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _transaction(self, *tenants: tuple[str, str]) -> Iterator[Any]:
        """One transaction; `tenants` are the (source, tenant) pairs whose rows it writes, handed to
        `_before_writes` first (the cluster's lease check, see `_cluster`)."""
        self._db.execute("BEGIN IMMEDIATE" if self.dialect is SQLITE else "BEGIN")
        try:
            self._before_writes(tenants)
            yield self._db
        except BaseException:
            try:
                self._db.execute("ROLLBACK")
            except self.errors:  # the connection or the disk that failed cannot roll back either
                pass
            raise
        self._db.execute("COMMIT")

    def _before_writes(self, tenants: Sequence[tuple[str, str]]) -> None:
        """What must hold, inside the transaction, before it writes rows of `tenants` (nothing here)."""

    def _stream(self, sql: str, params: Sequence[Any], batch: int) -> Iterator[tuple[Any, ...]]:
        """Every row of a read-only query, fetched `batch` at a time (memory stays flat)."""
        if self.dialect is POSTGRES:
            yield from self._db.stream(sql, params, batch)
            return
        cursor = self._db.cursor()
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield from rows

    def lock_store(self, *, shared: bool = False) -> bool:
        """Take the PostgreSQL store's run lock without waiting: exclusive for a `collector run`,
        shared for a worker (workers coordinate per tenant). True if taken."""
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        return bool(self._db.execute(f"SELECT {function}(?)", (_STORE_LOCK,)).fetchone()[0])

    def unlock_store(self, *, shared: bool = False) -> None:
        """Release what `lock_store` took."""
        function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        self._db.execute(f"SELECT {function}(?)", (_STORE_LOCK,))

    def lost(self, exc: BaseException) -> bool:
        """Whether `exc` means the connection to the database server is gone (PostgreSQL only)."""
        return self.dialect is POSTGRES and self._db.lost(exc)

    def reconnect(self) -> None:
        """Connect to the database server again (after `lost`)."""
        self._db.reconnect()

    def reconnect_quietly(self, exc: BaseException) -> None:
        """After `exc`, connect again if it means the server connection is gone; a failure is left
        for the next use to find (callers that must not wait: leases, the shared rate-limit ledger)."""
        if self.lost(exc):
            try:
                self._db.reconnect()
            except self.errors:
                pass

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query: for tests and `collector.testing`, which read what a finished run left.
        The collector itself runs no SQL outside this package (`tests/test_layering.py` checks)."""
        return list(self._db.execute(sql, params).fetchall())
