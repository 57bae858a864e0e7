"""Deterministic fake MyVendor data: tenants and their recordings, for the emulator and its users.

The same tenant, number and creation time always give the same recording.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


def timestamp(moment: datetime) -> str:
    """The made-up vendor's timestamps: ISO 8601 in UTC with milliseconds and a `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recording(tenant: str, number: int, created: datetime, *, status: str = "ready",
              recording_id: str | None = None) -> dict[str, Any]:
    """Recording `number` of a tenant, created (listed from) `created`: 1 to 3 seconds long."""
    seconds = 1 + number % 3
    digest = hashlib.sha256(f"{tenant}/{number}".encode()).hexdigest()
    return {
        "id": recording_id if recording_id is not None else f"rec-{digest[:12]}",
        "status": status,
        "started_at": timestamp(created - timedelta(seconds=seconds + 2)),
        "created_at": timestamp(created),
        "duration_seconds": seconds,
        "direction": ("in", "out")[number % 2],
        "caller": f"+1555010{number % 1000:03d}",
        "callee": "+15550199999",
    }


def malformed(created: datetime) -> list[Any]:
    """Items that break the documented shape, each in its own way."""
    good = recording("malformed", 1, created)
    return [
        {key: value for key, value in good.items() if key != "id"},
        {**good, "id": "bad-start", "started_at": "yesterday"},
        {**good, "id": "negative", "duration_seconds": -5},
        {**good, "id": "unknown-status", "status": "archived"},
        "not an object",
    ]


@dataclass
class Row:
    """One listed item: when it was created, its number in its tenant (which orders items
    created in the same instant), its JSON, and whether that is a well-formed recording."""

    created: datetime
    number: int
    item: Any
    valid: bool = True


@dataclass
class Tenant:
    """One emulated tenant: its name, its API key and its recordings."""

    name: str
    api_key: str = field(default_factory=lambda: os.urandom(16).hex())
    rows: list[Row] = field(default_factory=list)
    audio_faults: dict[str, str] = field(default_factory=dict)
    """Per recording id: one of `collector.emulator.AUDIO_FAULTS`, served instead of the audio."""

    def add(self, created: datetime, *, status: str = "ready",
            recording_id: str | None = None) -> dict[str, Any]:
        """A new recording, created at `created`."""
        number = len(self.rows)
        item = recording(self.name, number, created, status=status, recording_id=recording_id)
        self.rows.append(Row(created, number, item))
        return item

    def add_history(self, count: int, newest: datetime, *, every: timedelta) -> None:
        """`count` recordings, one `every` so often, the last created at `newest`."""
        for number in range(count):
            self.add(newest - every * (count - 1 - number))

    def add_item(self, created: datetime, item: Any) -> None:
        """List any item as it is, malformed or not."""
        self.rows.append(Row(created, len(self.rows), item, valid=False))

    def recordings(self) -> list[dict[str, Any]]:
        """The well-formed recordings."""
        return [row.item for row in self.rows if row.valid]

    def find(self, recording_id: str) -> dict[str, Any] | None:
        """A recording, by id."""
        return next((row.item for row in self.rows if row.valid and row.item["id"] == recording_id),
                    None)

    def finish_processing(self) -> None:
        """Every recording still processing is ready now."""
        for item in self.recordings():
            if item["status"] == "processing":
                item["status"] = "ready"

    def newest(self) -> datetime:
        """When the newest item was created."""
        return max(row.created for row in self.rows)
