"""What `collector migrate-store` reads of one catalog and writes into another (the steps are in
`collector._storage._migrate`): every table of the schema, its rows in key order and batches of
them inserted with their ids; the files the catalog names; the marker row in `operations` by
which an interrupted migration is recognised and continued; and a copy of an embedded source's
SQLite file to read it from (`snapshot_sqlite`).

The tables are read from the migrations themselves (`schema_tables`), so a new table moves with no
change here. Table names are only ever those: nothing else is put into the SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._db import Database
from ._dialect import POSTGRES
from ._schema import MIGRATIONS, statements

_FILES = (
    "SELECT path, CASE WHEN status='stored' THEN 1 ELSE 0 END, size, sha256 FROM audio WHERE path IS NOT NULL "
    "UNION ALL SELECT path, CASE WHEN status='stored' THEN 1 ELSE 0 END, size, sha256 FROM transcripts "
    "WHERE path IS NOT NULL UNION ALL SELECT path, 0, NULL, NULL FROM quarantine WHERE path IS NOT NULL"
)
_STORED = ("SELECT path, size, sha256 FROM audio WHERE status='stored' AND path IS NOT NULL "
           "UNION ALL SELECT path, size, sha256 FROM transcripts WHERE status='stored' AND path IS NOT NULL")


@dataclass(frozen=True)
class Table:
    """One table of the catalog's schema, as a migration copies it."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    identity: str | None
    """The integer primary key (an identity column on PostgreSQL), if the table has one."""


@cache
def schema_tables() -> tuple[Table, ...]:
    """The catalog's tables at the latest schema, read from the migrations themselves."""
    db = sqlite3.connect(":memory:")
    try:
        for _, sql in MIGRATIONS:
            for statement in statements(sql):
                db.execute(statement)
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                              "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        tables = []
        for name in names:
            info = db.execute(f"PRAGMA table_info({name})").fetchall()  # cid, name, type, notnull, default, pk
            key = tuple(row[1] for row in sorted((row for row in info if row[5]), key=lambda row: row[5]))
            integer_key = len(key) == 1 and next(row[2] for row in info if row[1] == key[0]).upper() == "INTEGER"
            tables.append(Table(name, tuple(row[1] for row in info), key, key[0] if integer_key else None))
        return tuple(tables)
    finally:
        db.close()


def snapshot_sqlite(path: Path, into: Path) -> None:
    """Copy a SQLite catalog with the backup API, reading it without writing anything beside it.

    `immutable=1` opens it without the `-shm` file a read-only WAL connection would create; when
    a killed run left a WAL with content, the WAL must be read, so the catalog is opened read-only
    the ordinary way (its existing `-shm` is then used).
    """
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    source = sqlite3.connect(f"file:{quote(str(path))}?mode=ro{'' if pending else '&immutable=1'}", uri=True)
    try:
        copy = sqlite3.connect(into)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def _known(table: str) -> str:
    if table not in {known.name for known in schema_tables()}:
        raise ValueError(f"{table!r} is not a table of the catalog")
    return table


