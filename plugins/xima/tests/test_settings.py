"""Configuration: defaults, durations, and errors that name the file, the key path and what is expected."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import ConfigError, RateLimit
from collector.engine import Plugins, load_config
from collector.testing import write_config
from collector_xima import XimaSettings, XimaSource

TOKEN_VARIABLE = "TEST_XIMA_SETTINGS_TOKEN"
TOKEN = "s3cr3t-service-user-token"


@pytest.fixture(autouse=True)
def token() -> Iterator[None]:
    os.environ[TOKEN_VARIABLE] = TOKEN
    yield
    os.environ.pop(TOKEN_VARIABLE, None)


def entry(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"plugin": "xima", "tenant": "reno", "base_url": "https://acmecorporate.xima.cloud/",
                             "token": {"env": TOKEN_VARIABLE}, "start": "2026-01-01T00:00:00-06:00"}
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


def problems(tmp_path: Path, *entries: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, list(entries)), Plugins())
    return caught.value.problems


def test_defaults_follow_the_docs(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, [entry()]), Plugins())
    (settings,) = config.sources
    assert isinstance(settings, XimaSettings)
    assert settings.base_url == "https://acmecorporate.xima.cloud"
    assert settings.endpoint == "call-recording-info" and settings.tenant_name is None
    assert (settings.window, settings.lookback, settings.settle_delay) == (
        timedelta(hours=1), timedelta(days=1), timedelta(hours=2))
    assert settings.transcripts is False and settings.audio is True and settings.strict_audio_format is True
    assert settings.rate_limit is None and XimaSource.default_rate_limit == RateLimit(requests=3, per_seconds=10)
    assert settings.token.get_secret_value() == TOKEN and TOKEN not in repr(settings)
    assert settings.zone.key == "UTC"


def test_durations_accept_seconds_and_iso_8601(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, [entry(window="PT6H", lookback=0.5, settle_delay="P1DT2H")]),
                         Plugins())
    (settings,) = config.sources
    assert isinstance(settings, XimaSettings)
    assert settings.window == timedelta(hours=6)
    assert settings.lookback == timedelta(seconds=0.5)
    assert settings.settle_delay == timedelta(days=1, hours=2)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"token": None}, "sources[0].token: is required."),
    ({"token": {"env": "TEST_XIMA_NOT_SET"}}, "sources[0].token: environment variable TEST_XIMA_NOT_SET is not set."),
    ({"base_url": "acmecorporate.xima.cloud"}, "sources[0].base_url: expected an http(s) URL"),
    ({"base_url": "https://user:pw@acme.xima.cloud"},
     "sources[0].base_url: expected an http(s) URL without credentials"),
    ({"start": None}, "sources[0].start: is required."),
    ({"start": "2026-01-01T00:00:00"}, "sources[0].start: expected a date-time with an offset"),
    ({"start": "yesterday"}, "sources[0].start: expected a valid datetime"),
    ({"endpoint": "calls"}, "sources[0].endpoint: expected 'call-recording-info' or 'recordings'."),
    ({"window": "1h"}, "sources[0].window: expected seconds (e.g. 3600) or an ISO 8601 duration"),
    ({"window": 0}, "sources[0].window: expected a duration between 0.01 seconds and 31 days."),
    ({"window": "P40D"}, "sources[0].window: expected a duration between 0.01 seconds and 31 days."),
    ({"lookback": -1}, "sources[0].lookback: expected a duration between 0 seconds and 60 days."),
    ({"settle_delay": True}, "sources[0].settle_delay: expected seconds"),
    ({"request_timezone": "Mars/Olympus"}, "sources[0].request_timezone: expected an IANA time zone name"),
    ({"tenant_name": "acme/ns"}, "sources[0].tenant_name: expected the Xima tenant name"),
    ({"transcripts": True}, "sources[0].transcripts: Xima CCaaS documents no transcript API"),
    ({"rate_limit": {"requests": 0, "per_seconds": 10}}, "sources[0].rate_limit.requests:"),
    ({"egress_budget": {"bytes": 0}}, "sources[0].egress_budget.bytes:"),
    ({"windw": 3600}, "sources[0].windw: is not a known key (did you mean 'window'?)."),
])
def test_errors_name_the_file_and_key_path(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    found = problems(tmp_path, entry(**changes))
    assert any(p.startswith(f"{tmp_path / 'collector.toml'}: {expected}") for p in found), found
    assert not any(TOKEN in p for p in found), "an error message must never contain the token"


def test_every_problem_is_reported_at_once_and_per_entry(tmp_path: Path) -> None:
    found = problems(tmp_path, entry(), entry(tenant="boise", window="soon", endpoint="x"))
    assert len(found) == 2 and all("sources[1]." in p for p in found), found


def test_a_literal_token_warns(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, [entry(token="plain-token-value")]), Plugins())
    assert any("sources[0].token: the secret is written in plain text" in w for w in config.warnings)
