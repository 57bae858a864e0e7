"""`collector report` on a Xima store: per tenant and day, the vendor's count beside ours, equal to
what the emulator holds."""

from __future__ import annotations

import collections
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from collector_xima.emulator import XimaEmulator, XimaTenant

from collector.engine import Plugins
from collector.engine import cli as run_cli
from collector.testing import collect, write_config


def test_report_totals_equal_the_vendors_truth_per_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    tenant = XimaTenant(name="acme-ns", token="tok-" + os.urandom(8).hex(), recordings=40,
                        anchor=midnight - timedelta(minutes=7), span=timedelta(hours=47))
    with XimaEmulator(tenant, rate_limit=None) as emulator:
        os.environ["TEST_XIMA_REPORT_TOKEN"] = tenant.token
        try:
            config = write_config(tmp_path, [{
                "plugin": "xima", "tenant": "reno", "base_url": emulator.url, "token": {"env": "TEST_XIMA_REPORT_TOKEN"},
                "endpoint": "recordings", "start": (midnight - timedelta(days=3) + timedelta(hours=12)).isoformat(), "window": 3600,
                "lookback": 3600, "settle_delay": 1, "rate_limit": {"requests": 1000, "per_seconds": 1},
            }])
            assert collect(config).exit_code == 0
        finally:
            del os.environ["TEST_XIMA_REPORT_TOKEN"]
        truth = collections.Counter(
            datetime.fromtimestamp(item["startTime"] / 1000, timezone.utc).date().isoformat()
            for item in emulator.recording_items())
    capsys.readouterr()
    assert run_cli(["--config", str(config), "report", "--json"], Plugins()) == 0
    report = json.loads(capsys.readouterr().out)
    days = {line["day"]: line for line in report["days"]}
    full_days = [(midnight - timedelta(days=n)).date().isoformat() for n in (1, 2)]
    for day in full_days:
        line = days[day]
        assert line["reconciled"] and line["vendor_count"] == line["recordings"] == truth[day], line
        assert line["stored"] == truth[day]
    assert sum(line["recordings"] for line in report["days"]) == sum(truth.values())
    (total,) = report["totals"]
    assert total["recordings"] == total["stored"] == sum(truth.values())
    capsys.readouterr()
    assert run_cli(["--config", str(config), "report"], Plugins()) == 0
    text = capsys.readouterr().out
    assert "xima/reno" in text and "not reconciled" in text  # the first day starts at noon: no whole count
