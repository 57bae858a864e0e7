"""Every combination of catalog (SQLite, PostgreSQL) and files (folder, S3) keeps the store's promises:
a collection is complete and consistent, and a re-run adds nothing. (The conformance suite runs the
two pure combinations through everything, a SIGKILLed run included.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.engine import EXIT_OK, Plugins
from collector.testing import PostgresServer, S3Server, collect, inspect_store, location_of, scale_out, write_config


@pytest.mark.parametrize("combination", ["sqlite+folder", "sqlite+s3", "postgresql+folder", "postgresql+s3"])
def test_each_combination_collects_completely_and_adds_nothing_twice(
        combination: str, request: pytest.FixtureRequest, toy: Any, toy_source: Any, toy_plugins: Plugins,
        tmp_path: Path) -> None:
    catalog, files = combination.split("+")
    postgres: PostgresServer | None = request.getfixturevalue("postgres") if catalog == "postgresql" else None
    s3: S3Server | None = request.getfixturevalue("s3") if files == "s3" else None
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy)])
        location = location_of(tmp_path / "store")
        assert (location.postgres is not None, location.s3 is not None) == (catalog == "postgresql", files == "s3")
        first = collect(config, toy_plugins)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]
        contents = inspect_store(tmp_path / "store")
        assert not contents.problems, contents.problems
        assert contents.audio["alpha"] == {item["id"] for item in toy.items}
        assert (tmp_path / "store" / "catalog.sqlite").exists() == (catalog == "sqlite")
        assert any((tmp_path / "store" / "toy").glob("**/*")) == (files == "folder")
        again = collect(config, toy_plugins)
        assert again.exit_code == EXIT_OK
        assert (again.summaries[0].new_recordings, again.summaries[0].audio_files) == (0, 0)
        assert not inspect_store(tmp_path / "store").problems
