"""Container checks (Ogg Opus pages, WAV chunk sizes, MP3 frames and Xing/LAME tags) against the decode.

The download path proves Ogg Opus, PCM WAV and MP3 with a Xing/LAME header intact from their
containers instead of decoding them. That is only allowed because, on every file here (intact ones in
several rates, channel counts and lengths; each cut off at many points; each with single bits flipped
at many places; with wrong expectations; and non-audio bodies), the container check rejects whatever
the decode alone rejects and, when it accepts, reports what the decode reports. Then issue 13's cases:
a body cut by 1 byte, one frame or 700 bytes together with its Content-Length (so the transfer looks
complete and only the file can tell), and a valid file of another recording with the same size.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import collector._storage._audio as audio_module
from collector._storage._audio import AudioProbe, AudioRejected, probe_audio
from collector._storage._containers import ogg_crc
from collector._storage._mp3 import mpeg_frame_length
from collector.emulator import synth_audio
from collector.emulator._audio import _signal_blocks


def _encode(fmt: str, subtype: str, seconds: float, rate: int, channels: int, **options: object) -> bytes:
    frames = int(seconds * rate)
    signal = 0.3 * np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, frames))
    samples = np.repeat(signal[:, None], channels, axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype, **options)
    return buffer.getvalue()


def mp3_frames(data: bytes) -> list[int]:
    """The lengths of an MP3's frames (files without ID3 tags), first to last."""
    lengths, pos = [], 0
    while pos < len(data) and (length := mpeg_frame_length(data[pos:pos + 4])):
        lengths.append(length)
        pos += length
    return lengths


def without_info_frame(mp3: bytes) -> bytes:
    """A libsndfile MP3 without its first frame (the Xing/Info frame with the LAME tag): an MP3 that
    carries no length of its own, as many streaming encoders write them."""
    return mp3[mp3_frames(mp3)[0]:]


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
    "wav-ima-adpcm": _encode("WAV", "IMA_ADPCM", 2.0, 8000, 1),
    "wav-gsm": _encode("WAV", "GSM610", 2.0, 8000, 1),
    "mp3-lame-8k-cbr": synth_audio("e", duration=3.0, fmt="mp3"),
    "mp3-lame-8k-vbr": _encode("MP3", "MPEG_LAYER_III", 4.0, 8000, 1),
    "mp3-lame-16k-stereo": _encode("MP3", "MPEG_LAYER_III", 2.0, 16000, 2),
    "mp3-lame-44k-stereo": _encode("MP3", "MPEG_LAYER_III", 1.0, 44100, 2, bitrate_mode="CONSTANT"),
    "mp3-no-xing-8k": without_info_frame(synth_audio("f", duration=3.0, fmt="mp3")),
    "mp3-no-xing-22k-stereo": without_info_frame(_encode("MP3", "MPEG_LAYER_III", 1.0, 22050, 2,
                                                         bitrate_mode="CONSTANT", compression_level=0.5)),
}

NOT_AUDIO = {
    "html": b"<!doctype html><html><body>Internal Server Error</body></html>",
    "json": b'{"error": "not found"}',
    "empty": b"",
    "random": random.Random(1).randbytes(5000),
    "ogg-garbage": b"OggS" + random.Random(2).randbytes(3000),
    "riff-header-only": INTACT["wav-pcm16-8k"][:44],
    "ogg-first-page-only": INTACT["opus-8k-mono-3s"][:200],
    "id3-then-garbage": b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(16) + random.Random(3).randbytes(3000),
    "mp3-info-frame-only": INTACT["mp3-lame-8k-cbr"][:mp3_frames(INTACT["mp3-lame-8k-cbr"])[0]],
}


def _verdict(path: Path, *, decode: bool, **expect: object) -> AudioProbe | str:
    try:
        return probe_audio(path, decode=decode, **expect)  # type: ignore[arg-type]
    except AudioRejected as exc:
        return exc.reason


