"""Tests for collector._storage._audio (verifying downloads) and collector.emulator._audio (synthetic audio)."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from collector._storage._audio import (
    AudioProbe,
    AudioRejected,
    describe_head,
    file_extension,
    probe_audio,
    sniff_container,
)
from collector.emulator._audio import (
    AUDIO_FORMATS,
    synth_audio,
    truncated,
    wav_duration_for_bytes,
    wav_stream,
)

EXPECTED = {
    "wav": ("wav", "pcm_16", ".wav"),
    "mp3": ("mp3", "mp3", ".mp3"),
    "ogg-opus": ("ogg", "opus", ".opus"),
    "flac": ("flac", "flac", ".flac"),
}
PROOFS = {  # what the container proves of each synth format; FLAC has only the decode
    "wav": {"container", "wav-chunks"},
    "mp3": {"container", "mp3-walk", "mp3-frames", "mp3-bytes", "mp3-music-crc", "mp3-tag-crc"},
    "ogg-opus": {"container", "ogg-pages"},
    "flac": {"decode"},
}

HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"
JSON_ERROR = b'{"error": "recording not found", "code": 404}'


def _write(tmp_path: Path, data: bytes, name: str = "body.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rejection(tmp_path: Path, data: bytes, **kwargs: object) -> str:
    """Probe `data` expecting a rejection; return the reason after checking it is one sentence."""
    with pytest.raises(AudioRejected) as caught:
        probe_audio(_write(tmp_path, data), **kwargs)  # type: ignore[arg-type]
    reason = caught.value.reason
    assert reason == str(caught.value)
    assert reason[0].isupper() and reason.endswith("."), reason
    assert "\n" not in reason and all(" " <= ch <= "~" for ch in reason), reason
    return reason


# ------------------------------------------------------------------------------- accepted audio


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_probe_accepts_every_synth_format(tmp_path: Path, fmt: str, channels: int) -> None:
    data = synth_audio(f"call-{fmt}", duration=3.0, fmt=fmt, channels=channels)
    probe = probe_audio(
        _write(tmp_path, data),
        content_type="audio/whatever",
        expected_duration=3.0,
        expected_channels=channels,
        expected_sample_rate=8000,
        expected_codec=EXPECTED[fmt][1],
    )
    container, codec, extension = EXPECTED[fmt]
    assert probe == AudioProbe(container, codec, 8000, channels, 24000, 3.0, frozenset(PROOFS[fmt]))
    assert file_extension(probe) == extension
    decoded = probe_audio(_write(tmp_path, data), decode=True)
    assert decoded.frames == 24000 and decoded.checks == {"decode"} | PROOFS[fmt]


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_probe_accepts_other_sample_rates(tmp_path: Path, fmt: str) -> None:
    data = synth_audio("wideband", duration=1.5, fmt=fmt, sample_rate=16000)
    probe = probe_audio(_write(tmp_path, data), expected_duration=1.5, expected_sample_rate=16000)
    assert (probe.sample_rate, probe.frames) == (16000, 24000)


def test_probe_accepts_vorbis_and_telephony_wav(tmp_path: Path) -> None:
    signal = np.sin(np.arange(16000) / 5.0).astype(np.float32) * 0.3
    for fmt, subtype, codec, extension in [
        ("OGG", "VORBIS", "vorbis", ".ogg"),
        ("WAV", "ULAW", "ulaw", ".wav"),
        ("WAV", "ALAW", "alaw", ".wav"),
    ]:
        buffer = io.BytesIO()
        sf.write(buffer, signal, 8000, format=fmt, subtype=subtype)
        probe = probe_audio(_write(tmp_path, buffer.getvalue()), expected_codec=codec)
        assert (probe.codec, probe.frames, file_extension(probe)) == (codec, 16000, extension)


def test_audio_bytes_win_over_a_text_content_type(tmp_path: Path) -> None:
    data = synth_audio("mislabelled", duration=1.0, fmt="wav")
    assert probe_audio(_write(tmp_path, data), content_type="text/html").container == "wav"


def test_codec_expectation_accepts_aliases(tmp_path: Path) -> None:
    path = _write(tmp_path, synth_audio("alias", duration=1.0, fmt="wav"))
    assert probe_audio(path, expected_codec="PCM").codec == "pcm_16"
    assert probe_audio(path, expected_codec="PCM-16").codec == "pcm_16"


# ------------------------------------------------------------------------------------ rejections


def test_rejects_html_page_with_and_without_content_type(tmp_path: Path) -> None:
    assert _rejection(tmp_path, HTML) == "The body is an HTML page, not audio."
    reason = _rejection(tmp_path, HTML, content_type="text/html; charset=utf-8")
    assert reason == "The server sent text/html (an HTML page) instead of audio."
    reason = _rejection(tmp_path, HTML, content_type="audio/mpeg")
    assert "HTML page" in reason and "audio/mpeg" in reason


def test_rejects_json_error_body(tmp_path: Path) -> None:
    reason = _rejection(tmp_path, JSON_ERROR, content_type="application/json")
    assert reason == "The server sent application/json (a JSON document) instead of audio."


def test_rejects_empty_body(tmp_path: Path) -> None:
    assert "empty" in _rejection(tmp_path, b"")
    assert "empty" in _rejection(tmp_path, b"", content_type="audio/wav")


def test_rejects_plain_text(tmp_path: Path) -> None:
    reason = _rejection(tmp_path, b"Internal Server Error\n")
    assert reason == "The body is plain text starting 'Internal Server Error', not audio."


def test_rejects_random_binary(tmp_path: Path) -> None:
    data = bytes([0x1F, 0x8B, 0x08, 0x00]) + np.random.default_rng(7).bytes(5000)
    assert "binary data starting 0x1f8b0800" in _rejection(tmp_path, data)


def test_rejects_mp4(tmp_path: Path) -> None:
    data = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(200)
    reason = _rejection(tmp_path, data, content_type="audio/mp4")
    assert "MP4" in reason and "cannot verify" in reason


def test_rejects_riff_header_without_audio(tmp_path: Path) -> None:
    reason = _rejection(tmp_path, b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk")
    assert "WAV" in reason and "cannot be opened" in reason


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_rejects_truncated_file_of_every_format(tmp_path: Path, fmt: str) -> None:
    data = synth_audio(f"cut-{fmt}", duration=6.0, fmt=fmt)
    reason = _rejection(tmp_path, truncated(data), expected_duration=None)
    assert any(word in reason for word in ("cut off", "truncated")), reason


@pytest.mark.parametrize("fraction", [0.1, 0.9, 0.99])
@pytest.mark.parametrize("fmt", ["wav", "ogg-opus", "flac"])
def test_rejects_truncation_at_other_points(tmp_path: Path, fmt: str, fraction: float) -> None:
    data = synth_audio(f"cut-{fmt}", duration=6.0, fmt=fmt)
    _rejection(tmp_path, truncated(data, fraction))


def test_truncated_mp3_is_rejected_by_its_own_frames(tmp_path: Path) -> None:
    data = synth_audio("cut-mp3", duration=6.0, fmt="mp3")
    for decode in (False, True):  # the container check runs first either way
        reason = _rejection(tmp_path, truncated(data, 0.8), decode=decode)
        assert reason == "The MP3 file's last frame is cut off, so the download was truncated."


def test_wav_pad_byte_and_harmless_notes_are_not_truncation(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(101, dtype=np.int16), 8000, format="WAV", subtype="PCM_U8")
    odd = buffer.getvalue()  # 101 data bytes plus a pad byte
    assert probe_audio(_write(tmp_path, odd)).frames == 101
    assert probe_audio(_write(tmp_path, odd[:-1])).frames == 101  # only the pad byte is missing
    assert "cut off" in _rejection(tmp_path, odd[:-2])  # a data byte is missing


def test_wav_cut_by_one_byte_is_always_rejected(tmp_path: Path) -> None:
    even = synth_audio("even", duration=1.0, fmt="wav")
    for decode in (False, True):
        reason = _rejection(tmp_path, even[:-1], decode=decode)
        assert reason == ("The header declares 16000 bytes of audio data but only 15999 arrived, "
                          "so the file was cut off.")


def _with_list_chunk(wav: bytes, payload: bytes) -> bytes:
    """`wav` with a LIST chunk after its data chunk and the RIFF size updated."""
    chunk = b"LIST" + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    body = wav[8:] + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_riff_size_must_match_the_file(tmp_path: Path) -> None:
    wav = synth_audio("riff", duration=1.0, fmt="wav")
    listed = _with_list_chunk(wav, b"INFOISFT\x05\x00\x00\x00test\x00")  # odd: ends with a pad byte
    assert probe_audio(_write(tmp_path, listed)).checks == {"container", "wav-chunks"}
    assert probe_audio(_write(tmp_path, listed[:-1])).frames == 8000  # the final pad byte may be missing
    reason = _rejection(tmp_path, listed[:-2])
    assert reason == "The WAV file's last chunk is cut off, so the download was truncated."
    reason = _rejection(tmp_path, wav + b"junk")
    assert reason == "The WAV file has 4 bytes after its RIFF chunk ends, so it is damaged."
    grown = bytearray(wav)
    grown[4:8] = struct.pack("<I", len(wav) + 92)
    reason = _rejection(tmp_path, bytes(grown))
    assert reason == (f"The WAV file's RIFF header declares {len(wav) + 100} bytes but only {len(wav)} arrived, "
                      "so the file was cut off.")


def test_other_wav_codecs_get_the_chunk_check_and_the_decode(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.sin(np.arange(16000) / 5.0) * 0.3, 8000, format="WAV", subtype="IMA_ADPCM")
    data = buffer.getvalue()
    probe = probe_audio(_write(tmp_path, data))
    assert probe.codec == "ima_adpcm" and probe.checks == {"decode", "wav-chunks"}
    assert "cut off" in _rejection(tmp_path, data[:-1])


def test_streaming_wav_placeholder_size_is_accepted(tmp_path: Path) -> None:
    data = bytearray(synth_audio("live", duration=2.0, fmt="wav"))
    data[4:8] = data[40:44] = b"\xff\xff\xff\xff"
    assert probe_audio(_write(tmp_path, bytes(data)), expected_duration=2.0).frames == 16000


def test_rejects_duration_disagreement(tmp_path: Path) -> None:
    path = _write(tmp_path, synth_audio("short", duration=5.0, fmt="ogg-opus"))
    with pytest.raises(AudioRejected) as caught:
        probe_audio(path, expected_duration=10.0)
    assert "5.0 s" in caught.value.reason and "10.0 s" in caught.value.reason
    assert probe_audio(path, expected_duration=5.9).duration == 5.0  # within the 1 s tolerance


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
def test_duration_tolerance_is_seconds_plus_one_frame_not_a_percentage(tmp_path: Path, fmt: str) -> None:
    """An hour-long call cut by 72 s used to pass max(1 s, 2 %); now the tolerance is absolute."""
    path = _write(tmp_path, synth_audio("hour-ish", duration=60.0, fmt=fmt))
    frame = {"wav": 1 / 8000, "mp3": 576 / 8000, "ogg-opus": 0.02, "flac": 4096 / 8000}[fmt]
    assert probe_audio(path, expected_duration=61.0).duration == 60.0
    assert probe_audio(path, expected_duration=61.0 + frame * 0.9).duration == 60.0
    _rejection(tmp_path, path.read_bytes(), expected_duration=61.0 + frame * 1.1)
    if frame < 0.2:
        _rejection(tmp_path, path.read_bytes(), expected_duration=61.2)  # within 2 %: no longer accepted
    assert probe_audio(path, expected_duration=60.3 + frame * 0.9, duration_tolerance=0.3).duration == 60.0
    _rejection(tmp_path, path.read_bytes(), expected_duration=60.3 + frame * 1.1, duration_tolerance=0.3)


def test_a_duration_that_is_an_upper_bound_accepts_shorter_audio_only(tmp_path: Path) -> None:
    """A vendor that lists the call's length: the recording may be shorter, never longer."""
    path = _write(tmp_path, synth_audio("transferred", duration=20.0, fmt="wav"))
    assert probe_audio(path, expected_duration=95.0, duration_is_upper_bound=True).duration == 20.0
    _rejection(tmp_path, path.read_bytes(), expected_duration=95.0)  # as an exact length: quarantined
    _rejection(tmp_path, path.read_bytes(), expected_duration=18.0, duration_is_upper_bound=True)


