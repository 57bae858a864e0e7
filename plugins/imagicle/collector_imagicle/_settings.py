"""The settings of one Imagicle Voice Analytics account (a `[[sources]]` entry, `plugin = "imagicle"`).

Everything that can be wrong in a combination of keys is rejected here, at `collector config
check`, with the key path: both or neither of `token` / `oauth`, an `end_date` without a
`start_date` or before it, an unknown sentiment, an audio URL template that is not a relative
path holding `{id}`, `audio = true` without such a template.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from collector import Secret, SourceSettings, http_url

DEFAULT_BASE_URL = "https://eu.api.imagicle.com/voice-analytics"
"""The only host the vendor documents (EU)."""

SENTIMENTS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "ERROR", "UNKNOWN")
"""The documented values of `analysisResult.sentiment`, hence of the `sentiment` filter."""

DEFAULT_FIRST_RUN_DAYS = 30
"""How far back the first run reaches when no `start_date` is configured."""


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("expected a date-time with a zone, e.g. 2025-06-01T00:00:00Z")
    return value


def _comma_free(values: list[str], what: str) -> list[str]:
    cleaned = [v.strip() for v in values]
    for value in cleaned:
        if not value or "," in value:
            raise ValueError(f"each {what} must be a non-empty string without commas (the list is joined with commas)")
    return cleaned


class OAuthSettings(BaseModel):
    """OAuth2 client credentials: where to get a token and with which client."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    token_url: str = Field(description="the token endpoint from the tenant's configuration")
    client_id: str = Field(min_length=1, description="the OAuth2 client id")
    client_secret: Secret = Field(description="the client secret: { env = ... } or { file = ... }")
    scope: str | None = Field(default=None, description="e.g. voice-analytics/recordings.read; omitted when unset")
    client_auth: Literal["basic", "body"] = Field(
        default="basic", description="send the client id and secret as HTTP Basic (RFC 6749 2.3.1) or in the form"
    )
    token_lifetime: float = Field(default=3600.0, gt=0, le=86_400,
                                  description="assumed lifetime (s) when the answer has no expires_in")

    @field_validator("token_url")
    @classmethod
    def _valid_token_url(cls, value: str) -> str:
        return http_url(value, example="https://auth.example.com/oauth2/token")

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the token URL (the token host gets its own HTTP client)."""
        parts = urlsplit(self.token_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        """The token URL's path and query, relative to its origin."""
        parts = urlsplit(self.token_url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class Filters(BaseModel):
    """The optional filters of `GET /v1/recordings`, sent with every listing request.

    `startdate`/`enddate` are not here: the plugin owns them for its date windows (use
    `start_date` / `end_date` for a fixed range). Lists are joined with commas; `users`, `words`
    and `noteswords` have an undocumented syntax and are passed through verbatim.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    tel: list[str] = Field(default_factory=list, description="phone numbers (any of)")
    sentiment: list[str] = Field(default_factory=list, description="POSITIVE, NEGATIVE, NEUTRAL, ERROR, UNKNOWN")
    tagids: list[str] = Field(default_factory=list, description="tag GUIDs")
    users: str | None = Field(default=None, description="include/exclude list of user GUIDs, sent verbatim")
    words: str | None = Field(default=None, description="full-text search, sent verbatim")
    noteswords: str | None = Field(default=None, description="full-text search in notes, sent verbatim")

    @field_validator("tel", "tagids", "sentiment", mode="before")
    @classmethod
    def _split_string(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("tel")
    @classmethod
    def _valid_tel(cls, value: list[str]) -> list[str]:
        return _comma_free(value, "phone number")

    @field_validator("tagids")
    @classmethod
    def _valid_tags(cls, value: list[str]) -> list[str]:
        return _comma_free(value, "tag id")

    @field_validator("sentiment")
    @classmethod
    def _valid_sentiment(cls, value: list[str]) -> list[str]:
        upper = [v.strip().upper() for v in value]
        unknown = [v for v in upper if v not in SENTIMENTS]
        if unknown:
            raise ValueError(f"unknown sentiment {unknown[0]!r}; expected any of {', '.join(SENTIMENTS)}")
        return upper

    @field_validator("users", "words", "noteswords")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a non-empty string (leave the key out to not filter)")
        return value

    def params(self) -> dict[str, str]:
        """The query parameters these filters add to a listing request."""
        params: dict[str, str] = {}
        for name in ("tel", "sentiment", "tagids"):
            values: list[str] = getattr(self, name)
            if values:
                params[name] = ",".join(values)
        for name in ("users", "words", "noteswords"):
            text: str | None = getattr(self, name)
            if text is not None:
                params[name] = text
        return params


class ImagicleSettings(SourceSettings):
    """One Imagicle Voice Analytics account: where it is, how we authenticate, how we page."""

    plugin: Literal["imagicle"] = "imagicle"
    base_url: str = Field(default=DEFAULT_BASE_URL, description="the API base URL (the documented EU host)")
    token: Secret | None = Field(default=None, description="a static bearer token: { env = ... }")
    oauth: OAuthSettings | None = Field(default=None, validate_default=True,
                                        description="OAuth2 client credentials instead of a static token")
    page_size: int = Field(default=100, ge=1, le=1000, description="recordings per request (`quantity`)")
    window_hours: float = Field(default=24.0, gt=0, le=24 * 92, description="length of a date window")
    start_date: datetime | None = Field(default=None, description="first run: collect from here (default 30 days back)")
    end_date: datetime | None = Field(default=None, validate_default=True,
                                      description="optional: collect nothing dated from here on")
    lookback_hours: float = Field(default=48.0, ge=0, le=24 * 366,
                                  description="later runs re-read this much before the watermark")
    settle_seconds: float = Field(default=900.0, ge=0, le=86_400,
                                  description="a window is read only once its end is this far in the past")
    reconcile_attempts: int = Field(default=3, ge=1, le=20, description="reads of a window per run until it reconciles")
    accept_mismatch_after_runs: int = Field(
        default=5, ge=0, le=1000, description="runs a window may fail to reconcile before it is accepted (0: never)"
    )
    filters: Filters = Filters()
    audio_url_template: str | None = Field(
        default=None, validate_default=True,
        description="undocumented audio route relative to base_url, e.g. /v1/recordings/{id}/audio"
    )

    @model_validator(mode="before")
    @classmethod
    def _audio_follows_template(cls, data: Any) -> Any:
        """Audio is on by default only when there is a route to download it from."""
        if isinstance(data, dict) and "audio" not in data:
            data = {**data, "audio": bool(data.get("audio_url_template"))}
        return data

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return http_url(value, example=DEFAULT_BASE_URL)

    @field_validator("oauth")
    @classmethod
    def _exactly_one_credential(cls, value: OAuthSettings | None, info: ValidationInfo) -> OAuthSettings | None:
        if "token" in info.data and (value is None) == (info.data["token"] is None):
            raise ValueError(
                "give exactly one of `token` (a static bearer token, e.g. token = { env = \"IMAGICLE_TOKEN\" }) "
                "and `oauth` (client credentials: token_url, client_id, client_secret, scope)"
            )
        return value

    @field_validator("start_date")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        return _aware(value)

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        value = _aware(value)
        if value is None or "start_date" not in info.data:
            return value
        start = info.data["start_date"]
        if start is None:
            raise ValueError("needs `start_date`: a fixed date range must say where it starts")
        if value <= start:
            raise ValueError("must be after `start_date`")
        return value

    @field_validator("audio_url_template")
    @classmethod
    def _valid_template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("audio"):
                raise ValueError(
                    "is required when audio = true: Imagicle documents no audio download endpoint, so the "
                    "plugin collects metadata and transcripts only unless you name one"
                )
            return None
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if not value.startswith("/") or "//" in value or fields != {"id"}:
            raise ValueError("expected a path relative to base_url holding {id} and no other placeholder, "
                             "e.g. /v1/recordings/{id}/audio")
        return value

    @property
    def window(self) -> timedelta:
        """`window_hours` as a timedelta."""
        return timedelta(hours=self.window_hours)

    @property
    def lookback(self) -> timedelta:
        """`lookback_hours` as a timedelta."""
        return timedelta(hours=self.lookback_hours)

    @property
    def settle(self) -> timedelta:
        """`settle_seconds` as a timedelta."""
        return timedelta(seconds=self.settle_seconds)