def _decode_only(path: Path, **expect: object) -> AudioProbe | str:
    """probe_audio(decode=True) with the container checks switched off: what a decode alone says."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audio_module, "_container_facts", lambda _path, _container: None)
        return _verdict(path, decode=True, **expect)


def _both(tmp_path: Path, data: bytes, **expect: object) -> tuple[AudioProbe | str, AudioProbe | str]:
    path = tmp_path / "body"
    path.write_bytes(data)
    return _verdict(path, decode=False, **expect), _decode_only(path, **expect)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _unprotected(name: str, data: bytes) -> range:
    """Bytes no check covers: a LAME Info frame's silent tail after the LAME tag (the decoder skips it)."""
    if not name.startswith("mp3-lame"):
        return range(0)
    mono = data[3] >> 6 == 3
    xing = (21 if mono else 36) if (data[1] >> 3) & 3 == 3 else (13 if mono else 21)
    return range(xing + 156, mp3_frames(data)[0])


@pytest.mark.parametrize("name", sorted(INTACT))
def test_intact_files_are_accepted_with_what_the_decode_reports(tmp_path: Path, name: str) -> None:
    check, decode = _both(tmp_path, INTACT[name])
    assert isinstance(decode, AudioProbe), decode
    assert isinstance(check, AudioProbe), check
    assert (check.container, check.codec, check.sample_rate, check.channels) == (
        decode.container, decode.codec, decode.sample_rate, decode.channels)
    assert check.duration == pytest.approx(decode.duration, abs=0.002)
    proven = not name.startswith(("mp3-no-xing", "wav-ima", "wav-gsm"))
    assert ("container" in check.checks) == proven and ("decode" in check.checks) != proven, check.checks


