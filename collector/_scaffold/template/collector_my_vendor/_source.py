"""The MyVendor source: one tenant's recordings, listed incrementally, and their audio."""

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx

from collector import (
    Incremental,
    Page,
    RateLimit,
    Recording,
    Source,
    SourceContext,
    StaticBearerAuth,
)

from . import _api, _mapping
from ._settings import MyVendorSettings


class MyVendorSource(Source):
    """One MyVendor tenant."""

    name = "my_vendor"
    Settings = MyVendorSettings
    settings: MyVendorSettings
    default_rate_limit = RateLimit(requests=20, per_seconds=1)  # what the vendor documents
    default_max_in_flight = 4  # the vendor's limit on requests in flight, if it has one
    # How late the vendor may list a recording, and a margin. A watermark is safe only where the
    # vendor documents that bound: otherwise see the docs' "Choosing a listing strategy" (toolkit).
    overlap = timedelta(minutes=10)

    def __init__(self, settings: MyVendorSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.api_key))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Recordings created since the newest one the last pass saw, minus the overlap."""
        run = Incremental(state, start=self.settings.start, overlap=self.overlap,
                          restart_from=self.context.restart_from)  # after `collector reset --from`
        async for listed in _api.recordings(self.http, run, self.settings.page_size):
            yield run.page(listed, time="created_at")

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One listed recording."""
        return [_mapping.to_recording(item, self.context.source, self.context.tenant)]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """The recording's audio."""
        return _api.audio(self.http, recording.vendor_id)
