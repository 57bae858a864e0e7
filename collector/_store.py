"""The embedded store: a directory a person can browse, with the SQLite catalog at its root.

    <store>/catalog.sqlite                       the catalog (see _catalog)
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.<ext>              verified audio
    <store>/<source>/<tenant>/YYYY/MM/DD/<name>.transcript.json    transcript
    <store>/.quarantine/<source>/<tenant>/<name>.<ext>             downloads that failed checks
    <store>/.tmp/                                scratch space for atomic writes (emptied per run)
    <store>/.lock                                held by the one run writing the store

File names come from `safe_name`, dates from the recording's UTC start. Catalog calls run on one
dedicated thread so the event loop never waits on SQLite and transactions never interleave.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ._catalog import Catalog
from ._errors import RunError
from ._files import move_into_place, recording_dir, safe_name, safe_segment, store_path, write_atomic
from ._model import Recording, Transcript

T = TypeVar("T")

CATALOG_NAME = "catalog.sqlite"


class StoreBusy(RunError):
    """Another run holds the store's lock."""


class Store:
    """A store directory: its catalog, its files, and the lock that keeps runs from overlapping."""

    def __init__(self, root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.root = root.resolve()
            self.temp_dir = self.root / ".tmp"
            self.catalog = Catalog(self.root / CATALOG_NAME)
        except OSError as exc:
            raise RunError(f"The store {root} cannot be opened: {exc.strerror or exc}.") from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog")

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a catalog (or file) operation on the store's worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args, **kwargs))

    def close(self) -> None:
        """Finish pending work and close the catalog."""
        self._executor.shutdown(wait=True)
        self.catalog.close()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store's lock for a run; raise StoreBusy if another process holds it."""
        handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the duration
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"Another collector run is using the store {self.root}; try again later.") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self.clean_temp()
            yield
        finally:
            handle.close()

    def clean_temp(self) -> None:
        """Delete scratch files left by a run that was killed (only called while holding the lock)."""
        if self.temp_dir.is_dir():
            for leftover in self.temp_dir.iterdir():
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)

    # -- layout ----------------------------------------------------------------------------------

    def audio_relpath(self, recording: Recording, extension: str) -> Path:
        """Where a recording's audio goes, relative to the store root."""
        return recording_dir(recording.key, recording.start) / f"{safe_name(recording.vendor_id)}{extension}"

    def transcript_relpath(self, recording: Recording) -> Path:
        """Where a recording's transcript goes, relative to the store root."""
        return recording_dir(recording.key, recording.start) / f"{safe_name(recording.vendor_id)}.transcript.json"

    def quarantine_relpath(self, recording: Recording, extension: str) -> Path:
        """Where a rejected download is kept for inspection, relative to the store root."""
        key = recording.key
        return Path(".quarantine", safe_segment(key.source), safe_segment(key.tenant),
                    f"{safe_name(key.vendor_id)}{extension}")

    def absolute(self, relative: Path) -> Path:
        """The absolute path of a store-relative path, refusing anything outside the store."""
        return store_path(self.root, relative)

    # -- file operations (run them with `call`) -----------------------------------------------------

    def place(self, temp: Path, relative: Path) -> None:
        """Move a finished temporary file to its place in the store, atomically."""
        move_into_place(temp, self.absolute(relative))

    def write_transcript(self, recording: Recording, transcript: Transcript) -> tuple[Path, str, int]:
        """Write a transcript file atomically; returns its store-relative path, sha256 and size."""
        relative = self.transcript_relpath(recording)
        document = {
            "source": recording.source,
            "tenant": recording.tenant,
            "vendor_id": recording.vendor_id,
            **transcript.model_dump(mode="json"),
        }
        data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")
        write_atomic(self.absolute(relative), data, self.temp_dir)
        return relative, hashlib.sha256(data).hexdigest(), len(data)
