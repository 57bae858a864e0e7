"""The settings of one Focus tenant (one `[[sources]]` entry with `plugin = "focus"`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from collector import Secret, SourceSettings, http_url

REGIONS = ("uk", "eu", "us", "ca")
REGION_URL = "https://{region}.focus.subphonic.ai/api"

AUDIO_FORMATS = ("mp3", "mp3-mono", "wav", "wav-mono")
"""The documented formats the collector can verify. `mp4` (no MP4 decoder in libsndfile) and `raw`
(headerless PCM: nothing to check it against) are refused rather than stored unverified."""

_UNVERIFIABLE = {
    "mp4": "the collector cannot verify MP4 audio (libsndfile has no MP4 decoder)",
    "raw": "headerless raw audio cannot be verified",
}


class FocusSettings(SourceSettings):
    """One Focus tenant: where it is, who we are, and how to collect it."""

    plugin: Literal["focus"] = "focus"
    region: Literal["uk", "eu", "us", "ca"] | None = Field(default=None, description="uk, eu, us or ca")
    base_url: str | None = Field(default=None, validate_default=True,
                                 description="explicit API base URL instead of a region")
    client_id: int = Field(gt=0, description="the numeric Focus account id")
    username: str = Field(min_length=1, description="the integration username shown next to the API key")
    api_key: Secret = Field(description="the API key: { env = ... } or { file = ... }")
    page_size: int = Field(default=500, ge=1, le=5000, description="numberOfResults per cursor page")
    start_date: datetime | None = Field(default=None, description="first run only: sync from this UTC time")
    audio_format: str = Field(default="mp3", description="mp3, mp3-mono, wav or wav-mono")
    forced_comments: bool = Field(default=False, description="the tenant requires a comment on every download")
    download_comment: str | None = Field(default=None, max_length=1000, validate_default=True,
                                         description="justification sent with every audio download")
    transcript_batch_size: int = Field(default=50, ge=1, le=1000, description="interactionIds per transcript call")
    token_lifetime: float = Field(default=300.0, gt=0, le=86_400,
                                  description="assumed JWT lifetime (s) when the token has no exp claim")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) == (info.data.get("region") is None) and "region" in info.data:
            raise ValueError("give exactly one of `region` (uk, eu, us, ca) and `base_url`")
        return None if value is None else http_url(value, example="https://uk.focus.subphonic.ai/api")

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a date-time with a zone, e.g. 2025-06-06T14:00:00Z")
        return value

    @field_validator("audio_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value in _UNVERIFIABLE:
            raise ValueError(f"'{value}' is not supported: {_UNVERIFIABLE[value]}; "
                             f"use one of {', '.join(AUDIO_FORMATS)}")
        if value not in AUDIO_FORMATS:
            raise ValueError(f"expected one of {', '.join(AUDIO_FORMATS)}")
        return value

    @field_validator("download_comment")
    @classmethod
    def _comment_when_forced(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("forced_comments") and info.data.get("audio", True) and not (value or "").strip():
            raise ValueError("is required because `forced_comments` is true: give the justification sent "
                             "with every audio download")
        return value

    @property
    def api_url(self) -> str:
        """The tenant's API base URL."""
        return self.base_url or REGION_URL.format(region=self.region)