class MigrationCatalog(Database):
    """A catalog as `migrate-store` reads it (the source) and fills it (the target)."""

    # -- rows ------------------------------------------------------------------------------------

    def row_count(self, table: str, *, except_id: int | None = None, up_to_seq: int | None = None) -> int:
        """The rows of `table`: all of them, or all but the one whose `id` is `except_id` (a target's
        own marker in `operations`), or those whose `seq` is at most `up_to_seq` (the events of a
        target's `chain` that came from the source)."""
        name = _known(table)
        if except_id is not None:
            row = self._db.execute(f"SELECT COUNT(*) FROM {name} WHERE id<>?", (except_id,)).fetchone()
        elif up_to_seq is not None:
            row = self._db.execute(f"SELECT COUNT(*) FROM {name} WHERE seq<=?", (up_to_seq,)).fetchone()
        else:
            row = self._db.execute(f"SELECT COUNT(*) FROM {name}").fetchone()
        return int(row[0])

    def table_rows(self, table: Table, batch: int) -> Iterator[tuple[Any, ...]]:
        """Every row of `table`, its columns in schema order, by its key; fetched `batch` at a time."""
        select = f"SELECT {', '.join(table.columns)} FROM {_known(table.name)}" + (
            f" ORDER BY {', '.join(table.key)}" if table.key else "")
        return self._stream(select, (), batch)

    def insert_rows(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert `rows` of `table`, ids kept, in one transaction; a row whose key is there already is
        skipped (a resumed migration)."""
        with self._transaction() as db:
            db.executemany(self._insert(table), rows)

    def replace_rows(self, table: Table, batches: Iterable[Sequence[tuple[Any, ...]]]) -> None:
        """Replace every row of a table without a key by `batches`, in one transaction (nothing tells a
        copied row from a new one: the whole table, or none of it)."""
        with self._transaction() as db:
            db.execute(f"DELETE FROM {_known(table.name)}")
            for rows in batches:
                db.executemany(self._insert(table), rows)

    def advance_identities(self, tables: Iterable[Table]) -> None:
        """Move PostgreSQL's identity sequences past the ids copied in (SQLite needs nothing)."""
        if self.dialect is not POSTGRES:
            return
        with self._transaction() as db:
            for table in tables:
                if table.identity:
                    db.execute(f"SELECT setval(pg_get_serial_sequence('{_known(table.name)}', '{table.identity}'), "
                               f"COALESCE(MAX({table.identity}), 0) + 1, false) FROM {table.name}")

    @staticmethod
    def _insert(table: Table) -> str:
        columns = ", ".join(table.columns)
        return (f"INSERT INTO {_known(table.name)} ({columns}) VALUES ({', '.join('?' * len(table.columns))})"
                + (" ON CONFLICT DO NOTHING" if table.key else ""))

    # -- files -----------------------------------------------------------------------------------

    def named_files(self, batch: int) -> Iterator[tuple[str, bool, int | None, str | None]]:
        """Every file a row names: (path, stored, size, sha256) of stored and unsettled audio and
        transcripts, and the copies of quarantined items (never stored: no size or sha256)."""
        for path, stored, size, sha256 in self._stream(_FILES, (), batch):
            yield path, bool(stored), size, sha256

    def stored_file_count(self) -> int:
        """How many audio files and transcripts the catalog says are stored."""
        return int(self._db.execute(f"SELECT COUNT(*) FROM ({_STORED}) AS files").fetchone()[0])

    def every_stored_file(self, batch: int) -> Iterator[tuple[str, int | None, str | None]]:
        """(path, size, sha256) of every stored audio file and transcript, fetched `batch` at a time."""
        return self._stream(_STORED, (), batch)

    # -- the marker ------------------------------------------------------------------------------

    def latest_operation(self, command: str, containing: str | None = None) -> tuple[int, str] | None:
        """(id, detail) of the latest `operations` row of `command` (whose detail contains
        `containing`, if given), or None."""
        if containing is None:
            row = self._db.execute("SELECT id, detail FROM operations WHERE command=? ORDER BY id DESC LIMIT 1",
                                   (command,)).fetchone()
        else:
            row = self._db.execute("SELECT id, detail FROM operations WHERE command=? AND detail LIKE ? "
                                   "ORDER BY id DESC LIMIT 1", (command, f"%{containing}%")).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def last_operation_id(self) -> int:
        """The highest id in `operations` (0 when it has none)."""
        return int(self._db.execute("SELECT MAX(id) FROM operations").fetchone()[0] or 0)

    def place_operation(self, operation_id: int, at: str, command: str, detail: str) -> None:
        """Insert an `operations` row with the id given (a migration's marker, after the source's own)."""
        with self._transaction() as db:
            db.execute("INSERT INTO operations (id, at, command, source, tenant, detail) VALUES (?,?,?,NULL,NULL,?)",
                       (operation_id, at, command, detail))

    def set_operation_detail(self, operation_id: int, detail: str) -> None:
        """Rewrite what an `operations` row says (a migration's marker, once it finished)."""
        with self._transaction() as db:
            db.execute("UPDATE operations SET detail=? WHERE id=?", (detail, operation_id))
