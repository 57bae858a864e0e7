"""Settings every test of the repository (core and plugins) runs with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.testing import PostgresServer, S3Server


@pytest.fixture(autouse=True)
def _own_rate_limit_ledgers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test shares rate-limit slots only with the processes it starts itself, never with
    another test (an emulator's port may be reused) or with collector runs outside the suite."""
    monkeypatch.setenv("COLLECTOR_LIMITS_DIR", str(tmp_path_factory.mktemp("limits")))


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
