"""The Imagicle Voice Analytics source ("v1/recordings"): closed date windows, reconciled, then content."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from collector import (
    AudioExpectation,
    ItemRejected,
    ItemUnavailable,
    Page,
    RateLimit,
    Recording,
    Source,
    SourceContext,
    TranscriptResult,
    TranscriptState,
)

from . import _api, _mapping
from ._auth import build_auth
from ._settings import DEFAULT_FIRST_RUN_DAYS, ImagicleSettings
from ._windows import Outcome, Progress, Window, WindowRead, format_date, plan_windows, read_range

AUDIO_OFF_NOTE = ("metadata and transcripts only: no audio download endpoint is documented; "
                  "set audio_url_template to enable one")


class ImagicleSource(Source):
    """One Imagicle Voice Analytics account (one tenant).

    Metadata (see `_windows` for the why): each run reads the closed date windows from the
    watermark minus `lookback_hours` (first run: `start_date`) to `settle_seconds` ago, oldest
    first. Each window is paged from `from=0` until the listing reaches the window's `total`; the
    recordings not yet listed in this window are yielded page by page (state unchanged), then an
    empty page carries the new state once the window is settled: reconciled (the watermark moves
    over it), or read `reconcile_attempts` times without reconciling (the watermark stays before
    it, the run summary says so, the next run reads it again). A run killed mid-window re-reads
    that window; re-yielded recordings are upserts, counted as nothing new.
    """

    name = "imagicle"
    Settings = ImagicleSettings
    default_rate_limit = RateLimit(requests=5, per_seconds=1)
    """No limit is documented: five requests a second per account is a conservative guess."""

    settings: ImagicleSettings

    def __init__(self, settings: ImagicleSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, build_auth(settings, context))
        self._filters = settings.filters.params()
        if settings.audio_url_template is None:
            context.note(AUDIO_OFF_NOTE)

    # -- metadata --------------------------------------------------------------------------------

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Read every closed window since the watermark (minus the lookback), oldest first."""
        s = self.settings
        progress = Progress.from_state(state)
        begin, end = read_range(
            progress.watermark, now=datetime.now(timezone.utc), start_date=s.start_date, end_date=s.end_date,
            lookback=s.lookback, settle=s.settle, first_run=timedelta(days=DEFAULT_FIRST_RUN_DAYS),
        )
        windows = plan_windows(begin, end, s.window)
        rereads = 0
        for window in windows:
            listed: set[str] = set()
            read = WindowRead()
            for attempt in range(1, s.reconcile_attempts + 1):
                read = WindowRead()
                async for items in self._read_window(window, read):
                    fresh = []
                    for item in items:
                        key = _mapping.item_key(item)
                        if key not in listed:
                            listed.add(key)
                            fresh.append(item)
                    if fresh:
                        yield Page(fresh)
                if read.reconciled:
                    break
                if attempt < s.reconcile_attempts:
                    rereads += 1
                self.log.info("Window %s does not reconcile on read %d of %d (%s).",
                              window, attempt, s.reconcile_attempts, read.describe())
            outcome = progress.record(window, read.reconciled, s.accept_mismatch_after_runs)
            self._report(window, read, outcome, progress)
            yield Page([], progress.to_state())
        if windows:
            watermark = format_date(progress.watermark) if progress.watermark else "not set"
            self.context.note(f"Read {len(windows)} closed date window(s) from {format_date(begin)} to "
                              f"{format_date(end)}, {rereads} re-read(s); the watermark is at {watermark}.")

    async def _read_window(self, window: Window, read: WindowRead) -> AsyncIterator[list[Any]]:
        """Page through one window from `from=0` until the listing reaches the vendor's total."""
        query = window.query()
        while not read.done:
            page = await _api.list_recordings(
                self.http, offset=read.offset, quantity=self.settings.page_size, window=query, filters=self._filters
            )
            read.add(page.total, (_mapping.item_key(item) for item in page.recordings), len(page.recordings))
            yield page.recordings

    def _report(self, window: Window, read: WindowRead, outcome: Outcome, progress: Progress) -> None:
        if outcome is Outcome.HELD:
            text = (f"The window {window} did not reconcile after {self.settings.reconcile_attempts} reads "
                    f"({read.describe()}): what was listed is kept, and the next run reads it again.")
            if progress.held_start == window.start:
                text += f" Runs it has failed so far: {progress.held_runs}."
        elif outcome is Outcome.ACCEPTED:
            text = (f"The window {window} did not reconcile in {self.settings.accept_mismatch_after_runs} runs "
                    f"({read.describe()}); it is accepted as listed and the watermark moves past it.")
        else:
            return
        self.log.warning("%s", text)
        if outcome is Outcome.HELD:
            self.context.warn(text)  # data may be missing until a later run: the run is partial
        else:
            self.context.note(text)

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
