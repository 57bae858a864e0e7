"""collector._storage._mp3: the MP3 frame walk, Xing/Info and VBRI counts, and the LAME tag's CRCs, on real files
written by libsndfile's LAME (and edited copies of them), plus the CRC and the timing against a decode."""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from collector._storage._audio import AudioRejected, probe_audio
from collector._storage._containers import ContainerDamaged, ContainerFacts
from collector._storage._mp3 import check_mp3, crc16_arc, mpeg_frame_length
from collector.emulator import synth_audio

ALL_CHECKS = ("mp3-walk", "mp3-frames", "mp3-tag-crc", "mp3-bytes", "mp3-music-crc")


def _encode(rate: int, channels: int, seconds: float, **options: object) -> bytes:
    samples = 0.3 * np.sin(np.arange(int(rate * seconds))[:, None].repeat(channels, 1) / 7.0)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="MP3", subtype="MPEG_LAYER_III", **options)
    return buffer.getvalue()


def _frames(data: bytes, start: int = 0) -> list[int]:
    lengths, pos = [], start
    while pos < len(data) and (length := mpeg_frame_length(data[pos:pos + 4])):
        lengths.append(length)
        pos += length
    return lengths


def _xing_at(data: bytes) -> int:
    mono = data[3] >> 6 == 3
    return (21 if mono else 36) if (data[1] >> 3) & 3 == 3 else (13 if mono else 21)


def _decoded(data: bytes) -> int:
    with sf.SoundFile(io.BytesIO(data)) as sound:
        total = 0
        while len(block := sound.read(4096)):
            total += len(block)
        return total


def _check(tmp_path: Path, data: bytes) -> ContainerFacts | None:
    path = tmp_path / "body.mp3"
    path.write_bytes(data)
    return check_mp3(path)