@pytest.mark.parametrize("name", sorted(INTACT))
def test_whatever_the_decode_rejects_the_container_check_rejects(tmp_path: Path, name: str) -> None:
    data = INTACT[name]
    rng = random.Random(name)
    cuts = sorted({*rng.sample(range(1, len(data)), 40), 1, 27, 44, len(data) - 1})
    flips = rng.sample(range(len(data) * 8), 60)
    damaged: list[tuple[str, bytes, int | None]] = [(f"cut to {cut} bytes", data[:cut], None) for cut in cuts]
    damaged += [(f"bit {bit} flipped", _flip(data, bit), bit // 8) for bit in flips]
    for what, body, flipped_byte in damaged:
        check, decode = _both(tmp_path, body)
        if isinstance(decode, str):
            assert isinstance(check, str), f"{what}: the decode rejects ({decode}) but the container check accepts"
        elif isinstance(check, str):
            # Stricter than the decode only where the container proves damage: Ogg page CRCs, the MP3
            # walk and LAME CRCs, a WAV header whose sizes no longer match the file.
            wav_header = name.startswith("wav") and flipped_byte is not None and flipped_byte < 60
            assert name.startswith(("opus", "mp3")) or wav_header, f"{what}: {check} (the decode accepts)"
        else:
            assert check.duration == pytest.approx(decode.duration, abs=0.002), what
            undetectable = ((name.startswith("wav") and flipped_byte is not None)  # no checksum in WAV
                            or name.startswith("mp3-no-xing")  # flipped audio bits, cuts between frames
                            or flipped_byte in _unprotected(name, data))
            assert undetectable, f"{what} passed: Ogg pages and LAME tags have CRCs, every cut is caught"


@pytest.mark.parametrize("name", sorted(INTACT))
def test_wrong_expectations_get_the_same_verdict(tmp_path: Path, name: str) -> None:
    decoded = _both(tmp_path, INTACT[name])[1]
    assert isinstance(decoded, AudioProbe)
    for expect in ({"expected_duration": decoded.duration * 3 + 2}, {"expected_sample_rate": decoded.sample_rate * 2},
                   {"expected_channels": decoded.channels + 1}, {"expected_codec": "flac"}):
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


# ----------------------------------------------------------------- issue 13: cut body and length


def _ogg_pages(data: bytes) -> list[int]:
    lengths, pos = [], 0
    while pos < len(data):
        segments = data[pos + 26]
        lengths.append(27 + segments + sum(data[pos + 27:pos + 27 + segments]))
        pos += lengths[-1]
    return lengths


def _recording(kind: str, seed: str) -> bytes:
    """10 s of one recording in the kind's format; CBR where the size should not depend on the sound."""
    if kind == "mp3-lame":
        return synth_audio(seed, duration=10.0, fmt="mp3")
    if kind == "mp3-no-xing":
        return without_info_frame(synth_audio(seed, duration=10.0, fmt="mp3"))
    if kind == "wav":
        return synth_audio(seed, duration=10.0, fmt="wav")
    samples = np.concatenate(list(_signal_blocks(seed, 80000, 8000, 1)))
    buffer = io.BytesIO()
    sf.write(buffer, samples, 8000, format="OGG", subtype="OPUS", bitrate_mode="CONSTANT")
    return buffer.getvalue()


def _one_frame(kind: str, data: bytes) -> int:
    """The last frame's bytes: an MPEG frame, an Ogg page, a WAV block (sample frame)."""
    if kind.startswith("mp3"):
        return mp3_frames(data)[-1]
    return _ogg_pages(data)[-1] if kind == "opus" else 2


KINDS = ["mp3-lame", "mp3-no-xing", "wav", "opus"]
RECORDINGS = {kind: _recording(kind, "recording-a") for kind in KINDS}


@pytest.mark.parametrize("cut", ["1 byte", "one frame", "700 bytes"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_body_cut_with_its_content_length_is_caught_by_the_file_itself(tmp_path: Path, kind: str,
                                                                        cut: str) -> None:
    """The transfer cannot see these (the Content-Length was cut to match): only the container can.

    Exact containers (MP3 with Xing/LAME, WAV, Ogg Opus) reject every cut, also with decode=True.
    An MP3 without Xing/VBRI rejects a cut that leaves a partial last frame; one cut on a frame
    boundary is indistinguishable from a shorter recording, so it passes, but only as "decode".
    """
    data = RECORDINGS[kind]
    size = {"1 byte": 1, "one frame": _one_frame(kind, data), "700 bytes": 700}[cut]
    path = tmp_path / "body"
    path.write_bytes(data[:-size])
    if kind == "mp3-no-xing" and cut == "one frame":
        probe = probe_audio(path, expected_duration=10.0)
        assert "container" not in probe.checks and {"decode", "mp3-walk"} <= probe.checks
        (tmp_path / "whole").write_bytes(data)
        whole = probe_audio(tmp_path / "whole")
        assert probe.frames == whole.frames - 576  # one 8 kHz MPEG-2.5 frame fewer, and nothing says so
        return
    if kind == "mp3-no-xing":
        ends = set(np.cumsum(mp3_frames(data)).tolist())
        assert len(data) - size not in ends, "the cut must leave a partial last frame"
    for decode in (False, True):
        with pytest.raises(AudioRejected) as caught:
            probe_audio(path, decode=decode)
        assert "cut off" in caught.value.reason or "truncated" in caught.value.reason, caught.value.reason


@pytest.mark.parametrize("kind", KINDS)
def test_another_recording_of_the_same_size_passes_every_container_check(tmp_path: Path, kind: str) -> None:
    """The limit of any container check: a complete file of another call with the same size is valid
    audio in every respect the file can show. Only the sha256 recorded at download tells them apart."""
    ours, other = RECORDINGS[kind], _recording(kind, "recording-c")  # CBR Opus sizes vary by a byte: c fits
    assert len(ours) == len(other) and hashlib.sha256(ours).digest() != hashlib.sha256(other).digest()
    path = tmp_path / "body"
    path.write_bytes(other)
    probe = probe_audio(path, expected_duration=10.0, expected_sample_rate=8000, expected_channels=1)
    assert ("container" in probe.checks) == (kind != "mp3-no-xing")
