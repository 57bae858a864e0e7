"""`kestrel_watermark`: a watermark on `call_started_at` with an overlap, as the guide used to teach.

It passes every ordinary check, and loses for good every recording Kestrel attaches later than the
overlap: Kestrel lists it under its call's start. The conformance suite's listing traits fail it.
"""

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx

from collector import (
    CursorPaginator,
    Incremental,
    Page,
    Recording,
    Source,
    SourceContext,
    StaticBearerAuth,
    hookimpl,
    iso,
    paginate,
)

from ._common import KestrelSettings, media, to_recording


class KestrelWatermarkSource(Source):
    """One Kestrel account, listed by call start since the last run's newest, minus an overlap."""

    name = "kestrel_watermark"
    Settings = KestrelSettings
    settings: KestrelSettings
    overlap = timedelta(minutes=30)

    def __init__(self, settings: KestrelSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.api_key))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Recordings whose call started since the watermark minus the overlap."""
        run = Incremental(state, start=self.settings.start, overlap=self.overlap)
        async for listed in paginate(self.http, "/v1/recordings", items="recordings",
                                     paginator=CursorPaginator("next_page_token", param="page_token"),
                                     params={"started_after": iso(run.since), "page_size": 100}, resume=run.resume):
            yield run.page(listed, time="call_started_at")

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One recording."""
        return [to_recording(item, self.context.source, self.context.tenant)]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Its WAV file."""
        return media(self.http, recording)


@hookimpl
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Provide `kestrel_watermark`."""
    register(KestrelWatermarkSource)
