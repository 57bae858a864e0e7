"""The catalog's database: one SQLite connection, transactions, and the migration runner.

Every schema change ships a migration (see `_schema.MIGRATIONS`) and is tested by opening a
catalog written by the previous version (`tests/fixtures/catalog-v*.sql`). A catalog is migrated
when a run opens it for writing, each migration in its own transaction; a catalog written by a
newer collector is refused with a clear message instead of being guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._errors import RunError
from ._schema import LATEST, MIGRATIONS


class CatalogVersionError(RunError):
    """The catalog was written by a newer recording-collector than this one."""


class Database:
    """The SQLite connection behind a catalog; mixins add the queries of each job."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        if read_only:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=5)
        else:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        version = self.schema_version()
        if version > LATEST:
            self._db.close()
            raise CatalogVersionError(
                f"The catalog {path} was written by a newer recording-collector (schema {version}; this one "
                f"knows up to {LATEST}). Upgrade recording-collector to read or write this store."
            )
        if version < LATEST and not read_only:
            self._migrate(version)

    def schema_version(self) -> int:
        """The catalog's schema version (SQLite's user_version; 0 for a new file)."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, version: int) -> None:
        for target, migration in MIGRATIONS:
            if target <= version:
                continue
            with self._transaction() as db:
                migration(db)
                db.execute(f"PRAGMA user_version={target}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (tests, status, benchmarks)."""
        return self._db.execute(sql, params).fetchall()
