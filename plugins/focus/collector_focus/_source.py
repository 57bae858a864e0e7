"""The Focus source: cursor synchronisation, batched transcripts, audio by thirdPartyId."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from collector import (
    AudioExpectation,
    ItemRejected,
    ItemUnavailable,
    Page,
    PageRequest,
    RateLimit,
    Recording,
    Source,
    SourceContext,
    SourceSettings,
    TranscriptResult,
    TranscriptState,
    VendorCount,
    account_url,
)

from . import _api, _mapping
from ._settings import FocusSettings


class FocusSource(Source):
    """One Focus tenant.

    Metadata: the cursor API, a feed the core's `CursorPaginator` walks. The first run starts at
    `start_date` (or the beginning of the tenant's data); each page's `nextCursorId` is committed
    with that page's recordings, so a killed run resumes from the last committed page; an empty
    page still records its cursor, and ends the pass ("keep requesting until you get an empty
    result set"). The vendor's count of a day is `recording.search`'s `total` for it.
    """

    name = "focus"
    Settings = FocusSettings
    default_rate_limit = RateLimit(requests=10, per_seconds=1)
    default_max_in_flight = 2  # "throttle bulk synchronisation jobs to a steady request rate"
    default_recount_days = 7  # a count is one `recording.search` request: the last week is recounted

    settings: FocusSettings

    @classmethod
    def account_identity(cls, settings: SourceSettings) -> tuple[str, ...]:
        """Focus limits requests per tenant: its account id in its region, whoever's key is sent."""
        assert isinstance(settings, FocusSettings)
        return (account_url(settings.api_url), f"client_id={settings.client_id}")

    def __init__(self, settings: FocusSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.api_url, _api.FocusAuth(settings))
        self.transcript_batch_size = settings.transcript_batch_size

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Follow the cursor from the stored one (or from `start_date`) until an empty page."""
        state = state or {}
        resume = PageRequest.from_state(state.get("next"))
        if resume is None and isinstance(state.get("cursor"), str):  # a state written before the toolkit
            resume = PageRequest(_api.CURSOR_ROUTE, {"cursorId": state["cursor"]})
        async for page in _api.listing(self.http, page_size=self.settings.page_size,
                                       start=self.context.restart_from or self.settings.start_date,
                                       resume=resume):
            yield Page(page.items, page.state())

    async def vendor_count(self, start: datetime, end: datetime) -> VendorCount:
        """`recording.search`'s `total` for recordings starting in [start, end)."""
        return VendorCount(await _api.search_total(self.http, start, end), method="recording.search total")

    def listing_period(self) -> tuple[datetime | None, datetime | None]:
        """From `start_date` (else from the oldest recording stored), open-ended."""
        return self.settings.start_date, None

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """Map one cursor-page recording."""
        return [_mapping.to_recording(item, source=self.context.source, tenant=self.context.tenant)]

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        """The interactionId of a raw item, if it has one."""
        try:
            return _mapping.interaction_id(item)
        except (ValueError, AttributeError):
            return None

    async def fetch_transcripts(self, recordings: Sequence[Recording]) -> Mapping[str, TranscriptResult]:
        """Ask for a batch of transcripts; a recording missing from the answer is not ready yet."""
        results: dict[str, TranscriptResult] = {}
        wanted = []
        for recording in recordings:
            if str(recording.extras.get("type") or "").lower() == "sms":
                results[recording.vendor_id] = TranscriptState.NONE  # an SMS has a body, not a transcript
            else:
                wanted.append(recording)
        if not wanted:
            return results
        answer = await _api.transcriptions(self.http, [r.raw.get("interactionId", r.vendor_id) for r in wanted])
        try:
            entries = _mapping.transcript_entries(answer)
        except ValueError as exc:
            rejected = ItemRejected(f"Focus sent a transcription answer we cannot read: {exc}.")
            return {r.vendor_id: rejected for r in wanted}
        for entry in entries:
            try:
                transcript = _mapping.to_transcript(entry)
            except ValueError as exc:
                vendor_id = self.item_id(entry)
                if vendor_id is not None:
                    results[vendor_id] = ItemRejected(f"Focus sent a transcript we cannot read: {exc}.", dict(entry))
                continue
            if transcript is not None:
                results[transcript.vendor_id] = transcript
        return results

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Open the recording's audio in the configured format, sending the justification if set."""
        return self._open_audio(recording)

    @asynccontextmanager
    async def _open_audio(self, recording: Recording) -> AsyncIterator[httpx.Response]:
        third_party_id = recording.raw.get("thirdPartyId")
        if not isinstance(third_party_id, str) or not third_party_id:
            raise ItemUnavailable("The recording has no thirdPartyId to download its audio with.")
        comment = self.settings.download_comment if self.settings.audio else None
        if comment:
            # Our side of Focus's access audit: what justification we gave, for which recording, when.
            await self.context.audit(recording.key, "download-comment", comment)
        async with _api.playback(self.http, third_party_id, self.settings.audio_format, comment) as response:
            yield response

    def expected_audio(self, recording: Recording) -> AudioExpectation:
        """The configured format's codec and channels, and the vendor's duration."""
        audio_format = self.settings.audio_format
        return AudioExpectation(
            duration=recording.duration,
            channels=1 if audio_format.endswith("-mono") else None,
            codec="mp3" if audio_format.startswith("mp3") else "pcm",
        )
