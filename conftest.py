"""Settings every test of the repository (core and plugins) runs with."""

from __future__ import annotations

import pytest

from collector.testing.fixtures import postgres, s3  # noqa: F401 - the session's PostgreSQL and S3 servers


@pytest.fixture(autouse=True)
def _own_rate_limit_ledgers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test shares rate-limit slots only with the processes it starts itself, never with
    another test (an emulator's port may be reused) or with collector runs outside the suite."""
    monkeypatch.setenv("COLLECTOR_LIMITS_DIR", str(tmp_path_factory.mktemp("limits")))
