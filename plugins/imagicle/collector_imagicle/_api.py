"""The raw Imagicle Voice Analytics calls ("Recordings.v1"), kept apart from mapping what they return.

Routes, relative to the account's base URL (documented: `https://eu.api.imagicle.com/voice-analytics`):
- `GET /v1/recordings` ?quantity&from (required), startdate/enddate, tel, sentiment, tagids, users,
  words, noteswords -> {"total": n, "recordings": [...]} newest first. 400 bad parameters; 403 a
  standard user asking for other users' recordings.
- `GET /v1/recordings/{id}/transcription` -> {"speakers": [...], "sentences": [...]}; 204 while the
  transcription is in progress; 404 is read as "no transcript for this recording" (undocumented).
- audio: no route is documented; `audio_url_template` names one if the tenant has it.

Recording ids are percent-encoded as one path segment (a `/` or `..` in an id cannot change the
route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from collector import AuthenticationError, HttpClient, BadStatus, TenantError, TranscriptState

RECORDINGS_ROUTE = "/v1/recordings"


def path_segment(value: str) -> str:
    """`value` percent-encoded as a single path segment (dots too, when it is `.` or `..`)."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def recording_path(recording_id: str) -> str:
    """The route of one recording, relative to the base URL."""
    return f"{RECORDINGS_ROUTE}/{path_segment(recording_id)}"


@dataclass(frozen=True)
class ListPage:
    """One answer of `GET /v1/recordings`: the vendor's total for the query and this page's items."""

    total: int
    recordings: list[Any]


async def list_recordings(
    http: HttpClient, *, offset: int, quantity: int, window: Mapping[str, str], filters: Mapping[str, str]
) -> ListPage:
    """One page of the recordings list for a date window, with the configured filters."""
    params: dict[str, str | int] = {"quantity": quantity, "from": offset, **window, **filters}
    try:
        data = await http.json("GET", RECORDINGS_ROUTE, params=params)
    except BadStatus as exc:
        raise _listing_error(exc) from None
    total = data.get("total") if isinstance(data, dict) else None
    recordings = data.get("recordings") if isinstance(data, dict) else None
    if isinstance(total, bool) or not isinstance(total, int) or total < 0 or not isinstance(recordings, list):
        raise TenantError(
            "Imagicle answered the recordings list without a numeric `total` and a `recordings` list; "
            "the window was not advanced."
        )
    return ListPage(total, recordings)


def _listing_error(exc: BadStatus) -> Exception:
    detail = exc.detail or "no detail"
    if exc.status == 401:
        return AuthenticationError(
            f"Imagicle refused the credentials when listing recordings (HTTP 401: {detail}). Check the "
            "bearer token (`token`) or the client credentials (`oauth`)."
        )
    if exc.status == 403:
        return TenantError(
            f"Imagicle refused to list the recordings (HTTP 403: {detail}). A standard user sees only their own "
            "recordings: use an administrator or controller identity to collect other users' recordings."
        )
    if exc.status == 400:
        return TenantError(
            f"Imagicle rejected the listing parameters (HTTP 400: {detail}). Check this source's `filters` "
            "(tel, sentiment, tagids, users, words, noteswords)."
        )
    return exc


async def transcription(http: HttpClient, recording_id: str) -> Any:
    """The transcription payload, or `TranscriptState.NOT_READY` (204) / `TranscriptState.NONE` (404)."""
    route = recording_path(recording_id) + "/transcription"
    try:
        payload = await http.json("GET", route, empty_ok=(204,))
        return TranscriptState.NOT_READY if payload is None else payload
    except BadStatus as exc:
        if exc.status == 404:
            return TranscriptState.NONE
        raise


@asynccontextmanager
async def audio(http: HttpClient, template: str, recording_id: str) -> AsyncIterator[httpx.Response]:
    """Open a recording's audio at the configured (undocumented) route, streamed."""
    async with http.stream("GET", template.format(id=path_segment(recording_id))) as response:
        yield response
