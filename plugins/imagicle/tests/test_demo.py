"""`collector demo` includes the Imagicle accounts, and they collect cleanly."""

from __future__ import annotations

from pathlib import Path

from collector.engine import Plugins
from collector.testing import collect, inspect_store, write_config


def test_the_demo_offers_two_accounts_that_collect(tmp_path: Path) -> None:
    demos = Plugins().demos()
    assert "imagicle" in demos
    with demos["imagicle"]() as sources:
        assert {("token" in s, "oauth" in s) for s in sources} == {(True, False), (False, True)}
        result = collect(write_config(tmp_path, sources))
    assert result.exit_code == 0, [s.messages for s in result.summaries]
    contents = inspect_store(tmp_path / "store")
    assert {len(contents.recordings[t]) for t in ("acme", "globex")} == {30, 20}
    assert len(contents.audio["globex"]) == 20 and not contents.audio["acme"]
