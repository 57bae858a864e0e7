"""Verify that a downloaded body is complete, decodable audio before the store keeps it.

Vendors sometimes answer an audio request with an HTML error page, a JSON error, an MP4 we cannot
check, or a file cut off part-way. libsndfile (through soundfile) is mostly silent about truncation and
gives misleading errors for non-audio input, so this module sniffs the bytes first, reads libsndfile's
verbose header notes for truncation signs, and then decodes the whole file in fixed-size blocks (memory
stays flat whatever the file size) to count the frames really present.

Every failure becomes `AudioRejected` whose `reason` is one English sentence safe to show a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ._containers import ContainerDamaged, ContainerFacts, check_ogg_opus, check_wav
from ._mp3 import check_mp3, mpeg_frame_length

TYPE_CHECKING = False
if TYPE_CHECKING:
    import soundfile as sf

__all__ = [
    "AudioProbe",
    "AudioRejected",
    "describe_head",
    "file_extension",
    "probe_audio",
    "sniff_container",
]

HEAD_BYTES = 4096
"""How many leading bytes probe_audio reads for sniffing (enough to confirm a second MPEG frame)."""

BLOCK_FRAMES = 16384
"""Frames decoded per read: bounds memory and sets how precisely a decoding failure is located."""

_SF_ERRORS = (RuntimeError, ValueError, TypeError, OSError, EOFError)
"""What soundfile/libsndfile can raise for bad input (LibsndfileError is a RuntimeError)."""

_CONTAINER_NAMES = {"ogg": "an Ogg", "wav": "a WAV", "mp3": "an MP3", "flac": "a FLAC"}
_SUBTYPE_CODECS = {"MPEG_LAYER_I": "mp1", "MPEG_LAYER_II": "mp2", "MPEG_LAYER_III": "mp3"}
_CODEC_ALIASES = {
    "mpeg_layer_iii": "mp3",
    "mpeg": "mp3",
    "mulaw": "ulaw",
    "u_law": "ulaw",
    "pcm_mulaw": "ulaw",
    "g711u": "ulaw",
    "a_law": "alaw",
    "pcm_alaw": "alaw",
    "g711a": "alaw",
    "pcm_s16le": "pcm_16",
}
_TEXT_MEDIA_TYPES = ("application/json", "application/xml", "application/problem+json")

_OGG_TRUNCATION_NOTES = (
    "lacks an end-of-stream bit",
    "junk after the last page",
    "ended unexpectedly",
)
_SIZE_NOTE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_SIZE_PLACEHOLDER = 0x7FFFFFFF
"""Declared sizes at or above this are 'unknown length' placeholders written by streaming encoders."""

_FALLBACK_FRAME_SAMPLES = 1152
"""One frame of a format whose frame size is not read here (Ogg FLAC, Speex...): an MPEG-1 frame."""
_LAYER_I_BITS = 3

_UNKNOWN_LENGTH = 1 << 40
"""Header frame counts this large mean 'unknown' (libsndfile reports about 2**60 for those)."""

@dataclass(frozen=True)
class AudioProbe:
    """What probe_audio found in a complete, decodable audio file.

    `checks` says how it was proven, so callers can tell "proven complete" from "decoded only":
    "container" when the container's own self-description proved the file complete and its length
    exact (collector._storage._containers, collector._storage._mp3), "decode" when the whole file was decoded (every
    probe has at least one of the two), plus the names of the container checks that passed
    ("ogg-pages", "wav-chunks", "mp3-walk", "mp3-frames", "mp3-bytes", "mp3-music-crc",
    "mp3-tag-crc"), also when they could not prove the length. Without "container" (an MP3 without
    a Xing header, FLAC, Vorbis, ADPCM WAV) only the decode vouches for the file, and a decode cannot
    see a cut on a frame boundary.
    """

    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    duration: float
    checks: frozenset[str] = frozenset()


class AudioRejected(Exception):
    """Raised when a body is not complete, decodable audio of the expected kind.

    `reason` is one whole English sentence saying what is wrong (e.g. 'The body is an HTML page, not
    audio.'), safe to show a user.
    """

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------------------- sniffing


def _looks_like_mpeg_audio(head: bytes) -> bool:
    """True if `head` starts with a valid MPEG audio frame (confirmed by the next frame when visible).

    When the head is too short to hold the next frame, only layers II/III are trusted: the bytes
    0xFFFE / 0xFFFF (a UTF-16 byte-order mark) happen to form a plausible layer I header.
    """
    length = mpeg_frame_length(head[:4])
    if length is None:
        return False
    if len(head) >= length + 4:
        return mpeg_frame_length(head[length : length + 4]) is not None
    return (head[1] >> 1) & 3 != _LAYER_I_BITS


def sniff_container(head: bytes) -> str | None:
    """Name the container the leading bytes belong to: "ogg", "wav", "mp3", "flac", "mp4" or None.

    Magic bytes tell what a body really is, whatever the Content-Type or the URL claim, and they let
    rejections name the real problem instead of libsndfile's misleading "File does not exist".
    """
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3") or _looks_like_mpeg_audio(head):
        return "mp3"
    return None


# -------------------------------------------------------------------------------------- describing


def _printable(text: str, limit: int) -> str:
    """`text` reduced to one line of printable ASCII (others become '?'), cut to `limit` characters."""
    line = " ".join(text.split())
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in line)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def _decode_text(head: bytes) -> str | None:
    """The head as text if it looks like text (UTF-8 or UTF-16 with a byte-order mark), else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    sample = text[:512]
    if not sample:
        return None
    readable = sum(ch.isprintable() or ch in "\r\n\t" for ch in sample)
    return text if readable / len(sample) >= 0.95 else None


def describe_head(head: bytes) -> str:
    """A short, safe description of what a non-audio body looks like, for rejection reasons.

    Examples: "an HTML page", "a JSON document", "plain text starting 'Internal Server Error'",
    "an empty body", "binary data starting 0x1f8b0800". Quotes at most 40 characters of the body,
    as printable ASCII only, so a hostile body cannot inject control characters into logs or UIs.
    """
    if not head:
        return "an empty body"
    text = _decode_text(head)
    if text is None:
        return f"binary data starting 0x{head[:4].hex()}"
    stripped = text.lstrip()
    lowered = stripped[:1024].lower()
    if lowered.startswith("<!doctype html") or any(tag in lowered for tag in ("<html", "<head", "<body")):
        return "an HTML page"
    if lowered.startswith("<"):
        return "an XML document"
    if lowered.startswith(("{", "[")):
        return "a JSON document"
    if not stripped:
        return "a body of only whitespace"
    first_line = stripped.splitlines()[0]
    return f"plain text starting '{_printable(first_line, 40)}'"


def _media_type(content_type: str) -> str:
    """The bare media type of a Content-Type header (no parameters), lower-case and safe to quote."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return re.sub(r"[^a-z0-9!#$&^_.+/-]", "?", bare)[:60] or "an empty Content-Type"


def _is_text_media_type(media_type: str) -> bool:
    """True for Content-Types that announce a document rather than audio (text/*, JSON, XML)."""
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def _not_audio_reason(head: bytes, content_type: str | None) -> str:
    """The rejection sentence for a body whose bytes are not audio at all."""
    if not head:
        return "The server sent an empty body instead of audio."
    what = describe_head(head)
    if content_type is None:
        return f"The body is {what}, not audio."
    media_type = _media_type(content_type)
    if _is_text_media_type(media_type):
        return f"The server sent {media_type} ({what}) instead of audio."
    return f"The body is {what}, not audio, although the server labelled it {media_type}."


# --------------------------------------------------------------------------------------- probing


def file_extension(probe: AudioProbe) -> str:
    """The file-name extension for a probed file: ".opus", ".ogg", ".wav", ".mp3" or ".flac".

    Ogg Opus gets ".opus" because players pick a decoder from the extension; other Ogg is ".ogg".
    """
    if probe.container == "ogg":
        return ".opus" if probe.codec == "opus" else ".ogg"
    return f".{probe.container}"


def _error_text(exc: BaseException) -> str:
    """libsndfile's own message for an error, without the file path soundfile prefixes."""
    message = getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
    message = re.sub(r"^\s*error\s*:\s*", "", message, flags=re.IGNORECASE)
    return _printable(message.rstrip(". "), 80)


def _seconds(frames: int, sample_rate: int) -> str:
    """Frames as a human duration such as "12.3 s" (sample rate 0 is treated as unknown)."""
    return f"{frames / sample_rate:.1f} s" if sample_rate > 0 else f"{frames} frames"


def _announced(header_frames: int, sample_rate: int) -> str:
    """The header's length as a phrase; streamed files (e.g. FLAC without a total) give none."""
    if header_frames >= _UNKNOWN_LENGTH:
        return "the header gives no length"
    return f"the header announces {_seconds(header_frames, sample_rate)}"


def _read_head(path: Path) -> bytes:
    """The first HEAD_BYTES bytes of the file."""
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def _check_bytes(head: bytes, content_type: str | None) -> str:
    """Return the sniffed container, or reject bodies that are not audio or cannot be verified."""
    container = sniff_container(head)
    if container == "mp4":
        raise AudioRejected(
            "The body is MP4/M4A audio, which this collector cannot verify because soundfile has "
            "no MP4 decoder, so it is not accepted."
        )
    if container is None:
        raise AudioRejected(_not_audio_reason(head, content_type))
    return container


def _container_facts(path: Path, container: str) -> ContainerFacts | None:
    """What the container's own checks found (Ogg Opus, WAV, MP3), or None where it has none."""
    try:
        if container == "ogg":
            return check_ogg_opus(path)
        if container == "wav":
            return check_wav(path)
        if container == "mp3":
            return check_mp3(path)
    except ContainerDamaged as exc:
        raise AudioRejected(exc.reason) from None
    return None


def _frame_samples(head: bytes, container: str, facts: ContainerFacts | None) -> int:
    """One frame (packet, block) of the stream in samples per channel: the container's figure when it
    has one, else FLAC's largest block (STREAMINFO) or half Vorbis's long block, else an MPEG-1 frame."""
    if facts is not None:
        return facts.frame_samples
    if container == "flac" and len(head) >= 12 and head[4] & 0x7F == 0:
        return int.from_bytes(head[10:12], "big") or _FALLBACK_FRAME_SAMPLES
    at = head.find(b"\x01vorbis")
    if container == "ogg" and at >= 0 and len(head) > at + 28:
        return (1 << (head[at + 28] >> 4)) // 2
    return _FALLBACK_FRAME_SAMPLES


def _read_info(path: Path, container: str) -> sf._SoundFileInfo:
    """soundfile's verbose info for the file, turning every libsndfile error into a rejection."""
    import soundfile as sf  # here, not at the top: a pass whose files the containers prove (or that
    # downloads nothing) never loads libsndfile and numpy (about 50 ms of start-up)

    try:
        return sf.info(str(path), verbose=True)
    except _SF_ERRORS as exc:
        raise AudioRejected(
            f"The body starts like {_CONTAINER_NAMES[container]} file but cannot be opened as audio "
            f"({_error_text(exc)}), so it is damaged or incomplete."
        ) from None


def _size_truncation(extra_info: str) -> str | None:
    """A reason if libsndfile's notes show a chunk declared longer than the bytes present (WAV)."""
    found: dict[str, tuple[int, int]] = {}
    for match in _SIZE_NOTE.finditer(extra_info):
        name, declared, actual = match.group(1), int(match.group(2)), int(match.group(3))
        # One byte short of the RIFF size can be a missing pad byte after an odd-sized last chunk, which
        # is harmless; a chunk's own size never counts its pad byte, so any shortfall there is a cut.
        slack = 1 if name.strip().lower() == "riff" else 0
        if declared < _SIZE_PLACEHOLDER and declared - actual > slack:
            found.setdefault(name.strip().lower(), (declared, actual))
    if "data" in found:
        declared, actual = found["data"]
        return (
            f"The header declares {declared} bytes of audio data but only {actual} arrived, "
            "so the file was cut off."
        )
    if found:
        name, (declared, actual) = next(iter(found.items()))
        return (
            f"The file's '{_printable(name, 20)}' size says {declared} bytes but only {actual} "
            "arrived, so the file was cut off."
        )
    return None


def _truncation_hint(extra_info: str) -> str | None:
    """A rejection reason if libsndfile's verbose notes show the file was cut off, else None.

    Only truncation signals count: intact files carry harmless notes too (for instance "'data'
    chunk should be an even number of bytes in length" for odd-sized WAV data).
    """
    lowered = extra_info.lower()
    if any(note in lowered for note in _OGG_TRUNCATION_NOTES):
        return (
            "The Ogg file is incomplete: its last page is cut off or lacks the end-of-stream flag, "
            "so the download was truncated."
        )
    if "seems to be truncated" in lowered:
        return "The audio data is truncated according to the file's own header."
    return _size_truncation(extra_info)


def _decode_frames(path: Path, header_frames: int, sample_rate: int) -> int:
    """Decode the whole file in BLOCK_FRAMES blocks into one reused buffer; return frames decoded.

    Loops read() until it returns nothing rather than trusting blocks() or the header's frame count.
    """
    import numpy as np
    import soundfile as sf  # see _read_info

    frames = 0
    try:
        with sf.SoundFile(str(path)) as sound:
            buffer = np.empty((BLOCK_FRAMES, sound.channels), dtype=np.int16)
            while (count := len(sound.read(BLOCK_FRAMES, dtype="int16", out=buffer))) > 0:
                frames += count
    except _SF_ERRORS as exc:
        raise AudioRejected(
            f"Decoding failed after {_seconds(frames, sample_rate)} "
            f"({_announced(header_frames, sample_rate)}): {_error_text(exc)}, "
            "so the file is damaged or truncated."
        ) from None
    return frames


def _check_decoded(frames: int, announced: int, sample_rate: int, tolerance: int, source: str) -> None:
    """Reject files with no audio, or that decode more than one frame (`tolerance`) short of or beyond
    what `source` (the header, or the container's own count) announces.

    A truncated MP3 keeps its full-length header (Xing tag); only the decoded count shows the cut.
    """
    if frames == 0:
        raise AudioRejected("The file contains no audio frames.")
    if announced >= _UNKNOWN_LENGTH:
        return
    if announced - frames > tolerance:
        raise AudioRejected(
            f"Only {_seconds(frames, sample_rate)} of the {_seconds(announced, sample_rate)} "
            f"announced by {source} could be decoded, so the file was cut off."
        )
    if frames - announced > tolerance:
        raise AudioRejected(
            f"The audio decodes to {_seconds(frames, sample_rate)} but {source} describes "
            f"{_seconds(announced, sample_rate)}, so the file is damaged."
        )


def _codec_name(container: str, subtype: str) -> str:
    """The lower-case codec name for a soundfile subtype ("flac" for any FLAC subtype)."""
    if container == "flac":
        return "flac"
    return _SUBTYPE_CODECS.get(subtype, subtype.lower())


def _normalise_codec(codec: str) -> str:
    """A caller's codec name in this module's vocabulary (lower-case, '-' as '_', common aliases)."""
    name = codec.strip().lower().replace("-", "_")
    return _CODEC_ALIASES.get(name, name)


def _codec_matches(actual: str, expected: str) -> bool:
    """True if `actual` satisfies `expected`; a bare "pcm" accepts any pcm_* codec."""
    wanted = _normalise_codec(expected)
    return actual == wanted or (wanted == "pcm" and actual.startswith("pcm_"))


def _check_duration(duration: float, expected: float | None, tolerance: float, upper_bound: bool = False) -> None:
    """Reject when the audio's duration is off the vendor's by more than `tolerance` seconds (with
    `upper_bound`, only when it is longer: the vendor states the call's length, the recording may
    be shorter)."""
    if expected is None:
        return
    off = duration - expected if upper_bound else abs(duration - expected)
    if off > tolerance:
        raise AudioRejected(
            f"The decoded audio lasts {duration:.1f} s but the vendor reported {expected:.1f} s, "
            "so it is incomplete or not the expected recording."
        )


def _check_format(
    probe: AudioProbe, channels: int | None, sample_rate: int | None, codec: str | None
) -> None:
    """Reject when channels, sample rate or codec differ from what the caller expected."""
    if channels is not None and probe.channels != channels:
        raise AudioRejected(
            f"The audio has {probe.channels} channel(s) but {channels} channel(s) were expected."
        )
    if sample_rate is not None and probe.sample_rate != sample_rate:
        raise AudioRejected(
            f"The audio is sampled at {probe.sample_rate} Hz but {sample_rate} Hz was expected."
        )
    if codec is not None and not _codec_matches(probe.codec, codec):
        raise AudioRejected(
            f"The audio is encoded as {probe.codec} but {_printable(codec, 30)} was expected."
        )


def probe_audio(
    path: Path,
    *,
    content_type: str | None = None,
    expected_duration: float | None = None,
    expected_channels: int | None = None,
    expected_sample_rate: int | None = None,
    expected_codec: str | None = None,
    decode: bool = False,
    duration_tolerance: float = 1.0,
    duration_is_upper_bound: bool = False,
) -> AudioProbe:
    """Verify that `path` holds complete audio; return its probe or raise AudioRejected(reason).

    Steps: sniff the bytes (the Content-Type is only quoted when the bytes are not audio). Then the
    container's own checks, whenever the format has them (`_containers`: Ogg Opus pages, WAV chunk
    sizes; `_mp3`: every frame, the Xing/LAME counts and music CRC). When they prove the file complete
    and exact (`exact`), that is what a decode would prove, at a fraction of the cost, and it is
    trusted unless `decode=True`. Otherwise (an MP3 without a Xing header, FLAC, Vorbis, other WAV
    codecs) and with `decode=True`: read libsndfile's verbose notes for truncation signs, decode to
    the end in fixed-size blocks (memory stays flat for any size) and compare the frames decoded
    with the container's count or the header's, within one frame of the format. Then compare with
    the caller's expectations: the duration may differ from `expected_duration` by at most
    `duration_tolerance` seconds plus one frame. Files that cannot be verified (MP4/M4A) are rejected
    rather than stored unchecked. `AudioProbe.checks` says which proof the file passed.
    """
    path = Path(path)
    head = _read_head(path)
    container = _check_bytes(head, content_type)
    facts = _container_facts(path, container)
    exact = facts is not None and facts.exact
    checks = ({"container"} if exact else set()) | set(facts.checks if facts else ())
    frame_samples = _frame_samples(head, container, facts)
    if facts is not None and exact and not decode:
        if facts.frames == 0:
            raise AudioRejected("The file contains no audio frames.")
        probe = AudioProbe(container, facts.codec, facts.sample_rate, facts.channels, facts.frames,
                           facts.frames / facts.sample_rate, frozenset(checks))
    else:
        probe = _decoded_probe(path, container, facts, frame_samples, frozenset(checks | {"decode"}))
    _check_duration(probe.duration, expected_duration, duration_tolerance + frame_samples / probe.sample_rate,
                    duration_is_upper_bound)
    _check_format(probe, expected_channels, expected_sample_rate, expected_codec)
    return probe


def _decoded_probe(path: Path, container: str, facts: ContainerFacts | None, frame_samples: int,
                   checks: frozenset[str]) -> AudioProbe:
    """Decode the whole file and compare the frames with the container's count (or the header's)."""
    info = _read_info(path, container)
    hint = _truncation_hint(info.extra_info)
    if hint is not None:
        raise AudioRejected(hint)
    frames = _decode_frames(path, info.frames, info.samplerate)
    if facts is not None and (facts.exact or container == "mp3"):
        # Without a Xing count libsndfile guesses an MP3's length from its size and the first frame's
        # bitrate, and stops decoding there: compare with the frames walked instead.
        if not facts.exact and frames == info.frames < facts.frames - frame_samples:
            raise AudioRejected(
                f"The MP3 has no Xing header and a variable bitrate, so libsndfile decodes only "
                f"{_seconds(frames, info.samplerate)} of the {_seconds(facts.frames, info.samplerate)} "
                "its frames hold, and it cannot be verified."
            )
        _check_decoded(frames, facts.frames, info.samplerate, frame_samples, "the file's own frames")
    else:
        _check_decoded(frames, info.frames, info.samplerate, frame_samples, "the file's header")
    return AudioProbe(
        container=container,
        codec=_codec_name(container, info.subtype),
        sample_rate=info.samplerate,
        channels=info.channels,
        frames=frames,
        duration=frames / info.samplerate,
        checks=checks,
    )
