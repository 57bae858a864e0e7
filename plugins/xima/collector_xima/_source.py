"""The Xima CCaaS source: time-window sweeps for metadata, one Opus file per recording, and a second
listing of each settled day as its count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import httpx

from collector import (
    AudioExpectation,
    DownloadsStopped,
    Page,
    Recording,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    TenantError,
    TimeWindows,
    VendorCount,
    account_url,
)

from . import _api, _mapping
from ._settings import DOCUMENTED_LIMIT, XimaSettings

OPUS_SAMPLE_RATE = 8000
CALL_LEAD = timedelta(hours=12)
"""`call-recording-info` selects calls by their start: one that began up to this long before a day
may hold a recording of that day, so a second listing of the day asks from this much earlier."""


class XimaSource(Source):
    """One Xima tenant (one host, one service-user token).

    Metadata: the core's `TimeWindows`, one request per window (Xima has no paging); recent
    windows are swept before they settle, so new recordings arrive at once, but only settled
    windows move the watermark. Audio: one GET per recording, verified as Opus (8 kHz mono
    unless `strict_audio_format` is off) lasting what the metadata says. Every request of the
    tenant shares one limiter (3 per 10 s unless configured otherwise).

    Xima states no count of its own, so a settled day is counted by an independent second listing:
    one request for the whole day (not the sweep's windows), its distinct recordingKeys that start
    in the day, named. It proves that the vendor lists the same recordings when asked again with
    other window boundaries, later: a recording our windowing or a transient listing error missed
    shows up, named, as never listed. It does not prove anything the vendor's listing never shows
    (a recording Xima dropped or never saved is in neither listing).
    """

    name = "xima"
    Settings = XimaSettings
    default_rate_limit = DOCUMENTED_LIMIT

    settings: XimaSettings

    @classmethod
    def account_identity(cls, settings: SourceSettings) -> tuple[str, ...]:
        """Xima limits requests per tenant, and each tenant is its own host: whichever service user's
        token is sent, and however the host is written."""
        assert isinstance(settings, XimaSettings)
        return (account_url(settings.base_url),)

    def __init__(self, settings: XimaSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.token))
        self.windows = TimeWindows(size=settings.window, lookback=settings.lookback, settle=settings.settle_delay,
                                   start=settings.start, unsettled=True)
        limit = settings.effective_rate_limit
        if limit.requests / limit.per_seconds > DOCUMENTED_LIMIT.requests / DOCUMENTED_LIMIT.per_seconds:
            context.note(
                f"The configured rate limit ({limit.requests} per {limit.per_seconds:g} s) is faster than Xima's "
                "documented 3 requests per 10 s; expect 429 answers from a real tenant."
            )

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Sweep the planned windows; commit each with the watermark it earns."""
        s = self.settings
        sweep = self.windows.sweep(state, restart_from=self.context.restart_from)
        for window in sweep.windows:
            answer = await _api.list_window(self.http, s.endpoint, window.start, window.end, s.zone, s.token)
            try:
                items = _mapping.window_items(answer)
            except ValueError as exc:
                raise TenantError(f"{exc} for the window {window}; the window is retried next run.") from None
            yield sweep.page(window, items, vendor_count=len(_mapping.within(items, window.start, window.end)))
        self.context.note(f"{s.endpoint}: {sweep.describe()}")

    async def vendor_count(self, start: datetime, end: datetime) -> VendorCount:
        """A second listing of [start, end) in one request: the recordingKeys that start in it."""
        s = self.settings
        lead = CALL_LEAD if s.endpoint == "call-recording-info" else timedelta(0)
        answer = await _api.list_window(self.http, s.endpoint, start - lead, end, s.zone, s.token)
        keys = {item["recordingKey"] for item in _mapping.within(_mapping.window_items(answer), start, end)
                if isinstance(item.get("recordingKey"), str) and item["recordingKey"]}
        return VendorCount(len(keys), frozenset(keys), method="second listing")

    def listing_period(self) -> tuple[datetime | None, datetime | None]:
        """From `start`, open-ended."""
        return self.settings.start, None

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """Map one recording item (or a whole call, one recording each)."""
        return _mapping.to_recordings(item, source=self.context.source, tenant=self.context.tenant)

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        """The recordingKey (or callKey) of a raw item."""
        return _mapping.item_id(item)

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Open the recording's Opus audio under the configured (or listed) tenant name."""
        tenant_name = self.settings.tenant_name or _mapping.tenant_name(recording.raw)
        if not tenant_name:
            raise DownloadsStopped(
                "Xima's audio URL needs the tenant name, and this recording lists no tenantName: set "
                "`tenant_name` in this tenant's [[sources]] entry (e.g. tenant_name = \"acme-ns\")."
            )
        return _api.open_audio(self.http, tenant_name, recording.vendor_id, self.settings.token,
                               saved=_mapping.saved(recording.raw))

    def expected_audio(self, recording: Recording) -> AudioExpectation:
        """Opus lasting the listed duration; 8 kHz mono too when `strict_audio_format` is on."""
        strict = self.settings.strict_audio_format
        return AudioExpectation(
            duration=recording.duration,
            channels=1 if strict else None,
            sample_rate=OPUS_SAMPLE_RATE if strict else None,
            codec="opus",
        )
