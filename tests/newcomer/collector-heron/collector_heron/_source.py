"""The Heron source: the changes feed, recordings followed until settled, media in batches."""

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
from collector import (AudioExpectation, ChangeFeed, Children, CursorPaginator, ErrorCodes, ItemNotReady,
                       OAuth2, Page, RateLimit, Recording, Revisit, Source, SourceContext, TenantError,
                       expired_on, path_segment, register_secret)

from ._mapping import not_ready, to_recordings
from ._settings import HeronSettings

# Errors on HTTP 200: `tenant_suspended` stops the tenant, `feed_busy` is asked again later.
ON_200 = ErrorCodes({"tenant_suspended": TenantError, "feed_busy": ItemNotReady}, code="error.code",
                    in_successes=True)


class HeronSource(Source):
    """One Heron workspace."""

    name = "heron"
    Settings = HeronSettings
    settings: HeronSettings
    default_rate_limit = RateLimit(requests=5, per_seconds=1)  # "5 requests per second"
    default_revisit_interval = timedelta(minutes=5)  # "ask again every few minutes"
    audio_batch_size = 50  # "1 to 50 segment ids"
    audio_batch_lifetime = timedelta(seconds=30)  # signed URLs are valid for 30 seconds

    def __init__(self, settings: HeronSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, OAuth2(  # client credentials, as HTTP Basic
            "/oauth/token", client_id=settings.client_id, client_secret=settings.client_secret,
        )).with_defaults(errors=ON_200, estimate="error.retry_after")

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """The snapshot, then the changes since its token; all again on 410 (or a stale cursor)."""
        feed = ChangeFeed(
            self.context, self.http, "/v2/recordings/changes", method="POST", json={"limit": 200},
            items="recordings", paginator=CursorPaginator(in_body=True, until_empty=False), token="next_sync_token",
            token_param="sync_token", token_in_body=True,
            deleted=lambda item: item["id"] if item.get("deleted") else None,
            expired=expired_on(400, 410, message="_expired"))
        async for page in feed.sync(state):
            yield page

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording | Revisit]:
        return to_recordings(item, self.context.source, self.context.tenant)

    async def children(self, parent: Revisit) -> Children:
        """The recording as it is now; 404 (`recording_deleted`, also on the media host): gone."""
        url = f"/v2/recordings/{path_segment(parent.payload['id'])}"
        body = await self.http.json("GET", url, unavailable_on=(404,))
        return Children([body], complete=bool(body["settled"]))

    async def open_audio_batch(self, recordings: Sequence[Recording]) -> Mapping[str, Any]:
        """One media batch of segment ids; each signed URL is downloaded at once."""
        ids = [recording.vendor_id for recording in recordings]
        answer = await self.http.json("POST", "/v2/media/batch", json={"ids": ids})
        return {item["id"]: self._download(item["url"]) if item.get("status") == "ready"
                else not_ready(item) for item in answer["items"]}

    def _download(self, url: str) -> AbstractAsyncContextManager[httpx.Response]:
        register_secret(url.partition("?")[2])  # the signature: a credential while it is valid
        return self.http.stream("GET", url, rate_limited=False, unavailable_on=(404,))  # no auth

    def expected_audio(self, recording: Recording) -> AudioExpectation:
        """WAV, 8 kHz 16-bit, `channels` channels, no longer than the rest of the call; the media
        host's X-Heron-Sha256 header must match."""
        return AudioExpectation(recording.duration, recording.extras["channels"], 8000, "pcm_16",
                                duration_is_upper_bound=True, checksum_header="sha256:X-Heron-Sha256")