def _damage(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(ContainerDamaged) as caught:
        _check(tmp_path, data)
    return caught.value.reason


CBR_8K = synth_audio("mp3", duration=3.0, fmt="mp3")  # the emulators' MP3: 8 kHz MPEG-2.5, Info + LAME


def test_crc16_arc_is_lames_crc() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # CRC-16/ARC's check value
    assert crc16_arc(b"56789", crc16_arc(b"1234")) == 0xBB3D  # it continues across chunks


@pytest.mark.parametrize(("rate", "channels", "options"), [
    (8000, 1, {}), (8000, 1, {"bitrate_mode": "CONSTANT", "compression_level": 0.0}), (11025, 2, {}),
    (16000, 1, {}), (22050, 2, {}), (32000, 1, {"bitrate_mode": "AVERAGE"}), (44100, 2, {}),
    (48000, 2, {"bitrate_mode": "CONSTANT"}),
])
def test_libsndfile_files_are_proven_exactly(tmp_path: Path, rate: int, channels: int,
                                             options: dict[str, object]) -> None:
    """LAME's counts, as written: frames exclude the Info frame, bytes and music length include it, the
    music CRC covers every audio frame after it, the tag CRC the Info frame up to that CRC."""
    data = _encode(rate, channels, 2.0, **options)
    frames, xing = _frames(data), _xing_at(data)
    assert int.from_bytes(data[xing + 8:xing + 12], "big") == len(frames) - 1
    assert int.from_bytes(data[xing + 12:xing + 16], "big") == len(data)
    assert int.from_bytes(data[xing + 148:xing + 152], "big") == len(data)
    assert int.from_bytes(data[xing + 152:xing + 154], "big") == crc16_arc(data[frames[0]:])
    assert int.from_bytes(data[xing + 154:xing + 156], "big") == crc16_arc(data[:xing + 154])
    facts = _check(tmp_path, data)
    assert facts is not None and facts.exact and set(facts.checks) == set(ALL_CHECKS)
    assert (facts.codec, facts.sample_rate, facts.channels) == ("mp3", rate, channels)
    assert facts.frames == _decoded(data) == 2 * rate  # gapless: encoder delay and padding removed
    assert facts.frame_samples == (1152 if rate >= 32000 else 576)


def test_the_music_crc_catches_a_flipped_bit_the_decoder_plays_through(tmp_path: Path) -> None:
    flipped = bytearray(CBR_8K)
    flipped[len(CBR_8K) // 2] ^= 0x10
    assert _decoded(bytes(flipped)) == 24000  # the decoder cannot tell
    reason = _damage(tmp_path, bytes(flipped))
    assert reason == "The MP3 file's audio fails the CRC in its LAME tag, so the file is damaged."


def test_the_tag_crc_catches_an_altered_count(tmp_path: Path) -> None:
    altered = bytearray(CBR_8K)
    altered[_xing_at(CBR_8K) + 11] -= 1  # one frame fewer announced, as if the file had been cut and patched
    assert _damage(tmp_path, bytes(altered)) == "The MP3 file's LAME tag fails its checksum, so the file is damaged."


def test_ffmpegs_tag_crc_over_190_bytes_is_accepted(tmp_path: Path) -> None:
    """FFmpeg's muxer writes the tag CRC over the frame's first 190 bytes (the CRC field then zero)."""
    data = bytearray(CBR_8K)
    at = _xing_at(CBR_8K) + 154
    data[at:at + 2] = b"\0\0"
    data[at:at + 2] = crc16_arc(bytes(data[:190])).to_bytes(2, "big")
    facts = _check(tmp_path, bytes(data))
    assert facts is not None and facts.exact and "mp3-tag-crc" in facts.checks


def test_a_xing_header_without_lame_tag_still_proves_the_length(tmp_path: Path) -> None:
    data = bytearray(CBR_8K)
    lame = _xing_at(CBR_8K) + 120
    data[lame:lame + 36] = bytes(36)
    facts = _check(tmp_path, bytes(data))
    assert facts is not None and facts.exact and facts.checks == ("mp3-walk", "mp3-frames", "mp3-bytes")
    assert facts.frames == _decoded(bytes(data)) == 44 * 576 - 529  # mpg123 drops its own decoder delay


def _id3v2(body: bytes, version: int = 4, footer: bool = False) -> bytes:
    size = bytes((len(body) >> 21 & 0x7F, len(body) >> 14 & 0x7F, len(body) >> 7 & 0x7F, len(body) & 0x7F))
    header = b"ID3" + bytes((version, 0, 0x10 if footer else 0)) + size
    return header + body + (b"3DI" + header[3:] if footer else b"")


def _apev2(items: bytes) -> bytes:
    def part(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, len(items) + 32, 1, flags) + bytes(8)
    return part(0xA0000000) + items + part(0x80000000)


def _lyrics3v2(fields: bytes) -> bytes:
    content = b"LYRICSBEGIN" + fields
    return content + b"%06d" % len(content) + b"LYRICS200"


TRAILERS = {
    "id3v1": b"TAG" + bytes(125),
    "apev2": _apev2(struct.pack("<II", 4, 0) + b"Title\0Call"),
    "lyrics3v2": _lyrics3v2(b"IND00002" + b"00"),
    "lyrics3v1": b"LYRICSBEGIN" + b"some words" + b"LYRICSEND",
    "apev2+lyrics3v2+id3v1": _apev2(b"") + _lyrics3v2(b"IND0000200") + b"TAG" + bytes(125),
    "appended id3v2": _id3v2(b"TIT2\0\0\0\x05\0\0\x03Call", footer=True),
}


@pytest.mark.parametrize("front", ["", "id3v2.3", "id3v2.4 with footer", "id3v2 and zero padding"])
@pytest.mark.parametrize("trailer", sorted(TRAILERS))
def test_known_tags_around_the_frames_are_allowed(tmp_path: Path, front: str, trailer: str) -> None:
    head = {"": b"", "id3v2.3": _id3v2(b"TIT2\0\0\0\x05\0\0\x03Call", 3),
            "id3v2.4 with footer": _id3v2(b"TIT2\0\0\0\x05\0\0\x03Call", footer=True),
            "id3v2 and zero padding": _id3v2(bytes(20), 3) + bytes(300)}[front]
    facts = _check(tmp_path, head + CBR_8K + TRAILERS[trailer])
    assert facts is not None and facts.exact and set(facts.checks) == set(ALL_CHECKS) and facts.frames == 24000
    assert probe_audio(tmp_path / "body.mp3", decode=True).frames == 24000  # and the decoder agrees


@pytest.mark.parametrize(("tail", "reason"), [
    (b"<html>502 Bad Gateway</html>", "The MP3 file has junk after its last frame (at byte 25344), so it is damaged."),
    (b"TAG" + bytes(100), "The MP3 file has junk after its last frame (at byte 25344), so it is damaged."),
    (b"\xff\xe3\x48\xc4" + bytes(20), "The MP3 file's last frame is cut off, so the download was truncated."),
    (b"\xff\xfb\x90\x64" + bytes(500), "The MP3 frame at byte 25344 has an invalid header or one unlike the "
                                       "first frame's, so the file is damaged."),
])
def test_anything_else_after_the_frames_is_damage(tmp_path: Path, tail: bytes, reason: str) -> None:
    assert _damage(tmp_path, CBR_8K[:25344] + tail) == reason


def test_a_frame_unlike_the_first_is_damage(tmp_path: Path) -> None:
    data = bytearray(CBR_8K)
    data[576 * 10 + 2] ^= 0x04  # sample-rate index of the tenth frame
    assert "byte 5760 has an invalid header or one unlike the first frame's" in _damage(tmp_path, bytes(data))


def test_an_id3_tag_longer_than_the_file_is_a_cut(tmp_path: Path) -> None:
    tag = _id3v2(bytes(4000))
    assert _damage(tmp_path, tag[:2000]) == "The MP3 file ends inside its ID3 tag, so the download was truncated."
    assert "ID3 tag header is invalid" in _damage(tmp_path, b"ID3\x04\x00\x00\x80\x00\x00\x00" + CBR_8K)


def test_without_xing_only_the_walk_is_proven(tmp_path: Path) -> None:
    bare = CBR_8K[_frames(CBR_8K)[0]:]
    facts = _check(tmp_path, bare)
    assert facts is not None and not facts.exact and facts.checks == ("mp3-walk",)
    assert facts.frames == _decoded(bare) == 44 * 576


def test_tag_like_bytes_inside_the_last_frame_are_audio(tmp_path: Path) -> None:
    bare = bytearray(CBR_8K[_frames(CBR_8K)[0]:])
    bare[-128:-125] = b"TAG"  # looks like an ID3v1 tag, but the last frame runs over it to the end
    facts = _check(tmp_path, bytes(bare))
    assert facts is not None and facts.frames == 44 * 576


def _with_vbri(bare: bytes, frames: int) -> bytes:
    """`bare` (frames without Xing) behind a Fraunhofer VBRI frame announcing `frames` frames."""
    length = _frames(bare)[0]
    frame = bytearray(length)
    frame[:4] = bare[:4]
    frame[36:54] = b"VBRI" + struct.pack(">HHHII", 1, 0, 75, length * (frames + 1), frames)
    return bytes(frame) + bare


def test_vbri_counts(tmp_path: Path) -> None:
    """Writers disagree whether VBRI's count includes its own frame: only an equal count proves anything."""
    bare = CBR_8K[_frames(CBR_8K)[0]:]
    walked = len(_frames(bare))
    facts = _check(tmp_path, _with_vbri(bare, walked))
    assert facts is not None and facts.exact and facts.checks == ("mp3-walk", "mp3-frames")
    assert facts.frames == _decoded(_with_vbri(bare, walked)) == (walked + 1) * 576  # the VBRI frame is silence
    facts = _check(tmp_path, _with_vbri(bare, walked + 1))  # complete, or cut by one frame: unknown
    assert facts is not None and not facts.exact
    reason = _damage(tmp_path, _with_vbri(bare, walked + 3))
    assert reason == (f"The MP3 file holds {walked} audio frames but its VBRI header announces {walked + 3}, "
                      "so it was cut off.")
    assert "so it is damaged" in _damage(tmp_path, _with_vbri(bare, walked - 1))


def test_free_format_streams_are_left_to_the_decoder(tmp_path: Path) -> None:
    free = bytearray(CBR_8K[576:])
    free[2] &= 0x0F  # bitrate index 0: the frame length is not in the header
    assert _check(tmp_path, bytes(free)) is None


def test_a_variable_bitrate_mp3_without_xing_cannot_be_verified(tmp_path: Path) -> None:
    """libsndfile guesses such a file's length from its size and the first frame's bitrate and stops
    decoding there (here after a quarter of the audio): the walk shows it, so it is not stored."""
    vbr = _encode(8000, 1, 5.0)
    bare = vbr[_frames(vbr)[0]:]
    assert _decoded(bare) < 40000 * 0.5
    path = tmp_path / "vbr.mp3"
    path.write_bytes(bare)
    with pytest.raises(AudioRejected) as caught:
        probe_audio(path)
    assert caught.value.reason.startswith("The MP3 has no Xing header and a variable bitrate, so libsndfile "
                                          "decodes only 1.")


def test_memory_stays_flat_for_a_large_file(tmp_path: Path) -> None:
    bare = CBR_8K[_frames(CBR_8K)[0]:]
    path = tmp_path / "large.mp3"
    with path.open("wb") as handle:
        for _ in range(800):  # about 20 MB, 35,000 frames
            handle.write(bare)
    tracemalloc.start()
    try:
        facts = check_mp3(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert facts is not None and facts.frames == 800 * 44 * 576
    assert peak < 4_000_000, f"peak traced memory {peak} bytes"


@pytest.mark.skipif(not os.environ.get("COLLECTOR_MP3_TIMING"), reason="timing run: set COLLECTOR_MP3_TIMING=1")
def test_timing_of_the_check_against_the_decode(tmp_path: Path) -> None:
    """Prints the check's and the decode's times for 10- and 60-minute 8 kHz MP3s (VBR as libsndfile
    writes by default, and CBR as the emulators do). Run with `COLLECTOR_MP3_TIMING=1 pytest -s`."""
    for minutes in (10, 60):
        for mode, options in (("VBR", {}), ("CBR", {"bitrate_mode": "CONSTANT", "compression_level": 0.0})):
            path = tmp_path / f"{minutes}-{mode}.mp3"
            with sf.SoundFile(str(path), "w", 8000, 1, format="MP3", subtype="MPEG_LAYER_III", **options) as out:
                rng = np.random.default_rng(minutes)
                for start in range(0, minutes * 480_000, 80_000):
                    tone = 0.3 * np.sin((np.arange(80_000) + start) * (2 * np.pi * 440 / 8000))
                    out.write((tone + 0.01 * rng.standard_normal(80_000)).astype(np.float32))
            started = time.perf_counter()
            facts = check_mp3(path)
            checked = time.perf_counter() - started
            started = time.perf_counter()
            probe = probe_audio(path, decode=True)
            decoded = time.perf_counter() - started
            assert facts is not None and facts.exact and facts.frames == probe.frames
            print(f"\n{minutes} min {mode} {path.stat().st_size / 1e6:.1f} MB: check {checked:.3f} s, "
                  f"check + decode {decoded:.2f} s")
            assert checked < decoded
