"""Prove a file intact from its container's own checks, without decoding it (Ogg Opus, WAV; MP3 in _mp3).

Decoding to the end is what proves most formats intact, and it is the costliest step of a download
(libopus decodes about 500x real time here: 8 ms for a 4 s call, 7 s for an hour). Some containers
carry enough to prove integrity and duration without it:

- **Ogg Opus** (RFC 3533, RFC 7845): every page has a CRC-32 over its bytes, a sequence number and
  a granule position; the stream opens with a beginning-of-stream page holding `OpusHead` and ends
  with an end-of-stream page whose granule position gives the exact length. Checked here: every
  page's capture pattern, version and CRC; one logical stream; consecutive sequence numbers; BOS
  on the first page only, EOS on the last page only, nothing after it; the `OpusHead` and
  `OpusTags` headers; every audio packet's TOC framing (RFC 6716 section 3.2: frame count and
  lengths consistent with the packet's size); granule positions never going back; and the
  duration: (final granule - pre-skip) / 48 kHz, within one last packet of what the packets hold.
  A bit flip anywhere fails a page's CRC; a cut-off file lacks its last page or EOS. This is
  stricter than the decode, which skips a page whose CRC fails and only comes up a little short.
  ("ogg-pages", exact)
- **RIFF/WAVE**: there is no checksum, and no decoder can tell a flipped sample either, so the decode
  proves only that the data chunk is as long as the header says. Checked here for every WAV codec:
  each chunk lies inside the file, the data chunk holds all its declared bytes, and the RIFF size
  equals the file size exactly (only a final odd chunk's pad byte may be missing; streaming
  encoders' "unknown length" placeholders are accepted). ("wav-chunks") For PCM, float, A-law and
  mu-law the frame count is the data size over the block alignment, so the check is exact; other
  codecs (ADPCM, GSM...) are decoded all the same.
- **MP3**: see collector._storage._mp3 (Xing/Info, LAME tag and its music CRC, a walk of every frame).

Everything else (FLAC, Vorbis, RF64) keeps the full decode. A corpus test (tests/test_containers.py:
intact, truncated at many points, bit-flipped, wrong-duration, wrong-rate and non-audio files) checks
that these checks reject everything the decode rejects and report the same codec, rate, channels and
duration for everything they accept.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_OPUS_FRAME_SAMPLES = (  # per TOC config (RFC 6716 table 2), at 48 kHz
    480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,  # SILK NB/MB/WB
    480, 960, 480, 960,  # hybrid SWB/FB
    120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,  # CELT
)
_MAX_PACKET_SAMPLES = 5760  # 120 ms at 48 kHz
_PAGE_HEADER = struct.Struct("<4sBBqIIIB")
_PCM_TAGS = {1: "pcm", 3: "float", 6: "alaw", 7: "ulaw"}
_EXTENSIBLE = 0xFFFE
_BLOCK_CODECS = (0x0002, 0x0011, 0x0031)  # MS ADPCM, IMA ADPCM, GSM 6.10: fmt gives samples per block
_SIZE_PLACEHOLDER = 0x7FFFFFFF


class ContainerDamaged(Exception):
    """The container's own checks fail; `reason` is one English sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ContainerFacts:
    """What a container's checks found, named as `collector._storage._audio` names them.

    `exact`: the container alone proves the file complete and `frames` exact, so no decode is needed;
    otherwise the checks found no damage but only a decode can tell the length. `checks` names what
    passed ("ogg-pages", "wav-chunks", "mp3-walk", "mp3-frames", "mp3-bytes", "mp3-music-crc",
    "mp3-tag-crc"). `frame_samples` is one frame (packet, block) of this stream in samples per channel:
    the least a length can be off by without anything being lost.
    """

    codec: str
    sample_rate: int
    channels: int
    frames: int
    exact: bool
    checks: tuple[str, ...]
    frame_samples: int


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, no final xor), computed by
    zlib's reflected CRC-32 over bit-reversed bytes (C speed, no table in Python)."""
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int.from_bytes(reflected.to_bytes(4, "little").translate(_BIT_REVERSED), "big")


# ----------------------------------------------------------------------------------------- Ogg


@dataclass
class _OpusState:
    head: bytes | None = None
    tags: bool = False
    samples: int = 0
    last_packet: int = 0
    largest_packet: int = 0
    partial: bytes = b""


