"""Passes the catalog could not record, kept until it can: every pass ends up in `runs`.

When the store's disk is full (or its database away), a pass cannot write its `runs` row: its
start fails, or its finish. Such a pass is written instead to `<store>/.runs-pending`, a small file
reserved (fallocated) in advance while there is space, and rewritten in place, so writing it needs
no new blocks on the full disk. The next pass that can write the catalog records what the file
holds (a row for a pass that never got one; the finish of one that was left unfinished) and empties
it. Passes that died without a word (SIGKILL) keep their unfinished row, marked "interrupted".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL = ".runs-pending"
SIZE = 256 * 1024
"""The reserved size: a pass of 500 tenants takes about 30 KB in its short form."""


class RunJournal:
    """The store's `.runs-pending` file."""

    def __init__(self, root: Path) -> None:
        self.path = root / JOURNAL

    def reserve(self) -> None:
        """Create the file at its full size while there is space (nothing happens if there is none)."""
        if self.path.is_file() and self.path.stat().st_size >= SIZE:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, SIZE)  # new blocks read as zeros: an empty journal
        except OSError:
            pass
        finally:
            os.close(fd)

    def pending(self) -> list[dict[str, Any]]:
        """The passes waiting to be recorded, oldest first."""
        try:
            text = self.path.read_bytes().strip(b"\0 \n")
        except OSError:
            return []
        try:
            records = json.loads(text) if text else []
        except ValueError:
            return []
        return [record for record in records if isinstance(record, dict)]

    def keep(self, record: dict[str, Any]) -> bool:
        """Add a pass (rewriting the reserved file in place); False if it cannot be kept."""
        records = [*self.pending(), record]
        data = json.dumps(records, separators=(",", ":"), default=str).encode()
        if len(data) > SIZE:  # a huge pass: its per-tenant summaries give way to their statuses
            record = {**record, "tenants": [t[:3] for t in record.get("tenants", [])]}
            data = json.dumps([*records[:-1], record], separators=(",", ":"), default=str).encode()
        if len(data) > SIZE or not self.path.is_file():
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(fd, data + b" " * (SIZE - len(data)), 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return False
        return True

    def clear(self) -> None:
        """Everything pending has been recorded."""
        try:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(fd, b" " * SIZE, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
