"""Focus-specific behaviour over real HTTP against the Focus emulator."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector import ConfigError, Direction, MediaAvailability
from collector.engine import EXIT_WAITING, Plugins, load_config
from collector.testing import collect, inspect_store, query_catalog, write_config
from collector_focus._mapping import to_recording
from collector_focus.testing import FocusEmulation


def config(tmp_path: Path, emulation: FocusEmulation, *, only: str | None = None, **settings: Any) -> Path:
    """A config for the emulated tenants (or only one), with `settings` applied; None removes a key."""
    sources = [
        {k: v for k, v in {**table, **settings}.items() if v is not None}
        for table in emulation.sources() if only in (None, table["tenant"])
    ]
    return write_config(tmp_path, sources)


def assert_everything_arrived(tmp_path: Path, focus: FocusEmulation) -> None:
    contents = inspect_store(tmp_path / "store")
    expected = focus.expected()
    assert not contents.problems
    assert dict(contents.recordings) == expected.recordings
    assert dict(contents.audio) == expected.audio


def catalog(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    return query_catalog(tmp_path / "store", sql)


def auth_requests(emulation: FocusEmulation) -> int:
    return emulation.emulator.count(kind="auth")


def test_tokens_that_expire_mid_run_are_renewed_before_expiry(tmp_path: Path, focus: FocusEmulation) -> None:
    for tenant in focus.tenants:
        tenant.token_lifetime = 0.6
    focus.set_latency(0.03)
    result = collect(config(tmp_path, focus))
    assert result.exit_code == 0
    assert auth_requests(focus) >= 4  # several tokens per tenant over the run
    assert focus.emulator.count(status=401) == 0  # renewed early: the vendor never had to refuse one


def test_a_401_mid_run_reauthenticates_once_per_tenant(tmp_path: Path, focus: FocusEmulation) -> None:
    focus.emulator.expire_tokens_at = 20  # every token dies at the 20th request, while requests are in flight
    result = collect(config(tmp_path, focus, max_in_flight=4, download_workers=4))
    assert result.exit_code == 0, [s.messages for s in result.summaries]
    assert focus.emulator.count(status=401) >= 1
    assert auth_requests(focus) == 4  # one token each at the start, one renewal each after the expiry
    assert_everything_arrived(tmp_path, focus)


@pytest.mark.parametrize("style", ["seconds", "date"])
def test_429_waits_for_retry_after_and_completes(tmp_path: Path, focus: FocusEmulation, style: str) -> None:
    focus.emulator.faults.retry_after = "1" if style == "seconds" else "date"
    focus.emulator.faults.inject("429", kind="metadata", count=2)
    result = collect(config(tmp_path, focus, only="one"))  # one tenant: a 429 pauses only its own requests
    assert result.exit_code == 0
    assert result.summaries[0].retried >= 2
    log = focus.emulator.log
    for index, entry in enumerate(log):
        if entry.status == 429 and style == "seconds":
            later = [e.at for e in log[index + 1:] if e.kind == "metadata"]
            assert later[0] - entry.at >= 0.95  # nobody asked again before Retry-After had passed
    contents = inspect_store(tmp_path / "store")
    assert contents.recordings["one"] == focus.expected().recordings["one"]


def test_recordings_arriving_while_the_run_pages_are_collected_once(tmp_path: Path, focus: FocusEmulation) -> None:
    def arrive(request: Any) -> None:  # two recordings land right after each of the next 6 cursor pages
        focus.emulator.add_recordings(focus.tenant("one").client_id, 2)

    focus.emulator.after_request("metadata", arrive, times=6)
    before = len(focus.expected().recordings["one"]) + len(focus.expected().recordings["two"])
    result = collect(config(tmp_path, focus))
    assert result.exit_code == 0
    assert sum(s.new_recordings for s in result.summaries) == before + 12  # every arrival, each once
    assert_everything_arrived(tmp_path, focus)
    assert collect(config(tmp_path, focus)).summaries[0].nothing_new


def test_forced_comments_are_sent_and_audited(tmp_path: Path, focus: FocusEmulation) -> None:
    result = collect(config(tmp_path, focus, only="two"))
    assert result.exit_code == 0
    tenant = focus.tenant("two")
    downloads = len(inspect_store(tmp_path / "store").audio["two"])
    assert downloads > 0 and len(tenant.comments) == downloads
    assert {comment for _, comment in tenant.comments} == {"QA review for ticket #1234"}
    audit = catalog(tmp_path, "SELECT vendor_id, at, action, detail FROM audit")
    assert len(audit) == downloads
    assert all(action == "download-comment" and detail == "QA review for ticket #1234" and at.endswith("Z")
               for _, at, action, detail in audit)


def test_a_tenant_demanding_comments_without_one_configured_stops_downloads_clearly(
        tmp_path: Path, focus: FocusEmulation) -> None:
    first = collect(config(tmp_path, focus, only="two", forced_comments=False, download_comment=None))
    (summary,) = first.summaries
    assert first.exit_code == 1 and summary.status.value == "stopped"
    assert summary.new_recordings == len(focus.expected().recordings["two"])  # metadata went on
    assert any("requires a justification comment" in m and "download_comment" in m for m in summary.messages)
    assert summary.deferred > 0 and summary.audio_files == 0
    fixed = config(tmp_path, focus, only="two")
    second = collect(fixed)
    assert second.exit_code == 0


def test_forced_comments_without_a_comment_is_a_config_error(tmp_path: Path, focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="two")
    path.write_text(path.read_text().replace('download_comment = "QA review for ticket #1234"\n', ""))
    with pytest.raises(ConfigError) as raised:
        load_config(path, Plugins())
    (problem,) = raised.value.problems
    assert "sources[0].download_comment: is required because `forced_comments` is true" in problem


def test_transcripts_in_progress_are_fetched_on_a_later_run(tmp_path: Path) -> None:
    focus = FocusEmulation(in_progress=True)
    try:
        _transcripts_in_progress_are_fetched_later(tmp_path, focus)
    finally:
        focus.close()


def _transcripts_in_progress_are_fetched_later(tmp_path: Path, focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="one", transcript_wait_days=365)
    first = collect(path)
    (summary,) = first.summaries
    assert summary.transcripts > 0 and summary.waiting > 0 and first.exit_code == EXIT_WAITING
    focus.emulator.make_transcripts_ready()
    second = collect(path)
    assert second.summaries[0].transcripts > 0
    stored = catalog(tmp_path, "SELECT path FROM transcripts WHERE status='stored'")
    document = (tmp_path / "store" / stored[0][0]).read_text()
    assert '"segments"' in document and '"speaker"' in document


def test_a_transcript_that_never_comes_is_given_up_after_the_waiting_period(tmp_path: Path,
                                                                             focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="one", transcript_wait_days=0)
    collect(path)
    collect(path)
    statuses = dict(catalog(tmp_path, "SELECT status, COUNT(*) FROM transcripts GROUP BY status"))
    assert set(statuses) == {"stored", "unavailable"}


def test_recordings_without_audio_are_recorded_as_such_and_never_requested(tmp_path: Path,
                                                                            focus: FocusEmulation) -> None:
    collect(config(tmp_path, focus, only="one"))
    rows = catalog(tmp_path, "SELECT r.raw, a.status, a.reason FROM recordings r JOIN audio a USING (vendor_id)")
    unavailable = [(raw, reason) for raw, status, reason in rows if status == "unavailable"]
    assert any('"type":"sms"' in raw for raw, _ in unavailable)
    assert any('"mediaAccessStatus":"Denied"' in raw for raw, _ in unavailable)
    audio_requests = focus.emulator.count(kind="audio")
    assert audio_requests == len(rows) - len(unavailable)
    again = collect(config(tmp_path, focus, only="one"))
    assert again.exit_code == 0 and focus.emulator.count(kind="audio") == audio_requests


def test_a_service_user_without_the_play_right_gets_unavailable_not_retries(tmp_path: Path,
                                                                             focus: FocusEmulation) -> None:
    focus.tenant("one").rights = frozenset({"Recording.View", "Recording.Transcription.View"})
    result = collect(config(tmp_path, focus, only="one"))
    assert result.summaries[0].unavailable > 0 and result.summaries[0].audio_files == 0
    reasons = {r for (r,) in catalog(tmp_path, "SELECT reason FROM audio WHERE status='unavailable'")}
    assert any("HTTP 403" in r and "Recording.Play" in r for r in reasons)


@pytest.mark.parametrize(("audio_format", "extension", "channels"), [("wav-mono", ".wav", 1), ("mp3", ".mp3", 2)])
def test_audio_comes_in_the_configured_format(tmp_path: Path, focus: FocusEmulation, audio_format: str,
                                              extension: str, channels: int) -> None:
    collect(config(tmp_path, focus, only="one", audio_format=audio_format))
    rows = catalog(tmp_path, "SELECT path, channels, sample_rate FROM audio WHERE status='stored'")
    assert rows and all(p.endswith(extension) and c == channels and rate == 8000 for p, c, rate in rows)


def test_the_older_auth_route_spelling_works(tmp_path: Path) -> None:
    emulation = FocusEmulation(auth_routes=("/authWithAPIKey",))
    try:
        result = collect(config(tmp_path, emulation))
        assert result.exit_code == 0
        assert emulation.emulator.count(status=404, kind="unknown") >= 1
    finally:
        emulation.close()


def test_a_wrong_api_key_stops_that_tenant_only(tmp_path: Path, focus: FocusEmulation) -> None:
    real_key = focus.tenant("two").api_key
    focus.tenant("two").api_key = "a-different-key-from-the-portal"
    result = collect(config(tmp_path, focus))
    by_tenant = {s.tenant: s for s in result.summaries}
    assert by_tenant["one"].status.value == "ok"
    assert by_tenant["two"].status.value == "stopped" and by_tenant["two"].new_recordings == 0
    (message,) = by_tenant["two"].messages
    assert "refused the credentials at POST /authWithApiKey (HTTP 401" in message and real_key not in message
    assert "Check the API key of clientId 7002 and the username 'svc-two'." in message


def test_start_date_applies_to_the_first_run_only(tmp_path: Path, focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="one", start_date=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    collect(path)
    held = inspect_store(tmp_path / "store").recordings["one"]
    assert 0 < len(held) < len(focus.expected().recordings["one"])
    focus.add_recordings(2)
    second = collect(path)
    assert second.summaries[0].new_recordings == 2  # from the stored cursor, not from start_date again


def test_an_empty_page_still_advances_the_stored_cursor(tmp_path: Path, focus: FocusEmulation) -> None:
    collect(config(tmp_path, focus, only="one"))
    (state,) = catalog(tmp_path, "SELECT state FROM sync_state")
    tenant = focus.tenant("one")
    cursor = focus.emulator._encode_cursor(tenant, len(tenant.arrivals))
    assert json.loads(state[0]) == {"next": {"url": "/client/recording/cursor",
                                             "params": {"numberOfResults": 7, "cursorId": cursor}}}


def test_a_cursor_stored_before_the_toolkit_is_followed(tmp_path: Path, focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="one")
    collect(path)
    tenant = focus.tenant("one")
    cursor = focus.emulator._encode_cursor(tenant, len(tenant.arrivals))
    old_state = json.dumps({"cursor": cursor}, separators=(",", ":"))
    with sqlite3.connect(tmp_path / "store" / "catalog.sqlite") as db:
        db.execute("UPDATE sync_state SET state=?", (old_state,))
    focus.add_recordings(2)
    assert collect(path).summaries[0].new_recordings == 2


DOC_EXAMPLE = {
    "interactionId": 110, "startDatetimeUTC": "2025-05-01T09:01:10.956Z", "endDatetimeUTC": "2025-05-01T09:09:13.902Z",
    "durationInSeconds": 482.946, "type": "teams", "commentsCount": 0, "transcriptSnippet": "The call focused on...",
    "thirdPartyId": "6414aa9f-ZZZAAABBB|1682400c-ZZZAAABBB|1746ZZZAAABBB",
    "endpoints": [
        {"person": {"id": 10, "fullName": "Jane Smith"}, "endpoint": {"id": 11, "type": "teamsUserId",
         "endpoint": "6414aa9f-ZZZAAABBB"}, "user": None, "isOriginator": True, "isRecordingSubject": True},
        {"endpoint": {"id": 12, "type": "teamsUserId", "endpoint": "89fb9d01-ZZZAAABBB"},
         "isRecordingSubject": False, "isOriginator": False},
    ],
    "analysis": ["Project Management"], "retentionGroupId": None, "retainUntil": "2035-04-29T09:09:13.902Z",
    "legalHolds": None, "tags": ["callCategory.categoryNames.Project_Management"], "isPrivate": False,
    "isPrivateReason": None, "mediaAccessStatus": "Permitted", "dataGroups": None, "optional": {},
}


def test_the_documented_payload_maps_to_the_model() -> None:
    r = to_recording(DOC_EXAMPLE, source="focus", tenant="t")
    assert (r.vendor_id, r.call_id, r.duration) == ("110", DOC_EXAMPLE["thirdPartyId"], 482.946)
    assert r.start == datetime(2025, 5, 1, 9, 1, 10, 956000, tzinfo=UTC)
    assert r.direction is Direction.UNKNOWN and r.media is MediaAvailability.AVAILABLE
    assert [(p.name, p.number, p.role, p.is_agent) for p in r.parties] == [
        ("Jane Smith", "6414aa9f-ZZZAAABBB", "originator", True), (None, "89fb9d01-ZZZAAABBB", "participant", False)]
    assert r.tags == ["callCategory.categoryNames.Project_Management"]
    assert r.extras["type"] == "teams" and r.extras["retainUntil"] == "2035-04-29T09:09:13.902Z"
    assert r.raw == DOC_EXAMPLE
    assert to_recording({**DOC_EXAMPLE, "type": "sms"}, source="focus", tenant="t").media is MediaAvailability.NONE


@pytest.mark.parametrize(("change", "fragment"), [
    ({"region": "uk"}, "sources[0].base_url: give exactly one of `region` (uk, eu, us, ca) and `base_url`"),
    ({"base_url": None}, "sources[0].base_url: give exactly one of `region`"),
    ({"audio_format": "mp4"}, "sources[0].audio_format: 'mp4' is not supported: the collector cannot verify MP4"),
    ({"audio_format": "raw"}, "sources[0].audio_format: 'raw' is not supported"),
    ({"audio_format": "ogg"}, "sources[0].audio_format: expected one of mp3, mp3-mono, wav, wav-mono"),
    ({"base_url": "ftp://x"}, "sources[0].base_url: expected an http(s) URL without credentials"),
    ({"base_url": "https://user:pw@focus.example/api"}, "sources[0].base_url: expected an http(s) URL"),
    ({"client_id": "acme"}, "sources[0].client_id: expected a whole number (without quotes)"),
    ({"region": "mars", "base_url": None}, "sources[0].region: expected 'uk', 'eu', 'us' or 'ca'"),
])
def test_focus_settings_errors_name_the_key(tmp_path: Path, focus: FocusEmulation, change: dict[str, Any],
                                            fragment: str) -> None:
    table = {**focus.sources()[0], **change}
    table = {k: v for k, v in table.items() if v is not None}
    path = write_config(tmp_path, [table])
    with pytest.raises(ConfigError) as raised:
        load_config(path, Plugins())
    assert any(fragment in p for p in raised.value.problems), raised.value.problems


def test_a_naive_start_date_is_refused(tmp_path: Path, focus: FocusEmulation) -> None:
    path = config(tmp_path, focus, only="one")
    text = path.read_text().replace('plugin = "focus"', 'plugin = "focus"\nstart_date = 2026-01-05T09:00:00')
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"sources\[0\].start_date: expected a date-time with a zone"):
        load_config(path, Plugins())

