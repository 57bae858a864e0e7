"""`collector demo` includes three Xima tenants, each on its own emulator port, and they collect."""

from __future__ import annotations

from pathlib import Path

from collector.engine import Plugins, load_config
from collector.testing import collect, inspect_store, write_config
from collector_xima.testing import by_tenant


def test_the_demo_offers_xima_tenants_that_collect_completely(tmp_path: Path) -> None:
    plugins = Plugins()
    factory = plugins.demos()["xima"]
    with factory() as sources:
        assert [s["plugin"] for s in sources] == ["xima"] * 3
        assert len({s["base_url"] for s in sources}) == 3, "one emulator (one port) per tenant"
        assert {s["endpoint"] for s in sources} == {"call-recording-info", "recordings"}
        config = write_config(tmp_path, sources)
        assert len(load_config(config, plugins).sources) == 3
        first = collect(config, plugins)
        assert first.exit_code == 0, [s.messages for s in first.summaries]
        contents = inspect_store(tmp_path / "store")
        assert not contents.problems
        assert {name: len(ids) for name, ids in contents.audio.items()} == {
            "acme-reno": 18, "globex-boise": 12, "initech-denver": 15}
        again = by_tenant(collect(config, plugins))
        assert all(summary.nothing_new for summary in again.values()), "a second demo finds nothing new"
