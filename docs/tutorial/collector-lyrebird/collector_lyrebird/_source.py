"""The Lyrebird source: an account's recordings, listed incrementally, media through redirects."""

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
from collector import BasicAuth, Incremental, Page, Recording, Source, SourceContext

from . import _api, _mapping
from ._settings import LyrebirdSettings


class LyrebirdSource(Source):
    """One Lyrebird account."""

    name = "lyrebird"
    Settings = LyrebirdSettings
    settings: LyrebirdSettings
    default_max_in_flight = 3  # "at most 3 concurrent requests per account"
    overlap = timedelta(minutes=15)  # listed "up to 10 minutes after the call ends", and a margin

    def __init__(self, settings: LyrebirdSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        auth = BasicAuth(settings.account_sid, settings.auth_token)
        self.http = context.http(settings.base_url, auth)

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Recordings created since the newest one the last pass saw, minus the overlap."""
        run = Incremental(state, start=self.settings.start, overlap=self.overlap,
                          restart_from=self.context.restart_from)  # after `collector reset --from`
        async for listed in _api.recordings(self.http, self.settings.account_sid, run):
            yield run.page(listed, time="date_created")

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One listed recording."""
        return [_mapping.to_recording(item, self.context.source, self.context.tenant)]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """The recording's media, through the redirect to its signed URL."""
        return _api.media(self.http, recording.extras["uri"])
