"""Synthetic but real audio for the vendor emulators and tests.

Every clip is decodable by collector._storage._audio.probe_audio, lasts exactly the requested duration, is
unique per seed (tones whose pitches derive from sha256(seed), plus quiet noise seeded from it) and is
byte-for-byte deterministic for the same arguments: libsndfile picks a random Ogg stream serial number,
so Ogg output gets a serial derived from the seed (and fresh page checksums) after encoding.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from collector._storage._containers import ogg_crc

__all__ = [
    "AUDIO_FORMATS",
    "synth_audio",
    "truncated",
    "wav_duration_for_bytes",
    "wav_stream",
]

AUDIO_FORMATS = ("wav", "mp3", "ogg-opus", "flac")

# fmt -> (soundfile format, subtype, extra soundfile.write arguments). Constant-bitrate MP3 at the
# highest bitrate: libsndfile's default VBR MP3 at 8-22 kHz mono makes mpg123 print
# "part2_3_length too large" errors to fd 2 when decoding (the audio still decodes completely).
_ENCODINGS: dict[str, tuple[str, str, dict[str, object]]] = {
    "wav": ("WAV", "PCM_16", {}),
    "mp3": ("MP3", "MPEG_LAYER_III", {"bitrate_mode": "CONSTANT", "compression_level": 0.0}),
    "ogg-opus": ("OGG", "OPUS", {}),
    "flac": ("FLAC", "PCM_16", {}),
}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MAX_CHANNELS = {"mp3": 2, "ogg-opus": 2}

_TONE_SECONDS = 0.25
_TONE_AMPLITUDE = 0.3
_NOISE_AMPLITUDE = 0.01
_BLOCK_FRAMES = 16384

_WAV_HEADER_BYTES = 44
_WAV_MAX_DATA = 0xFFFFFFFF - 36
_WAV_PERIOD_BYTES = 1 << 19
"""wav_stream repeats this much unique PCM (about 33 s at 8 kHz mono) so a 1 GB body costs no CPU."""



# --------------------------------------------------------------------------------------- signal


def _digest(seed: str) -> bytes:
    """The sha256 of the seed: the source of every pitch, the noise seed and the Ogg serial."""
    return hashlib.sha256(seed.encode("utf-8")).digest()


def _tone_table(digest: bytes, channel: int, sample_rate: int) -> np.ndarray:
    """32 pitches (Hz) for one channel, between 200 Hz and 3 kHz (or 40 % of the sample rate)."""
    low, high = 200.0, min(3000.0, 0.4 * sample_rate)
    table = np.frombuffer(hashlib.sha256(digest + bytes([channel])).digest(), dtype=np.uint8)
    return low + table.astype(np.float64) / 255.0 * (high - low)


def _signal_blocks(
    seed: str, frames: int, sample_rate: int, channels: int
) -> Iterator[np.ndarray]:
    """float32 blocks of shape (n, channels): tone sequence with continuous phase plus quiet noise."""
    digest = _digest(seed)
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    tables = [_tone_table(digest, channel, sample_rate) for channel in range(channels)]
    tone_frames = max(1, round(sample_rate * _TONE_SECONDS))
    phases = np.zeros(channels)
    for start in range(0, frames, _BLOCK_FRAMES):
        index = np.arange(start, min(start + _BLOCK_FRAMES, frames)) // tone_frames
        block = rng.standard_normal((len(index), channels)).astype(np.float32) * _NOISE_AMPLITUDE
        for channel, table in enumerate(tables):
            phase = phases[channel] + np.cumsum(table[index % len(table)]) * (2 * np.pi / sample_rate)
            block[:, channel] += (_TONE_AMPLITUDE * np.sin(phase)).astype(np.float32)
            phases[channel] = phase[-1] % (2 * np.pi)
        yield block


def _frame_count(duration: float, sample_rate: int) -> int:
    """Frames for a duration, rejecting durations that round to nothing."""
    frames = round(duration * sample_rate)
    if frames < 1:
        raise ValueError(f"duration must be positive, got {duration!r}")
    return frames


def _check_format(fmt: str, sample_rate: int, channels: int) -> None:
    """Raise ValueError for format/sample-rate/channel combinations the encoders refuse."""
    if fmt not in _ENCODINGS:
        raise ValueError(f"fmt must be one of {AUDIO_FORMATS}, got {fmt!r}")
    if fmt == "ogg-opus" and sample_rate not in _OPUS_RATES:
        raise ValueError(f"Opus accepts only sample rates {_OPUS_RATES}, got {sample_rate}")
    if not 1 <= channels <= _MAX_CHANNELS.get(fmt, 8):
        raise ValueError(f"{fmt} cannot hold {channels} channels")


# ------------------------------------------------------------------------------------------- Ogg


def _set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Rewrite every page's stream serial number and checksum, so Ogg output is deterministic."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        segments = out[pos + 26]
        length = 27 + segments + sum(out[pos + 27 : pos + 27 + segments])
        out[pos + 14 : pos + 18] = struct.pack("<I", serial)
        out[pos + 22 : pos + 26] = b"\0\0\0\0"
        out[pos + 22 : pos + 26] = struct.pack("<I", ogg_crc(bytes(out[pos : pos + length])))
        pos += length
    return bytes(out)


# ------------------------------------------------------------------------------------- public API


def synth_audio(
    seed: str, *, duration: float, fmt: str, sample_rate: int = 8000, channels: int = 1
) -> bytes:
    """Real, decodable audio of exactly `duration` seconds in `fmt` (one of AUDIO_FORMATS).

    Unique per seed and deterministic for the same arguments, so emulators can serve it and tests can
    compare bytes. Opus accepts only 8/12/16/24/48 kHz; MP3 and Opus at most 2 channels.
    """
    _check_format(fmt, sample_rate, channels)
    frames = _frame_count(duration, sample_rate)
    samples = np.concatenate(list(_signal_blocks(seed, frames, sample_rate, channels)))
    file_format, subtype, options = _ENCODINGS[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format=file_format, subtype=subtype, **options)
    data = buffer.getvalue()
    if file_format == "OGG":
        data = _set_ogg_serial(data, int.from_bytes(_digest(seed)[8:12], "big"))
    return data


def _wav_header(data_bytes: int, sample_rate: int, channels: int) -> bytes:
    """The 44-byte header of a PCM_16 WAV holding `data_bytes` bytes of samples."""
    block_align = 2 * channels
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                sample_rate * block_align, block_align, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )


def _pcm16(seed: str, frames: int, sample_rate: int, channels: int) -> bytes:
    """Little-endian PCM_16 bytes of the seed's signal."""
    return b"".join(
        (np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        for block in _signal_blocks(seed, frames, sample_rate, channels)
    )


def _body_slice(header: bytes, period: bytes, start: int, end: int) -> bytes:
    """Bytes [start, end) of a body made of `header` followed by `period` repeated forever."""
    parts = []
    if start < len(header):
        parts.append(header[start:end])
        start = len(header)
    while start < end:
        offset = (start - len(header)) % len(period)
        count = min(end - start, len(period) - offset)
        parts.append(period[offset : offset + count])
        start += count
    return b"".join(parts)


def _chunks(header: bytes, period: bytes, total: int, chunk_size: int) -> Iterator[bytes]:
    """The body in chunks of `chunk_size` bytes (the last may be shorter)."""
    for start in range(0, total, chunk_size):
        yield _body_slice(header, period, start, min(start + chunk_size, total))


def wav_stream(
    seed: str,
    *,
    duration: float,
    sample_rate: int = 8000,
    channels: int = 1,
    chunk_size: int = 65536,
) -> tuple[int, Iterator[bytes]]:
    """A PCM_16 WAV of `duration` seconds as (content_length, iterator of chunks).

    Generated on the fly with flat memory, so emulators can serve gigabyte bodies: about 512 KiB of
    the seed's signal is computed once and repeated until the body is complete. Unique per seed.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    frames = _frame_count(duration, sample_rate)
    data_bytes = frames * 2 * channels
    if data_bytes > _WAV_MAX_DATA:
        raise ValueError(f"a WAV cannot hold {data_bytes} bytes of samples (4 GiB limit)")
    period_frames = min(frames, max(1, _WAV_PERIOD_BYTES // (2 * channels)))
    period = _pcm16(seed, period_frames, sample_rate, channels)
    header = _wav_header(data_bytes, sample_rate, channels)
    total = _WAV_HEADER_BYTES + data_bytes
    return total, _chunks(header, period, total, chunk_size)


def wav_duration_for_bytes(total_bytes: int, *, sample_rate: int = 8000, channels: int = 1) -> float:
    """The duration whose wav_stream body is about `total_bytes` long (within one frame)."""
    frames = max(0, total_bytes - _WAV_HEADER_BYTES) // (2 * channels)
    return frames / sample_rate


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first `fraction` of the body: what a vendor serving a cut-off file sends."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    return data[: int(len(data) * fraction)]