def test_rejects_wrong_channels_rate_and_codec(tmp_path: Path) -> None:
    path = _write(tmp_path, synth_audio("stereo", duration=1.0, fmt="flac", channels=2))
    for kwargs, words in [
        ({"expected_channels": 1}, ("2 channel", "1 channel")),
        ({"expected_sample_rate": 16000}, ("8000 Hz", "16000 Hz")),
        ({"expected_codec": "mp3"}, ("flac", "mp3")),
    ]:
        with pytest.raises(AudioRejected) as caught:
            probe_audio(path, **kwargs)  # type: ignore[arg-type]
        assert all(word in caught.value.reason for word in words), caught.value.reason


# -------------------------------------------------------------------------------- synth_audio


def test_synth_is_deterministic_and_unique_per_seed() -> None:
    for fmt in AUDIO_FORMATS:
        first = synth_audio("seed-a", duration=2.0, fmt=fmt)
        assert synth_audio("seed-a", duration=2.0, fmt=fmt) == first
        assert synth_audio("seed-b", duration=2.0, fmt=fmt) != first


def test_synth_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError):
        synth_audio("x", duration=1.0, fmt="ogg-opus", sample_rate=44100)
    with pytest.raises(ValueError):
        synth_audio("x", duration=1.0, fmt="aac")
    with pytest.raises(ValueError):
        synth_audio("x", duration=0.0, fmt="wav")