def _packet_samples(packet: bytes) -> int:
    """The 48 kHz samples an Opus packet holds, checking its framing (RFC 6716 section 3.2)."""
    if not packet:
        return 0  # a lost or DTX frame: allowed, holds nothing
    toc = packet[0]
    per_frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code == 1:
        if (len(packet) - 1) % 2:
            raise ContainerDamaged("An Opus packet's two equal frames have an odd length, so the file is damaged.")
        frames = 2
    elif code == 2:
        frames = 2
        if len(packet) < 2 or sum(_frame_length(packet, 1)) > len(packet) - 1:
            raise ContainerDamaged("An Opus packet's first frame is longer than the packet, so the file is damaged.")
    else:
        if len(packet) < 2 or (frames := packet[1] & 0x3F) < 1 or frames * per_frame > _MAX_PACKET_SAMPLES:
            raise ContainerDamaged("An Opus packet's frame count is invalid, so the file is damaged.")
    return frames * per_frame


def _frame_length(packet: bytes, at: int) -> tuple[int, int]:
    first = packet[at]
    if first < 252:
        return first, 1
    if at + 1 >= len(packet):
        return len(packet), 1
    return first + 4 * packet[at + 1], 2


def _opus_packet(state: _OpusState, packet: bytes, number: int) -> None:
    if number == 0:
        if not packet.startswith(b"OpusHead") or len(packet) < 19 or packet[8] >> 4 != 0 or packet[9] == 0:
            raise ContainerDamaged("The Ogg stream does not start with a valid Opus header, so it is not Opus audio.")
        state.head = packet
    elif number == 1:
        if not packet.startswith(b"OpusTags"):
            raise ContainerDamaged("The Opus stream lacks its comment header, so the file is damaged.")
        state.tags = True
    else:
        state.last_packet = _packet_samples(packet)
        state.samples += state.last_packet
        state.largest_packet = max(state.largest_packet, state.last_packet)


def _read_page(handle: BinaryIO, offset: int) -> tuple[tuple[int, ...], bytes, bytes] | None:
    header = handle.read(27)
    if not header:
        return None
    if len(header) < 27 or header[:4] != b"OggS":
        raise ContainerDamaged(f"The Ogg file has no page where one should start (at byte {offset}), "
                               "so it is truncated or damaged.")
    fields = _PAGE_HEADER.unpack(header)
    lacing = handle.read(fields[7])
    body = handle.read(sum(lacing))
    if len(lacing) < fields[7] or len(body) < sum(lacing):
        raise ContainerDamaged("The Ogg file's last page is cut off, so the download was truncated.")
    if fields[1] != 0:
        raise ContainerDamaged(f"An Ogg page at byte {offset} has an unknown version, so the file is damaged.")
    if ogg_crc(header[:22] + b"\0\0\0\0" + header[26:] + lacing + body) != fields[6]:
        raise ContainerDamaged(f"The Ogg page at byte {offset} fails its checksum, so the file is damaged.")
    return fields, lacing, body


