"""The raw Focus API calls, kept apart from mapping what they return.

Routes (relative to the tenant's base URL):
- `POST /authWithApiKey` {clientId, apiKey, username} -> {token, refreshToken}. An older page
  spells it `/authWithAPIKey`; on a 404 the other spelling is tried and remembered.
  No refresh route is documented, so a token is renewed by authenticating again.
- `GET /client/recording/cursor` ?numberOfResults, then ?cursorId, or ?fromDate on the first call.
- `POST /client/recording.search` {dateTimeRange, page, pageSize} -> {page, pageSize, total, recordings}:
  only its `total`, as the vendor's count of a day (pageSize 1).
- `POST /client/recording.transcription.get` {interactionIds: [...]}.
- `POST /client/recording.playBackByThirdPartyId` {thirdPartyId, format, comment?} -> audio stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from collector import (
    AuthenticationError,
    BadStatus,
    CursorPaginator,
    DownloadsStopped,
    HttpClient,
    ItemDeferred,
    ItemUnavailable,
    ListedPage,
    PageRequest,
    TenantError,
    Token,
    TokenChannel,
    TokenExchange,
    iso,
    paginate,
)

from ._settings import FocusSettings

AUTH_ROUTES = ("/authWithApiKey", "/authWithAPIKey")
CURSOR_ROUTE = "/client/recording/cursor"
SEARCH_ROUTE = "/client/recording.search"
TRANSCRIPTS_ROUTE = "/client/recording.transcription.get"
PLAYBACK_ROUTE = "/client/recording.playBackByThirdPartyId"


class FocusAuth(TokenExchange):
    """API key -> short-lived JWT (renewed before its `exp`), at whichever auth route spelling works."""

    def __init__(self, s: FocusSettings) -> None:
        super().__init__(AUTH_ROUTES[0], json={"clientId": s.client_id, "apiKey": s.api_key, "username": s.username},
                         lifetime=s.token_lifetime,
                         hint=f"Check the API key of clientId {s.client_id} and the username {s.username!r}.")
        self._routes = list(AUTH_ROUTES)

    async def fetch_token(self, channel: TokenChannel) -> Token:
        """Authenticate, trying the other documented spelling of the route on a 404."""
        for route in list(self._routes):
            self.route = route
            try:
                return await super().fetch_token(channel)
            except BadStatus as exc:
                if exc.status != 404:
                    raise
                self._routes.append(self._routes.pop(0))  # remember the spelling that did not answer
        raise AuthenticationError(f"Focus has no authentication route at {channel.base_url} "
                                  f"(tried {', '.join(AUTH_ROUTES)}).")


def listing(http: HttpClient, *, page_size: int, start: datetime | None,
            resume: PageRequest | None) -> AsyncIterator[ListedPage]:
    """The cursor feed: `fromDate` on the first call only, then `cursorId`, up to an empty page
    whose cursor the next run starts from ("use the resulting nextCursorId even though it was empty")."""
    params: dict[str, Any] = {"numberOfResults": page_size}
    if start is not None:
        params["fromDate"] = iso(start, "seconds")
    paginator = CursorPaginator("nextCursorId", param="cursorId", feed=True, first_page_only=("fromDate",))
    return paginate(http, CURSOR_ROUTE, paginator=paginator, items="recordings", params=params,
                    resume=resume.with_params(numberOfResults=page_size) if resume else None)


async def search_total(http: HttpClient, start: datetime, end: datetime) -> int:
    """How many recordings start in [start, end), by `recording.search`'s `total` (one recording per page).

    Whether `to` is inclusive is not documented, so it is sent as the last millisecond before `end`:
    either reading counts each recording on one day only."""
    period = {"from": iso(start, "milliseconds"), "to": iso(end - timedelta(milliseconds=1), "milliseconds")}
    answer = await http.json("POST", SEARCH_ROUTE, json={"dateTimeRange": period, "page": 1, "pageSize": 1})
    total = answer.get("total") if isinstance(answer, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise TenantError("Focus answered recording.search without a whole number `total`.")
    return total


async def transcriptions(http: HttpClient, interaction_ids: Sequence[Any]) -> Any:
    """The raw answer of `recording.transcription.get` for a batch of interactionIds."""
    return await http.json("POST", TRANSCRIPTS_ROUTE, json={"interactionIds": list(interaction_ids)})


@asynccontextmanager
async def playback(http: HttpClient, third_party_id: str, audio_format: str,
                   comment: str | None) -> AsyncIterator[httpx.Response]:
    """Open a recording's audio stream, turning Focus's error answers into the collector's taxonomy."""
    body: dict[str, str] = {"thirdPartyId": third_party_id, "format": audio_format}
    if comment:
        body["comment"] = comment
    try:
        async with http.stream("POST", PLAYBACK_ROUTE, json=body) as response:
            yield response
    except BadStatus as exc:
        raise _playback_error(exc, comment) from None


def _playback_error(exc: BadStatus, comment: str | None) -> Exception:
    detail = exc.detail or "no detail"
    if exc.status == 400 and "comment" in detail.lower():
        if comment:
            return DownloadsStopped(f"Focus rejected the download comment: {detail}")
        return DownloadsStopped(
            "This Focus tenant requires a justification comment on every audio download (forced comments). "
            "Set `download_comment` (and `forced_comments = true`) in its [[sources]] entry."
        )
    if exc.status == 403:
        return ItemUnavailable(f"Focus denies access to this recording's media (HTTP 403: {detail}).")
    if exc.status == 404:
        return ItemDeferred(f"Focus does not know this recording's thirdPartyId (HTTP 404: {detail}).")
    return exc
