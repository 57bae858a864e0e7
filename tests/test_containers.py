"""Container checks (Ogg Opus pages, WAV chunk sizes) against the full decode, over a corpus.

The download path proves Ogg Opus and PCM WAV intact from their containers instead of decoding
them. That is only allowed because, on every file here (intact ones in several rates, channel
counts and lengths; each cut off at many points; each with single bits flipped at many places;
with wrong expectations; and non-audio bodies), the container check rejects whatever the decode
rejects and, when it accepts, reports what the decode reports.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from collector._audio import AudioProbe, AudioRejected, probe_audio
from collector._containers import ogg_crc
from collector.emulator import synth_audio


def _encode(fmt: str, subtype: str, seconds: float, rate: int, channels: int) -> bytes:
    frames = int(seconds * rate)
    signal = 0.3 * np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, frames))
    samples = np.repeat(signal[:, None], channels, axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


INTACT = {
    "opus-8k-mono-3s": synth_audio("a", duration=3.0, fmt="ogg-opus"),
    "opus-16k-mono-0.5s": synth_audio("b", duration=0.5, fmt="ogg-opus", sample_rate=16000),
    "opus-48k-stereo-4s": synth_audio("c", duration=4.0, fmt="ogg-opus", sample_rate=48000, channels=2),
    "opus-12k-mono-9s": _encode("OGG", "OPUS", 9.0, 12000, 1),
    "wav-pcm16-8k": synth_audio("d", duration=2.0, fmt="wav"),
    "wav-pcm16-stereo": _encode("WAV", "PCM_16", 1.5, 16000, 2),
    "wav-u8": _encode("WAV", "PCM_U8", 1.0, 8000, 1),
    "wav-pcm24": _encode("WAV", "PCM_24", 1.0, 8000, 1),
    "wav-float": _encode("WAV", "FLOAT", 1.0, 8000, 1),
    "wav-ulaw": _encode("WAV", "ULAW", 2.0, 8000, 1),
    "wav-alaw": _encode("WAV", "ALAW", 2.0, 8000, 1),
}

NOT_AUDIO = {
    "html": b"<!doctype html><html><body>Internal Server Error</body></html>",
    "json": b'{"error": "not found"}',
    "empty": b"",
    "random": random.Random(1).randbytes(5000),
    "ogg-garbage": b"OggS" + random.Random(2).randbytes(3000),
    "riff-header-only": INTACT["wav-pcm16-8k"][:44],
    "ogg-first-page-only": INTACT["opus-8k-mono-3s"][:200],
}


def _verdict(path: Path, *, decode: bool, **expect: object) -> AudioProbe | str:
    try:
        return probe_audio(path, decode=decode, **expect)  # type: ignore[arg-type]
    except AudioRejected as exc:
        return exc.reason


def _both(tmp_path: Path, data: bytes, **expect: object) -> tuple[AudioProbe | str, AudioProbe | str]:
    path = tmp_path / "body"
    path.write_bytes(data)
    return _verdict(path, decode=False, **expect), _verdict(path, decode=True, **expect)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("name", sorted(INTACT))
def test_intact_files_are_accepted_with_what_the_decode_reports(tmp_path: Path, name: str) -> None:
    check, decode = _both(tmp_path, INTACT[name])
    assert isinstance(decode, AudioProbe), decode
    assert isinstance(check, AudioProbe), check
    assert (check.container, check.codec, check.sample_rate, check.channels) == (
        decode.container, decode.codec, decode.sample_rate, decode.channels)
    assert check.duration == pytest.approx(decode.duration, abs=0.002)


@pytest.mark.parametrize("name", sorted(INTACT))
def test_whatever_the_decode_rejects_the_container_check_rejects(tmp_path: Path, name: str) -> None:
    data = INTACT[name]
    rng = random.Random(name)
    damaged = [data[:cut] for cut in sorted({*rng.sample(range(1, len(data)), 40), 1, 27, 44, len(data) - 1})]
    damaged += [_flip(data, bit) for bit in rng.sample(range(len(data) * 8), 60)]
    for body in damaged:
        check, decode = _both(tmp_path, body)
        if isinstance(decode, str):
            assert isinstance(check, str), f"the decode rejects ({decode}) but the container check accepts"
        elif isinstance(check, str):
            assert name.startswith("opus"), f"WAV has no checksum: both must give the same verdict ({check})"
        else:
            assert check.duration == pytest.approx(decode.duration, abs=0.002)
            assert name.startswith("wav"), "Ogg pages have CRCs: every flipped bit and every cut is caught"


@pytest.mark.parametrize("name", sorted(INTACT))
def test_wrong_expectations_get_the_same_verdict(tmp_path: Path, name: str) -> None:
    decoded = _both(tmp_path, INTACT[name])[1]
    assert isinstance(decoded, AudioProbe)
    for expect in ({"expected_duration": decoded.duration * 3 + 2}, {"expected_sample_rate": decoded.sample_rate * 2},
                   {"expected_channels": decoded.channels + 1}, {"expected_codec": "mp3"}):
        check, decode = _both(tmp_path, INTACT[name], **expect)
        assert isinstance(check, str) and check == decode


@pytest.mark.parametrize("name", sorted(NOT_AUDIO))
def test_bodies_that_are_not_audio_are_rejected_by_both(tmp_path: Path, name: str) -> None:
    check, decode = _both(tmp_path, NOT_AUDIO[name])
    assert isinstance(check, str) and isinstance(decode, str)


def test_ogg_crc_matches_the_pages_libogg_wrote() -> None:
    data = INTACT["opus-8k-mono-3s"]
    segments = data[26]
    length = 27 + segments + sum(data[27:27 + segments])
    page = data[:length]
    assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == int.from_bytes(page[22:26], "little")
