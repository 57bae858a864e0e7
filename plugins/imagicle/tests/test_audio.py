"""Audio: off (and said so) without a template; fetched and verified through `audio_url_template`."""

from __future__ import annotations

from pathlib import Path

from collector.testing import collect, inspect_store
from collector_imagicle._source import AUDIO_OFF_NOTE
from collector_imagicle.testing import AUDIO_TEMPLATE, ImagicleEmulation


def test_without_a_template_the_summary_says_metadata_and_transcripts_only(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    result = collect(imagicle.config(tmp_path, "two"))
    (summary,) = result.summaries
    assert result.exit_code == 0 and summary.notes[0] == AUDIO_OFF_NOTE
    assert summary.audio_files == 0 and summary.failed == 0
    contents = inspect_store(tmp_path / "store")
    assert contents.audio_status["two"] == {}  # nothing queued, nothing marked unavailable
    assert imagicle.emulator.count(kind="audio") == 0


def test_setting_a_template_later_fetches_the_audio_of_recordings_collected_before(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    collect(imagicle.config(tmp_path, "two"))
    result = collect(imagicle.config(tmp_path, "two", audio_url_template=AUDIO_TEMPLATE))
    (summary,) = result.summaries
    assert result.exit_code == 0 and AUDIO_OFF_NOTE not in summary.notes and summary.new_recordings == 0
    ids = imagicle.account("two").valid_ids()
    assert summary.audio_files == len(ids)
    assert inspect_store(tmp_path / "store").audio["two"] == ids


def test_audio_that_is_not_what_the_listing_announced_is_quarantined(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    account = imagicle.account("one")
    too_long, other_layout = sorted(account.valid_ids())[:2]
    account.audio_faults.update({too_long: "duration", other_layout: "channels"})
    result = collect(imagicle.config(tmp_path, "one", max_attempts=1))
    assert result.exit_code == 1 and result.summaries[0].quarantined == 2
    status = inspect_store(tmp_path / "store").audio_status["one"]
    assert status[too_long] == "quarantined" and status[other_layout] == "quarantined"
