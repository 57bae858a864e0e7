"""The raw Xima CCaaS API calls, kept apart from mapping what they return.

Routes (relative to the tenant's base URL, see xima-collecting-recordings and NOTES.md):
- `GET /rest/api/v2/call-recording-info?startTime=...&endTime=...`: calls with their recordings;
- `GET /rest/api/v2/recordings?startTime=...&endTime=...`: recordings;
- `GET /rest/api/v2/recordings/{tenant-name}/{recording-key}/audio`: Opus, 8 kHz, mono.

Request times are ISO 8601 with milliseconds and a numeric offset (`2022-09-10T23:59:59.000-06:00`);
httpx percent-encodes the query, so a `+` offset arrives as `+`, not as a space. No `format`
parameter is sent (CCaaS documents none). Every call passes the tenant's rate limiter (the
`HttpClient` does that); a 202 ("report timed out, cached, retry later") is retried like a 503.
Xima's error statuses become the collector's taxonomy here, with sentences that say what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from collector import (
    AuthenticationError,
    BadStatus,
    DownloadsStopped,
    HttpClient,
    ItemDeferred,
    ItemNotReady,
    ItemUnavailable,
    Secret,
    path_segment,
)

LIST_ROUTES = {
    "call-recording-info": "/rest/api/v2/call-recording-info",
    "recordings": "/rest/api/v2/recordings",
}
AUDIO_ROUTE = "/rest/api/v2/recordings/{tenant}/{key}/audio"
RETRY_LATER = (202,)


def request_time(moment: datetime, zone: ZoneInfo) -> str:
    """An instant as Xima's examples write it: ISO 8601, milliseconds, numeric offset of `zone`."""
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def audio_path(tenant_name: str, recording_key: str) -> str:
    """The audio route for one recording."""
    return AUDIO_ROUTE.format(tenant=path_segment(tenant_name), key=path_segment(recording_key))


async def list_window(
    http: HttpClient, endpoint: str, start: datetime, end: datetime, zone: ZoneInfo, token: Secret
) -> Any:
    """The raw JSON answer of one listing for the window [start, end]."""
    params = {"startTime": request_time(start, zone), "endTime": request_time(end, zone)}
    try:
        return await http.json("GET", LIST_ROUTES[endpoint], params=params, retry_on=RETRY_LATER)
    except BadStatus as exc:
        raise _error(exc, token, audio=False) from None


@asynccontextmanager
async def open_audio(
    http: HttpClient, tenant_name: str, recording_key: str, token: Secret, *, saved: bool = True
) -> AsyncIterator[httpx.Response]:
    """Open one recording's audio as a streaming response, with Xima's errors mapped.

    `saved=False`: the listing said the recording is not SAVED yet, so a 404 means "not yet".
    """
    try:
        async with http.stream("GET", audio_path(tenant_name, recording_key), retry_on=RETRY_LATER) as response:
            yield response
    except BadStatus as exc:
        if exc.status == 404 and not saved:
            raise ItemNotReady(f"Xima has not saved this recording yet (HTTP 404: {exc.detail or 'no detail'}).") \
                from None
        raise _error(exc, token, audio=True) from None


def _error(exc: BadStatus, token: Secret, *, audio: bool) -> Exception:
    """Xima's documented error statuses as the collector's taxonomy (401, 403, 404, 509)."""
    detail = exc.detail or "no detail"
    if exc.status == 401:
        return AuthenticationError(
            f"Xima refused the service user's token (HTTP 401 on {exc.method} {exc.url}): it was revoked "
            "(pressing Refresh under Admin > API Enablement > API Service Users issues a new token and "
            f"invalidates the old one) or it is wrong. Put the current token in {token.origin}; "
            "this tenant stopped, the others carry on."
        )
    if exc.status == 509:
        queued = "the remaining audio stays queued for the next run" if audio else "the window is retried next run"
        return DownloadsStopped(
            f"Xima's rolling 5-day egress cap for this tenant is reached (HTTP 509 Bandwidth Limit Exceeded); "
            f"{queued}. Set an `egress_budget` below the cap to stop before it, or ask Xima Support to review "
            "the usage if the cap was hit in error."
        )
    if audio and exc.status == 403:
        return ItemUnavailable(f"Xima denies the service user access to this recording (HTTP 403: {detail}).")
    if audio and exc.status == 404:
        return ItemDeferred(f"Xima does not know this recording key or tenant name (HTTP 404: {detail}).")
    return exc
