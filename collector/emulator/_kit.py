"""Pieces most vendor emulators need: hostile ids, paging answers, audio answers with faults."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ._audio import synth_audio, truncated
from ._server import EmulatorError, Response

T = TypeVar("T")

HOSTILE_IDS = ("../x", "../../etc/passwd", "a/b\\c", "a|b|c", "nul\x00byte", "x" * 300, "ünïcødé-☎-通話", "CON", "..")
"""Vendor ids that try to escape a folder, break a URL or a file system: every emulation lists
some recordings under them, and the store must keep each safely and separately."""

AUDIO_FAULTS = ("html", "truncated", "duration", "missing")
"""Per-recording audio faults `audio_answer` knows: an HTML page instead of audio, a file cut in
half, audio three times longer than listed, and a 404."""

_CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg-opus": "audio/ogg", "flac": "audio/flac"}


def audio_answer(seed: str, duration: float, *, fmt: str = "wav", fault: str | None = None,
                 **synth: Any) -> Response:
    """A real, unique audio answer for a recording, or one of `AUDIO_FAULTS` instead."""
    if fault == "missing":
        raise EmulatorError(404, "No media for this recording.")
    if fault == "html":
        return Response(200, b"<!DOCTYPE html><html><body><h1>Please sign in</h1></body></html>",
                        "text/html; charset=utf-8")
    data = synth_audio(seed, duration=duration * (3 if fault == "duration" else 1), fmt=fmt, **synth)
    return Response(200, truncated(data) if fault == "truncated" else data, _CONTENT_TYPES.get(fmt, "audio/wav"))


def opaque_cursor(value: str) -> str:
    """An opaque, URL-safe token for a position (vendors' cursors look like this)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def read_cursor(token: str) -> str:
    """The position an `opaque_cursor` token stands for; a forged token answers 400."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise EmulatorError(400, "The cursor is not valid.") from None


def keyset_page(items: Sequence[T], key: Callable[[T], Any], *, after: Any, limit: int) -> tuple[list[T], Any]:
    """Keyset paging over `items` sorted by `key`: the `limit` items after `after` (None: from the
    start), and the key to continue after (None when this page is the last)."""
    remaining = [item for item in items if after is None or key(item) > after]
    page = remaining[:limit]
    return page, (key(page[-1]) if len(remaining) > limit else None)


def link_header(next_url: str | None) -> dict[str, str]:
    """An RFC 8288 `Link` header pointing at the next page (none when there is no next page)."""
    return {"Link": f'<{next_url}>; rel="next"'} if next_url else {}


class Readiness:
    """Which recordings the vendor is still processing: they become ready when a test says so."""

    def __init__(self) -> None:
        self._processing: set[object] = set()
        self._lock = threading.Lock()

    def processing(self, ids: Iterable[object]) -> None:
        """These recordings are still being processed."""
        with self._lock:
            self._processing.update(ids)

    def finish(self, ids: Iterable[object] | None = None) -> None:
        """These recordings (None: all) are processed and their media is ready."""
        with self._lock:
            if ids is None:
                self._processing.clear()
            else:
                self._processing.difference_update(ids)

    def __contains__(self, recording_id: object) -> bool:
        with self._lock:
            return recording_id in self._processing
