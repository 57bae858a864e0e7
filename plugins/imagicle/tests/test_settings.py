"""Configuration checks: bad combinations are rejected at config check, naming the key path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import ConfigError
from collector.engine import Plugins, load_config
from collector.testing import write_config
from collector_imagicle import ImagicleSettings

TOKEN = "static-token-value-4711"
SECRET = "client-secret-value-0815"
OAUTH = {"token_url": "https://auth.example.com/oauth2/token", "client_id": "collector",
         "client_secret": {"env": "TEST_IMAGICLE_SECRET"}, "scope": "voice-analytics/recordings.read"}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TEST_IMAGICLE_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_IMAGICLE_SECRET", SECRET)
    yield


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return Plugins()


def check(tmp_path: Path, plugins: Plugins, **entry: Any) -> ImagicleSettings:
    table = {"plugin": "imagicle", "tenant": "acme", **entry}
    settings = load_config(write_config(tmp_path, [table]), plugins).sources[0]
    assert isinstance(settings, ImagicleSettings)
    return settings


def problems(tmp_path: Path, plugins: Plugins, **entry: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        check(tmp_path, plugins, **entry)
    text = "\n".join(caught.value.problems)
    assert TOKEN not in text and SECRET not in text
    assert all(str(tmp_path) in line for line in caught.value.problems)
    return [line.split(": ", 1)[1] for line in caught.value.problems]


def test_defaults(tmp_path: Path, plugins: Plugins) -> None:
    settings = check(tmp_path, plugins, token={"env": "TEST_IMAGICLE_TOKEN"})
    assert settings.base_url == "https://eu.api.imagicle.com/voice-analytics"
    assert settings.audio is False and settings.audio_url_template is None
    assert (settings.page_size, settings.window_hours, settings.lookback_hours, settings.settle_seconds) == \
        (100, 24.0, 48.0, 900.0)
    assert settings.filters.params() == {}


def test_a_template_switches_audio_on_unless_audio_is_false(tmp_path: Path, plugins: Plugins) -> None:
    assert check(tmp_path, plugins, token={"env": "TEST_IMAGICLE_TOKEN"},
                 audio_url_template="/v1/recordings/{id}/audio").audio is True
    assert check(tmp_path, plugins, token={"env": "TEST_IMAGICLE_TOKEN"}, audio=False,
                 audio_url_template="/v1/recordings/{id}/audio").audio is False


def test_filters_are_joined_with_commas_and_passed_verbatim(tmp_path: Path, plugins: Plugins) -> None:
    settings = check(tmp_path, plugins, token={"env": "TEST_IMAGICLE_TOKEN"}, filters={
        "tel": ["+3902123", "+3906456"], "sentiment": ["negative", "ERROR"], "tagids": "a-1,b-2",
        "users": "exclude:9b2f0a5c", "words": '"refund" and not invoice', "noteswords": "escalate"})
    assert settings.filters.params() == {
        "tel": "+3902123,+3906456", "sentiment": "NEGATIVE,ERROR", "tagids": "a-1,b-2",
        "users": "exclude:9b2f0a5c", "words": '"refund" and not invoice', "noteswords": "escalate"}


@pytest.mark.parametrize("entry", [{}, {"token": {"env": "TEST_IMAGICLE_TOKEN"}, "oauth": OAUTH}])
def test_exactly_one_of_token_and_oauth(tmp_path: Path, plugins: Plugins, entry: dict[str, Any]) -> None:
    (problem,) = problems(tmp_path, plugins, **entry)
    assert problem.startswith("sources[0].oauth: give exactly one of `token`")


@pytest.mark.parametrize(("entry", "expected"), [
    ({"end_date": "2026-02-01T00:00:00Z"},
     "sources[0].end_date: needs `start_date`: a fixed date range must say where it starts."),
    ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"},
     "sources[0].end_date: must be after `start_date`."),
    ({"start_date": "2026-02-01T00:00:00"},
     "sources[0].start_date: expected a date-time with a zone, e.g. 2025-06-01T00:00:00Z."),
    ({"filters": {"sentiment": ["POSITIVE", "HAPPY"]}},
     "sources[0].filters.sentiment: unknown sentiment 'HAPPY'; expected any of POSITIVE, NEGATIVE, NEUTRAL, "
     "ERROR, UNKNOWN."),
    ({"filters": {"tel": ["+3902,+3906"]}},
     "sources[0].filters.tel: each phone number must be a non-empty string without commas (the list is joined "
     "with commas)."),
    ({"filters": {"startdate": "2026-01-01"}}, "sources[0].filters.startdate: is not a known key."),
    ({"filters": {"words": "  "}},
     "sources[0].filters.words: expected a non-empty string (leave the key out to not filter)."),
    ({"audio": True}, "sources[0].audio_url_template: is required when audio = true: Imagicle documents no audio "
                      "download endpoint, so the plugin collects metadata and transcripts only unless you name one."),
    ({"audio_url_template": "https://elsewhere.example.com/{id}"},
     "sources[0].audio_url_template: expected a path relative to base_url holding {id} and no other placeholder, "
     "e.g. /v1/recordings/{id}/audio."),
    ({"audio_url_template": "/v1/recordings/{id}/{format}"},
     "sources[0].audio_url_template: expected a path relative to base_url holding {id} and no other placeholder, "
     "e.g. /v1/recordings/{id}/audio."),
    ({"base_url": "https://user:pw@eu.api.imagicle.com"},
     "sources[0].base_url: expected an http(s) URL without credentials, e.g. "
     "https://eu.api.imagicle.com/voice-analytics."),
    ({"page_size": 0}, "sources[0].page_size: expected greater than or equal to 1."),
])
def test_invalid_settings_are_rejected_with_the_key_path(tmp_path: Path, plugins: Plugins, entry: dict[str, Any],
                                                         expected: str) -> None:
    assert problems(tmp_path, plugins, token={"env": "TEST_IMAGICLE_TOKEN"}, **entry) == [expected]


def test_oauth_settings_are_checked_inside_their_table(tmp_path: Path, plugins: Plugins) -> None:
    oauth = {**OAUTH, "token_url": "auth.example.com/token", "client_auth": "digest", "client_secret": {"env": "NOPE"}}
    assert problems(tmp_path, plugins, oauth=oauth) == [
        "sources[0].oauth.token_url: expected an http(s) URL without credentials, e.g. "
        "https://auth.example.com/oauth2/token.",
        "sources[0].oauth.client_secret: environment variable NOPE is not set.",
        "sources[0].oauth.client_auth: expected 'basic' or 'body'.",
    ]


def test_the_token_host_is_split_from_the_token_url(tmp_path: Path, plugins: Plugins) -> None:
    oauth = {**OAUTH, "token_url": "https://login.example.com:8443/tenant-7/oauth2/token?region=eu"}
    settings = check(tmp_path, plugins, oauth=oauth)
    assert settings.oauth is not None
    assert settings.oauth.origin == "https://login.example.com:8443"
    assert settings.oauth.path == "/tenant-7/oauth2/token?region=eu"
