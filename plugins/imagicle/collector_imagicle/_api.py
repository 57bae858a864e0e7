"""The raw Imagicle Voice Analytics calls ("Recordings.v1"), kept apart from mapping what they return.

Routes, relative to the account's base URL (documented: `https://eu.api.imagicle.com/voice-analytics`):
- `GET /v1/recordings` ?quantity&from (required), startdate/enddate, tel, sentiment, tagids, users,
  words, noteswords -> {"total": n, "recordings": [...]} newest first. 400 bad parameters; 403 a
  standard user asking for other users' recordings.
- `GET /v1/recordings/{id}/transcription` -> {"speakers": [...], "sentences": [...]}; 204 while the
  transcription is in progress; 404 is read as "no transcript for this recording" (undocumented).
- audio: no route is documented; `audio_url_template` names one if the tenant has it.

Date bounds are sent as `startdate = start - 1 s` and `enddate = end`, at whole seconds: whether
the vendor treats either bound as inclusive (undocumented), adjacent windows overlap by one
second, so a recording dated exactly on a boundary is always listed; the catalog's upsert makes
the overlap harmless. Recording ids are percent-encoded as one path segment.

The vendor's count of a period [start, end) is the `total` of the same query (`quantity=1`), less
the recordings of its two boundary seconds that belong to the neighbouring periods, read from a
listing of each boundary second asked the same way: whichever bounds the vendor includes, each
recording is counted in one period only. Three requests per count (one when the total is 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from collector import (
    AuthenticationError,
    BadStatus,
    HttpClient,
    ListedPage,
    OffsetPaginator,
    TenantError,
    TranscriptState,
    Window,
    iso,
    paginate,
    parse_iso,
    path_segment,
)

RECORDINGS_ROUTE = "/v1/recordings"
OVERLAP = timedelta(seconds=1)


def window_query(window: Window) -> dict[str, str]:
    """`startdate`/`enddate` for a window (one second of overlap before its start)."""
    return {"startdate": iso(window.start - OVERLAP, "seconds"), "enddate": iso(window.end, "seconds")}


async def list_window(http: HttpClient, window: Window, *, page_size: int,
                      filters: Mapping[str, str]) -> AsyncIterator[ListedPage]:
    """The pages of one window's listing, from `from=0` until the listing reaches the vendor's total."""
    paginator = OffsetPaginator(page_size, offset_param="from", limit_param="quantity", total="total")
    try:
        async for page in paginate(http, RECORDINGS_ROUTE, paginator=paginator, items="recordings",
                                   params={**window_query(window), **filters}):
            if page.total is None:
                raise TenantError("Imagicle answered the recordings list without a numeric `total`; "
                                  "the window was not advanced.")
            yield page
    except BadStatus as exc:
        raise _listing_error(exc) from None


async def count(http: HttpClient, start: datetime, end: datetime, filters: Mapping[str, str]) -> int:
    """How many recordings are dated in [start, end) (see the module docstring)."""
    total, _ = await _page(http, Window(start, end, True), filters, 1)
    if total == 0:
        return 0  # nothing at either boundary either
    _, before = await _page(http, Window(start, start, True), filters, 100)  # [start - 1 s, start]
    _, after = await _page(http, Window(end, end, True), filters, 100)  # [end - 1 s, end]
    return total - sum(date < start for date in before) - sum(date >= end for date in after)


async def _page(http: HttpClient, window: Window, filters: Mapping[str, str],
                quantity: int) -> tuple[int, list[datetime]]:
    try:
        answer = await http.json("GET", RECORDINGS_ROUTE, params={**window_query(window), **filters,
                                                                  "quantity": quantity, "from": 0})
    except BadStatus as exc:
        raise _listing_error(exc) from None
    total = answer.get("total") if isinstance(answer, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise TenantError("Imagicle answered the recordings list without a whole number `total`.")
    return total, [date for item in answer.get("recordings") or [] if (date := _date(item))]


def _date(item: Any) -> datetime | None:
    """A listed recording's `date`, if it reads (an item whose date does not is quarantined when listed)."""
    try:
        return parse_iso(item["date"])
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


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
    route = f"{RECORDINGS_ROUTE}/{path_segment(recording_id)}/transcription"
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