def test_truncated_keeps_the_leading_fraction() -> None:
    assert truncated(b"0123456789") == b"01234"
    assert truncated(b"0123456789", 0.25) == b"01"


# ---------------------------------------------------------------------------------- wav_stream


def test_wav_stream_length_matches_and_is_unique_per_seed() -> None:
    length, chunks = wav_stream("s1", duration=3.0, chunk_size=1000)
    body = b"".join(chunks)
    assert length == len(body) == 44 + 3 * 8000 * 2
    assert b"".join(wav_stream("s1", duration=3.0)[1]) == body
    assert b"".join(wav_stream("s2", duration=3.0)[1]) != body


def test_wav_duration_for_bytes_round_trips() -> None:
    duration = wav_duration_for_bytes(20_000_000, channels=2)
    length, _ = wav_stream("size", duration=duration, channels=2)
    assert 20_000_000 - 4 <= length <= 20_000_000


def test_large_wav_stream_probes_with_flat_memory(tmp_path: Path) -> None:
    duration = wav_duration_for_bytes(20_000_000)
    path = tmp_path / "big.wav"
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        length, chunks = wav_stream("big", duration=duration)
        with path.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        probe = probe_audio(path, expected_duration=duration)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert os.path.getsize(path) == length
    assert probe.frames == (length - 44) // 2 and abs(probe.duration - duration) < 1e-9
    assert peak < 10_000_000, f"peak traced memory grew by {peak} bytes"


