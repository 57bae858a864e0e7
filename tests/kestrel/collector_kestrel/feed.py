"""`kestrel_feed`: Kestrel's change feed, through `collector.ChangeFeed`: nothing is lost."""

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from collector import (
    ChangeFeed,
    CursorPaginator,
    Page,
    Recording,
    Source,
    SourceContext,
    StaticBearerAuth,
    expired_on,
    hookimpl,
)

from ._common import KestrelSettings, media, to_recording


class KestrelFeedSource(Source):
    """One Kestrel account: a snapshot first, then the changes since the last sync token."""

    name = "kestrel_feed"
    Settings = KestrelSettings
    settings: KestrelSettings

    def __init__(self, settings: KestrelSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.api_key))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """The change feed from the committed sync token (a snapshot the first time, or once it expired)."""
        feed = ChangeFeed(self.context, self.http, "/v1/changes", items="changes", params={"page_size": 100},
                          paginator=CursorPaginator("next_page_token", param="page_token"),
                          token="next_sync_token", token_param="sync_token",
                          deleted=lambda item: item["id"] if item.get("deleted") else None,
                          expired=expired_on(400, 410, message="_TOKEN_EXPIRED"))
        async for page in feed.sync(state):
            yield page

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One recording."""
        return [to_recording(item, self.context.source, self.context.tenant)]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Its WAV file."""
        return media(self.http, recording)


@hookimpl
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Provide `kestrel_feed`."""
    register(KestrelFeedSource)
