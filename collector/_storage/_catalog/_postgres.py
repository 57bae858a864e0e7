"""The catalog's PostgreSQL connection, shaped like the sqlite3 one the catalog's queries use.

`PostgresConnection.execute`/`executemany` take the catalog's `?`-style SQL and parameters, and
return a cursor whose rows read back exactly what was written (see `_dialect`). The connection is
in autocommit mode; the catalog's transactions are explicit `BEGIN`/`COMMIT`, as on SQLite. A
connection that was lost (the server restarted) is opened again by `reconnect`; `Store` does that
and runs the catalog call again, which is safe because every catalog call is one transaction.

psycopg is imported here only, so the embedded default never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._dialect import from_postgres, postgres_sql, to_postgres


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL catalog lives: a libpq DSN (URL or key=value) and the password, if any,
    kept apart so the DSN can be shown."""

    dsn: str
    password: str | None = field(default=None, repr=False)
    settings: tuple[tuple[str, str], ...] = ()
    """Server settings for this connection's sessions, e.g. (("lock_timeout", "500ms"),)."""

    def __str__(self) -> str:
        parts = urlsplit(self.dsn)
        if parts.scheme not in ("postgres", "postgresql") or not parts.password:
            return self.dsn
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(from_postgres(value) for value in row) for row in rows]


class PostgresCursor:
    """The rows of one statement, decoded."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        return int(self._cursor.rowcount)

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        row = self._cursor.fetchone()
        return None if row is None else tuple(from_postgres(value) for value in row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every remaining row."""
        return _rows(self._cursor.fetchall())

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        """Up to `size` more rows."""
        return _rows(self._cursor.fetchmany(size))

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


class PostgresConnection:
    """One psycopg connection speaking the catalog's SQL."""

    def __init__(self, target: PostgresTarget, *, read_only: bool = False) -> None:
        import psycopg

        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._psycopg = psycopg
        self._target = target
        self._read_only = read_only
        self._conn = self._open()

    def _open(self) -> Any:
        extra: dict[str, Any] = {"password": self._target.password} if self._target.password else {}
        if self._target.settings:
            extra["options"] = " ".join(f"-c {name}={value}" for name, value in self._target.settings)
        conn = self._psycopg.connect(self._target.dsn, autocommit=True, connect_timeout=10,
                                     application_name="recording-collector", **extra)
        if self._read_only:
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return conn

    def lost(self, exc: BaseException) -> bool:
        """Whether `exc` means the connection is gone (the call can be made again on a new one)."""
        return isinstance(exc, self._psycopg.OperationalError) or self._conn.closed

    def reconnect(self) -> None:
        """Open the connection again (after `lost`)."""
        try:
            self._conn.close()
        finally:
            self._conn = self._open()

    def execute_script(self, sql: str) -> None:
        """Run a script of several statements exactly as written (no placeholders translated)."""
        self._conn.execute(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PostgresCursor:
        """Run one statement."""
        return PostgresCursor(self._conn.execute(postgres_sql(sql), [to_postgres(p) for p in params]))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PostgresCursor:
        """Run one statement for each row of parameters (psycopg pipelines them)."""
        cursor = self._conn.cursor()
        cursor.executemany(postgres_sql(sql), [[to_postgres(p) for p in row] for row in rows])
        return PostgresCursor(cursor)

    def stream(self, sql: str, params: Sequence[Any], batch: int) -> Iterator[tuple[Any, ...]]:
        """Every row of a query, `batch` at a time from a server-side cursor (memory stays flat)."""
        with self._conn.transaction(), self._conn.cursor(name="collector_stream") as cursor:
            cursor.execute(postgres_sql(sql), [to_postgres(p) for p in params])
            while rows := cursor.fetchmany(batch):
                yield from _rows(rows)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