def check_ogg_opus(path: Path) -> ContainerFacts | None:
    """Prove an Ogg Opus file intact from its pages; None if it is Ogg but not Opus (decode it instead).

    Raises ContainerDamaged with the reason when a check fails.
    """
    state = _OpusState()
    offset, sequence, serial, granule, packets, ended = 0, -1, None, 0, 0, False
    with path.open("rb", buffering=1 << 16) as handle:
        while (page := _read_page(handle, offset)) is not None:
            (_, _, flags, position, page_serial, page_sequence, _, _), lacing, body = page
            if ended:
                raise ContainerDamaged("The Ogg file has data after its end-of-stream page, so it is damaged.")
            first = serial is None
            if first and not body.startswith(b"OpusHead"):
                return None
            if bool(flags & 2) != first or (not first and page_serial != serial):
                raise ContainerDamaged("The Ogg file holds more than one stream or restarts one, so it is damaged.")
            if page_sequence != sequence + 1:
                raise ContainerDamaged(f"An Ogg page is missing before byte {offset}, so the file is damaged.")
            serial, sequence, ended = page_serial, page_sequence, bool(flags & 4)
            start = 0
            for size in lacing:
                if size < 255:  # a packet ends here
                    _opus_packet(state, state.partial + body[start:start + size], packets)
                    state.partial, packets = b"", packets + 1
                else:
                    state.partial += body[start:start + size]
                start += size
            if start < len(body) or (lacing and lacing[-1] == 255):
                state.partial += body[start:]
            if position != -1:
                if position < granule:
                    raise ContainerDamaged("The Ogg file's positions go backwards, so it is damaged.")
                granule = position
            offset = handle.tell()
    if not ended:
        raise ContainerDamaged("The Ogg file is incomplete: it lacks its end-of-stream page, so the download "
                               "was truncated.")
    if state.head is None or not state.tags or state.partial:
        raise ContainerDamaged("The Opus stream ends inside its headers or a packet, so the file is damaged.")
    channels, pre_skip, input_rate = state.head[9], *struct.unpack_from("<HI", state.head, 10)
    if granule < pre_skip or granule > state.samples or state.samples - granule > max(state.last_packet, 1):
        raise ContainerDamaged("The Opus stream's final position does not match the audio it holds, so the file "
                               "is damaged.")
    rate = next((r for r in _OPUS_RATES if r >= input_rate), 48000) if input_rate else 48000
    return ContainerFacts("opus", rate, channels, (granule - pre_skip) * rate // 48000, True, ("ogg-pages",),
                          max(1, state.largest_packet * rate // 48000))


# ----------------------------------------------------------------------------------------- WAV


def check_wav(path: Path) -> ContainerFacts | None:
    """Check a RIFF/WAVE file's chunk sizes against the file's size (see the module docstring).

    Exact facts for PCM, float, A-law and mu-law; facts with `exact=False` for other codecs (decode
    them); None for RF64 or without a usable fmt chunk. Raises ContainerDamaged when a chunk or the
    RIFF is cut off, or when bytes follow the RIFF's end.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        riff = int.from_bytes(head[4:8], "little")
        limit = size if riff >= _SIZE_PLACEHOLDER else min(size, riff + 8)  # what follows the RIFF is no chunk
        fmt: tuple[int, ...] | None = None
        data_bytes, per_block, offset, length = -1, 1, 12, 0
        while offset + 8 <= limit:
            handle.seek(offset)
            name, length = struct.unpack("<4sI", handle.read(8))
            if name == b"fmt ":
                raw = handle.read(min(length, 40))
                if length < 16 or len(raw) < 16:
                    return None
                fmt = struct.unpack_from("<HHIIHH", raw)
                if fmt[0] in _BLOCK_CODECS and len(raw) >= 20:
                    per_block = struct.unpack_from("<H", raw, 18)[0] or 1
                if fmt[0] == _EXTENSIBLE and len(raw) >= 26:
                    fmt = (struct.unpack_from("<H", raw, 24)[0], *fmt[1:])
            elif name == b"data" and data_bytes < 0:
                present = size - offset - 8
                if length >= _SIZE_PLACEHOLDER:
                    length = present  # a streaming encoder's "unknown length": the data runs to the end
                elif length > present:
                    raise ContainerDamaged(f"The header declares {length} bytes of audio data but only {present} "
                                           "arrived, so the file was cut off.")
                data_bytes = length
            offset += 8 + length + (length & 1)
    if fmt is None or data_bytes < 0:
        return None
    _check_riff_size(riff, size, offset, length)
    facts = _wav_facts(fmt, data_bytes)
    if facts is None:
        return ContainerFacts("", fmt[2], fmt[1], 0, False, ("wav-chunks",), per_block)
    return facts


def _check_riff_size(riff: int, size: int, offset: int, length: int) -> None:
    """Reject a chunk running past the end, or a RIFF size other than the file's (a final odd chunk's
    missing pad byte aside; placeholder sizes accepted)."""
    pad_missing = offset == size + 1 and length & 1
    if offset > size and not pad_missing:
        raise ContainerDamaged("The WAV file's last chunk is cut off, so the download was truncated.")
    if riff >= _SIZE_PLACEHOLDER or riff + 8 == size or (riff + 8 == size + 1 and pad_missing):
        return
    if riff + 8 > size:
        raise ContainerDamaged(f"The WAV file's RIFF header declares {riff + 8} bytes but only {size} arrived, "
                               "so the file was cut off.")
    raise ContainerDamaged(f"The WAV file has {size - riff - 8} bytes after its RIFF chunk ends, so it is damaged.")


def _wav_facts(fmt: tuple[int, ...], data_bytes: int) -> ContainerFacts | None:
    """Exact facts for PCM, float, A-law and mu-law data; None for other codecs."""
    tag, channels, rate, _, block_align, bits = fmt
    kind = _PCM_TAGS.get(tag)
    if kind is None or not channels or not rate or not block_align or block_align != channels * ((bits + 7) // 8):
        return None
    if kind == "pcm":
        codec = "pcm_u8" if bits == 8 else f"pcm_{bits}" if bits in (16, 24, 32) else ""
    elif kind == "float":
        codec = {32: "float", 64: "double"}.get(bits, "")
    else:
        codec = kind if bits == 8 else ""
    if not codec:
        return None
    return ContainerFacts(codec, rate, channels, data_bytes // block_align, True, ("wav-chunks",), 1)
