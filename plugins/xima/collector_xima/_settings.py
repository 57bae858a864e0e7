"""The settings of one Xima CCaaS tenant (one `[[sources]]` entry with `plugin = "xima"`).

Durations (`window`, `lookback`, `settle_delay`) are written as seconds (`3600`) or as ISO 8601
durations (`"PT1H"`, `"P1D"`), so tests can scale them down to fractions of a second while a
production file stays readable.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from collector import Duration, RateLimit, Secret, SourceSettings, http_url

ENDPOINTS = ("call-recording-info", "recordings")
"""The two documented listings: calls with their recordings (richer), or bare recordings."""

DOCUMENTED_LIMIT = RateLimit(requests=3, per_seconds=10)
"""Xima: "more than 3 [requests] from a single tenant within 10 seconds" answers 429."""

class XimaSettings(SourceSettings):
    """One Xima tenant: its host and service-user token, which listing to use, and its time windows."""

    plugin: Literal["xima"] = "xima"
    base_url: str = Field(description="the tenant's host, e.g. https://acmecorporate.xima.cloud")
    token: Secret = Field(description="the API service user's token: { env = ... } or { file = ... }")
    tenant_name: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Xima tenant name used in audio URLs; default: each recording's tenantName",
    )
    endpoint: Literal["call-recording-info", "recordings"] = Field(
        default="call-recording-info", description="call-recording-info (calls with recordings) or recordings",
    )
    start: datetime = Field(description="first run only: collect recordings from this date-time (with an offset)")
    window: Annotated[timedelta, Duration(minimum=timedelta(milliseconds=10), maximum=timedelta(days=31))] = Field(
        default=timedelta(hours=1), description="length of one metadata request's time window")
    lookback: Annotated[timedelta, Duration(maximum=timedelta(days=60))] = Field(
        default=timedelta(days=1), description="re-swept before the watermark on every run")
    settle_delay: Annotated[timedelta, Duration(maximum=timedelta(days=30))] = Field(
        default=timedelta(hours=2), description="a window is final only once its end is this far in the past")
    request_timezone: str = Field(default="UTC", description="IANA zone whose offset the request times carry")
    strict_audio_format: bool = Field(
        default=True, description="also demand 8000 Hz mono (the documented format), not only Opus and duration",
    )
    transcripts: bool = Field(default=False, description="Xima has no transcript API: must stay false")
    download_workers: int = Field(default=3, ge=1, le=32, description="concurrent audio downloads")
    rate_limit: RateLimit | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "?" in value:
            raise ValueError("expected the tenant's URL without a query string, e.g. https://acme.xima.cloud")
        return http_url(value, example="https://acme.xima.cloud")

    @field_validator("tenant_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or "/" in value or not value):
            raise ValueError("expected the Xima tenant name as the API shows it (e.g. acme-ns), without '/' or spaces")
        return value

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("expected a date-time with an offset, "
                             "e.g. 2026-01-01T00:00:00Z or 2026-01-01T00:00:00-06:00")
        return value

    @field_validator("request_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'UTC' or 'America/Denver'") from None
        return value

    @field_validator("transcripts")
    @classmethod
    def _no_transcripts(cls, value: bool) -> bool:
        if value:
            raise ValueError("Xima CCaaS documents no transcript API; remove the key or set it to false")
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone request times are written in."""
        return zoneinfo.ZoneInfo(self.request_timezone)

    @property
    def effective_rate_limit(self) -> RateLimit:
        """The limit this tenant's requests obey (the configured one, else Xima's documented one)."""
        return self.rate_limit or DOCUMENTED_LIMIT
