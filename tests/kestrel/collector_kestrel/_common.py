"""What both Kestrel plugins share: the settings, the mapping, the audio."""

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import httpx
from pydantic import AfterValidator, AwareDatetime

from collector import (
    HttpClient,
    MediaAvailability,
    Recording,
    Secret,
    SourceSettings,
    http_url,
    parse_time,
    path_segment,
)


class KestrelSettings(SourceSettings):
    """One Kestrel account."""

    base_url: Annotated[str, AfterValidator(lambda url: http_url(url, example="https://api.kestrel.example"))]
    api_key: Secret
    start: AwareDatetime


def to_recording(item: Mapping[str, Any], source: str, tenant: str) -> Recording:
    """One listed recording (`call_started_at` is RFC 2822, `duration_ms` milliseconds)."""
    if item.get("status") != "ready":
        raise ValueError("the recording's status is not `ready`")
    return Recording(source=source, tenant=tenant, vendor_id=item["id"], start=parse_time(item["call_started_at"]),
                     duration=item["duration_ms"] / 1000, media=MediaAvailability.AVAILABLE, raw=dict(item))


def media(http: HttpClient, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
    """The recording's WAV file."""
    return http.stream("GET", f"/v1/recordings/{path_segment(recording.vendor_id)}/media")