# ------------------------------------------------------------------------------ sniff / describe


def test_sniff_known_headers() -> None:
    assert sniff_container(b"OggS\x00\x02" + bytes(58)) == "ogg"
    assert sniff_container(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(48)) == "wav"
    assert sniff_container(b"RF64\xff\xff\xff\xffWAVEds64" + bytes(48)) == "wav"
    assert sniff_container(b"fLaC\x00\x00\x00\x22" + bytes(56)) == "flac"
    assert sniff_container(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(54)) == "mp3"
    assert sniff_container(b"\x00\x00\x00\x18ftypmp42" + bytes(52)) == "mp4"
    for fmt, container in [("wav", "wav"), ("mp3", "mp3"), ("ogg-opus", "ogg"), ("flac", "flac")]:
        assert sniff_container(synth_audio("sniff", duration=1.0, fmt=fmt)[:64]) == container


def test_sniff_bare_mpeg_frames() -> None:
    frame = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 layer III, 128 kb/s, 44.1 kHz: 417 bytes
    assert sniff_container(frame + frame) == "mp3"
    assert sniff_container(frame[:64]) == "mp3"  # too short to see the next frame
    assert sniff_container(frame + b"not another frame") is None


def test_sniff_ignores_text_starting_with_ff_like_bytes() -> None:
    utf16 = "Internal Server Error: recording unavailable".encode("utf-16")  # starts 0xFFFE
    assert utf16[:2] == b"\xff\xfe"
    assert sniff_container(utf16) is None
    assert sniff_container(b"\xff\xff\xff\xff error") is None
    assert sniff_container(b"\xff\xe0garbage text after a fake sync") is None
    assert sniff_container(b"\xffOops") is None
    assert sniff_container(b"") is None
    assert describe_head(utf16) == "plain text starting 'Internal Server Error: recording unav...'"


def test_describe_head_is_short_and_safe() -> None:
    assert describe_head(b"") == "an empty body"
    assert describe_head(HTML) == "an HTML page"
    assert describe_head(b"  <html><body>oops</body></html>") == "an HTML page"
    assert describe_head(JSON_ERROR) == "a JSON document"
    assert describe_head(b'<?xml version="1.0"?><Error/>') == "an XML document"
    assert describe_head(b"\x1f\x8b\x08\x00\x00\x00") == "binary data starting 0x1f8b0800"
    hostile = ("Error \x1b[31m" + "x" * 500 + "\u00e9").encode()
    text = describe_head(hostile)
    assert len(text) <= 70 and all(" " <= ch <= "~" for ch in text)
