"""After `collector demo` (every installed plugin's emulated tenants), `collector report` reads every
vendor's settled days reconciled: counted by the vendor, all listed, stored or unavailable for a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector._cli._main import run_cli
from collector.engine import Plugins


def test_after_the_demo_every_vendors_settled_days_read_reconciled(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    plugins = Plugins()
    assert run_cli(["demo", str(tmp_path / "demo")], plugins) == 0
    capsys.readouterr()
    assert run_cli(["--config", str(tmp_path / "demo" / "demo-config.toml"), "report", "--json"], plugins) == 0
    document = json.loads(capsys.readouterr().out)
    assert {line["source"] for line in document["days"]} == {"focus", "imagicle", "xima"}
    for line in document["days"]:
        assert line["vendor_count"] == line["listed"] == line["stored"] + line["unavailable"], line
        assert line["state"] == "reconciled", line  # MP3, WAV and Opus alike: every stored file proven
    for total in document["totals"]:
        assert total["difference"] == 0 and total["listed"] > 0, total
