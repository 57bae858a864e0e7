"""The raw Focus API calls, kept apart from mapping what they return.

Routes (relative to the tenant's base URL):
- `POST /authWithApiKey` {clientId, apiKey, username} -> {token, refreshToken}. An older page
  spells it `/authWithAPIKey`; on a 404 the other spelling is tried and remembered.
  No refresh route is documented, so a token is renewed by authenticating again.
- `GET /client/recording/cursor` ?numberOfResults, then ?cursorId, or ?fromDate on the first call.
- `POST /client/recording.transcription.get` {interactionIds: [...]}.
- `POST /client/recording.playBackByThirdPartyId` {thirdPartyId, format, comment?} -> audio stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import httpx

from collector import (
    AuthenticationError,
    DownloadsStopped,
    HttpClient,
    BadStatus,
    ItemDeferred,
    ItemUnavailable,
    TenantError,
    Token,
    TokenAuth,
    TokenChannel,
    jwt_expiry,
)

from ._settings import FocusSettings

AUTH_ROUTES = ("/authWithApiKey", "/authWithAPIKey")
CURSOR_ROUTE = "/client/recording/cursor"
TRANSCRIPTS_ROUTE = "/client/recording.transcription.get"
PLAYBACK_ROUTE = "/client/recording.playBackByThirdPartyId"


class FocusAuth(TokenAuth):
    """API key -> short-lived JWT; renewed before its `exp`, and once when a call answers 401."""

    def __init__(self, settings: FocusSettings) -> None:
        super().__init__(renew_margin=30.0)
        self._settings = settings
        self._routes = list(AUTH_ROUTES)

    async def fetch_token(self, http: TokenChannel) -> Token:
        """Authenticate with the API key, trying the other documented spelling of the route on 404."""
        s = self._settings
        body = {"clientId": s.client_id, "apiKey": s.api_key.get_secret_value(), "username": s.username}
        for route in list(self._routes):
            try:
                data = await http.json("POST", route, json=body)
            except BadStatus as exc:
                if exc.status == 404 and route != self._routes[-1]:
                    self._routes.remove(route)
                    self._routes.append(route)
                    continue
                if exc.status in (400, 401, 403):
                    raise AuthenticationError(
                        f"Focus refused the API key of clientId {s.client_id}, username {s.username!r} "
                        f"(HTTP {exc.status}: {exc.detail or 'no detail'}). Check the key and the username."
                    ) from None
                raise
            token = data.get("token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise TenantError("Focus answered the authentication request without a token.")
            return Token(token, jwt_expiry(token) or time.time() + s.token_lifetime)
        raise AuthenticationError(f"Focus has no authentication route at {http.base_url} (tried {', '.join(AUTH_ROUTES)}).")


async def cursor_page(http: HttpClient, *, page_size: int, cursor: str | None, start: datetime | None) -> tuple[list[Any], str]:
    """One cursor page: the raw recordings and the next cursor."""
    params: dict[str, str | int] = {"numberOfResults": page_size}
    if cursor:
        params["cursorId"] = cursor
    elif start is not None:
        params["fromDate"] = start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = await http.json("GET", CURSOR_ROUTE, params=params)
    recordings = data.get("recordings") if isinstance(data, dict) else None
    next_cursor = data.get("nextCursorId") if isinstance(data, dict) else None
    if not isinstance(recordings, list) or not isinstance(next_cursor, str) or not next_cursor:
        raise TenantError(
            "Focus answered the cursor request without a `recordings` list and a `nextCursorId`; "
            "the cursor was not advanced."
        )
    return recordings, next_cursor


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
