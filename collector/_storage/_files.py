"""File names and atomic file writes for the store.

Vendor ids end up in file names, and vendors send ids like `../x`, `a|b`, NUL bytes, 300
characters or emoji. `safe_name` keeps a readable, portable part of the id and appends a short
hash of the whole id, so two ids never share a file, no name can climb out of its directory, and
every name stays short enough for any file system. `store_path` then checks, as a second line of
defence, that the final path really lies under the store's root.

Writes go to a temporary file inside the store (same file system), are fsynced, renamed into
place and the directory fsynced: a reader, or a run killed at any instant, sees either the old
file or the new one, never part of one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from collector._base._model import RecordingKey

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_READABLE_LIMIT = 80
_HASH_LENGTH = 12


def safe_name(vendor_id: str) -> str:
    """A portable file-name stem for a vendor id: readable where possible, unique always."""
    digest = hashlib.sha256(vendor_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    ascii_text = unicodedata.normalize("NFKD", vendor_id).encode("ascii", "ignore").decode("ascii")
    readable = _UNSAFE.sub("_", ascii_text).strip("._-")[:_READABLE_LIMIT].rstrip("._-")
    return f"{readable}-{digest}" if readable else digest


def recording_dir(key: RecordingKey, start: datetime) -> Path:
    """The browsable folder of a recording, relative to the store: source/tenant/YYYY/MM/DD."""
    return Path(safe_segment(key.source), safe_segment(key.tenant), f"{start:%Y}", f"{start:%m}", f"{start:%d}")


def safe_segment(name: str) -> str:
    """A path segment for a configured name (source or tenant): kept as is when already safe."""
    return name if name and _UNSAFE.search(name) is None and name.strip("._-") == name else safe_name(name)


def store_path(root: Path, relative: Path) -> Path:
    """Join `relative` to `root`, refusing any result that would lie outside the root."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ValueError(f"refusing a path outside the store: {relative}")
    return candidate


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def temp_file(directory: Path, suffix: str = ".part") -> Iterator[tuple[Path, BinaryIO]]:
    """A new temporary file in `directory`, removed on exit unless it was moved away."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield path, handle
    finally:
        path.unlink(missing_ok=True)


def finish_file(handle: BinaryIO) -> None:
    """Flush and fsync a file written through `temp_file`, before it is probed or renamed."""
    handle.flush()
    os.fsync(handle.fileno())


def move_into_place(temp: Path, final: Path) -> None:
    """Atomically rename a finished temporary file to its final path and make it durable."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)
    fsync_dir(final.parent)


def write_atomic(final: Path, data: bytes, temp_dir: Path) -> None:
    """Write `data` to `final` atomically (temporary file, fsync, rename)."""
    with temp_file(temp_dir) as (temp, handle):
        handle.write(data)
        finish_file(handle)
        move_into_place(temp, final)


class AtomicText:
    """A text file written as a whole or not at all: to a temporary file beside it, then renamed.

    Written with `surrogatepass`, so any text the catalog holds (a vendor id with a lone
    surrogate) round-trips when read back the same way.
    """

    def __init__(self, final: Path) -> None:
        self.final = final

    def __enter__(self) -> TextIO:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".part")
        self._temp = Path(name)
        self._handle = os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass", newline="")
        return self._handle

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            if error is None:
                move_into_place(self._temp, self.final)
        finally:
            self._temp.unlink(missing_ok=True)
