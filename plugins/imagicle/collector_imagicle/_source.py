"""The Imagicle Voice Analytics source ("v1/recordings"): closed date windows, reconciled, then content."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import httpx

from collector import (
    AudioExpectation,
    Auth,
    ItemRejected,
    ItemUnavailable,
    OAuth2ClientCredentials,
    Page,
    RateLimit,
    Recording,
    Source,
    SourceContext,
    StaticBearerAuth,
    Tally,
    TimeWindows,
    TranscriptResult,
    TranscriptState,
    VendorCount,
    Window,
    WindowOutcome,
)

from . import _api, _mapping
from ._settings import DEFAULT_FIRST_RUN_DAYS, ImagicleSettings

AUDIO_OFF_NOTE = ("metadata and transcripts only: no audio download endpoint is documented; "
                  "set audio_url_template to enable one")


def build_auth(settings: ImagicleSettings) -> Auth:
    """A static bearer token, or OAuth2 client credentials (the settings guarantee exactly one)."""
    if settings.token is not None:
        return StaticBearerAuth(settings.token)
    o = settings.oauth
    assert o is not None
    return OAuth2ClientCredentials(o.token_url, client_id=o.client_id, client_secret=o.client_secret, scope=o.scope,
                                   client_auth=o.client_auth, lifetime=o.token_lifetime)


class ImagicleSource(Source):
    """One Imagicle Voice Analytics account (one tenant).

    Offset paging over a list sorted newest first shifts when a recording arrives during a run, so
    metadata is read in closed date windows (the core's `TimeWindows`: from the watermark minus
    `lookback_hours`, or `start_date`, to `settle_seconds` ago). Each window is paged from `from=0`
    until the listing reaches the window's `total`, and read again, up to `reconcile_attempts`
    times, until it reconciles (the distinct recordings listed equal a steady total). Recordings not
    yet listed in this window are yielded page by page; the window's last page carries the state:
    the watermark moves over a reconciled window, a window that does not reconcile is held (swept
    again next run, the run ends partial) until `accept_mismatch_after_runs` runs accept it.
    The vendor's count of a day is the listing's `total` for it (`_api.count`).
    """

    name = "imagicle"
    Settings = ImagicleSettings
    default_rate_limit = RateLimit(requests=5, per_seconds=1)
    """No limit is documented: five requests a second per account is a conservative guess."""
    default_max_in_flight = 2
    default_recount_days = 7  # a count is one `v1/recordings` request: the last week is recounted

    settings: ImagicleSettings

    def __init__(self, settings: ImagicleSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, build_auth(settings))
        self.windows = TimeWindows(size=settings.window, lookback=settings.lookback, settle=settings.settle,
                                   start=settings.start_date, end=settings.end_date,
                                   first_run=timedelta(days=DEFAULT_FIRST_RUN_DAYS),
                                   accept_after=settings.accept_mismatch_after_runs, precision=timedelta(seconds=1))
        self._filters = settings.filters.params()
        if settings.audio_url_template is None:
            context.note(AUDIO_OFF_NOTE)

    # -- metadata --------------------------------------------------------------------------------

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Read every closed window since the watermark (minus the lookback), oldest first."""
        sweep = self.windows.sweep(state, restart_from=self.context.restart_from)
        rereads = 0
        for window in sweep.windows:
            listed: set[str] = set()
            for attempt in range(1, self.settings.reconcile_attempts + 1):
                tally = Tally()
                async for page in _api.list_window(self.http, window, page_size=self.settings.page_size,
                                                   filters=self._filters):
                    keys = [_mapping.item_key(item) for item in page.items]
                    tally.add(page.total, keys)
                    fresh = [item for item, key in zip(page.items, keys, strict=True) if key not in listed]
                    listed.update(keys)
                    if fresh:
                        yield Page(fresh)
                if tally.reconciled:
                    break
                rereads += attempt < self.settings.reconcile_attempts
                self.log.info("Window %s does not reconcile on read %d of %d (%s).",
                              window, attempt, self.settings.reconcile_attempts, tally.describe())
            closing = sweep.page(window, complete=tally.reconciled, vendor_count=tally.vendor_count,
                                 listed=len(tally.keys))
            assert sweep.last_outcome is not None
            self._report(window, tally, sweep.last_outcome, sweep.held_runs)
            yield closing
        if sweep.windows:
            self.context.note(f"{sweep.describe()} {rereads} re-read(s).")

    def _report(self, window: Window, tally: Tally, outcome: WindowOutcome, held_runs: int) -> None:
        if outcome is WindowOutcome.HELD:
            text = (f"The window {window} did not reconcile after {self.settings.reconcile_attempts} reads "
                    f"({tally.describe()}): what was listed is kept, and the next run reads it again. "
                    f"Runs it has failed so far: {held_runs}.")
            self.log.warning("%s", text)
            self.context.warn(text)  # data may be missing until a later run: the run is partial
        elif outcome is WindowOutcome.ACCEPTED:
            text = (f"The window {window} did not reconcile in {self.settings.accept_mismatch_after_runs} runs "
                    f"({tally.describe()}); it is accepted as listed and the watermark moves past it.")
            self.log.warning("%s", text)
            self.context.note(text)

    async def vendor_count(self, start: datetime, end: datetime) -> VendorCount:
        """The listing's `total` for recordings dated in [start, end), with this source's filters."""
        return VendorCount(await _api.count(self.http, start, end, self._filters), method="v1/recordings total")

    def listing_period(self) -> tuple[datetime | None, datetime | None]:
        """From `start_date` to `end_date` (each open when not set)."""
        return self.settings.start_date, self.settings.end_date

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """Map one listed recording."""
        return [_mapping.to_recording(item, source=self.context.source, tenant=self.context.tenant)]

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        """The id of a raw item, if it has one (for the quarantine listing)."""
        try:
            return _mapping.recording_id(item)
        except ValueError:
            return None

    # -- content ---------------------------------------------------------------------------------

    async def fetch_transcripts(self, recordings: Sequence[Recording]) -> Mapping[str, TranscriptResult]:
        """One transcription request per recording: 200 a transcript, 204 not ready yet, 404 none."""
        results: dict[str, TranscriptResult] = {}
        for recording in recordings:
            answer = await _api.transcription(self.http, recording.vendor_id)
            if isinstance(answer, TranscriptState):
                results[recording.vendor_id] = answer
                continue
            try:
                results[recording.vendor_id] = _mapping.to_transcript(recording.vendor_id, answer)
            except ValueError as exc:
                results[recording.vendor_id] = ItemRejected(f"Imagicle sent a transcription we cannot read: {exc}.",
                                                            answer)
        return results

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Open the audio at `audio_url_template` (no audio route is documented)."""
        template = self.settings.audio_url_template
        if template is None:
            raise ItemUnavailable(f"{AUDIO_OFF_NOTE[0].upper()}{AUDIO_OFF_NOTE[1:]}.")
        return _api.audio(self.http, template, recording.vendor_id)

    def expected_audio(self, recording: Recording) -> AudioExpectation:
        """As long as the vendor's `duration`, with its `channels` (1 or 2) when given."""
        return AudioExpectation(duration=recording.duration, channels=_mapping.channels(recording))
