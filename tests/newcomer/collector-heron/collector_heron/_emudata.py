"""Deterministic fake Heron data: workspaces, their recordings and segments, for the emulator.

The same workspace, number and times always give the same recording. Recordings are kept in
storage order; each change (a creation, an edit, a deletion) takes the workspace's next sequence
number, which is what the emulated changes feed pages by.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo


def digest(seed: str, length: int = 16) -> str:
    """Hex digits, the same for the same seed."""
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def ms(moment: datetime) -> int:
    """Heron's `_ms` fields: Unix time in milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass
class Segment:
    """One piece of a recording's audio, its own file."""

    id: str
    index: int
    channels: int
    offset: int
    seconds: float
    status: str = "ready"  # processing, ready, failed
    fault: str | None = None  # one of collector.emulator.AUDIO_FAULTS, served instead
    purged: bool = False  # retention removed its media
    ready_at: float = 0.0  # its media is pending until then (time.time())

    def item(self) -> dict[str, Any]:
        """The segment as Heron lists it."""
        listed: dict[str, Any] = {"id": self.id, "index": self.index, "status": self.status,
                                  "channels": self.channels, "offset_seconds": self.offset}
        if self.status == "ready":
            listed["ready_ms"] = ms(datetime.now(UTC))
        return listed


@dataclass
class Rec:
    """One recording (or, with `raw`, any item listed as it is, malformed or not)."""

    id: str
    number: int
    started: datetime
    created: datetime
    duration: int
    seq: int
    segments: list[Segment] = field(default_factory=list)
    settled: bool = True
    deleted: bool = False
    tags: list[str] = field(default_factory=list)
    raw: Any = None

    def item(self, zone: str) -> Any:
        """The recording as the feed and `GET /v2/recordings/{id}` show it."""
        if self.raw is not None:
            return self.raw
        if self.deleted:
            return {"id": self.id, "deleted": True, "deleted_ms": ms(datetime.now(UTC))}
        return {
            "id": self.id, "workspace_id": f"wsp_{digest(zone, 10)}", "timezone": zone,
            "started_at": format_datetime(self.started.astimezone(ZoneInfo(zone))),
            "duration_seconds": self.duration, "direction": ("inbound", "outbound")[self.number % 2],
            "from": f"+4930555{self.number % 10_000:04d}", "to": "+493055500100",
            "agent": {"name": "Ada Reyes", "email": "ada@northwind.example"}, "queue": "Billing",
            "tags": list(self.tags), "created_ms": ms(self.created), "updated_ms": ms(self.created),
            "settled": self.settled, "segments": [segment.item() for segment in self.segments],
        }


@dataclass
class Workspace:
    """One emulated workspace and its API client."""

    name: str
    timezone: str = "Europe/Berlin"
    client_id: str = field(default_factory=lambda: f"hrn_cli_{os.urandom(6).hex()}")
    client_secret: str = field(default_factory=lambda: f"hrs_{os.urandom(16).hex()}")
    recs: list[Rec] = field(default_factory=list)
    seq: int = 0
    generation: int = 0  # sync tokens and cursors of an older generation have expired

    def next_seq(self) -> int:
        """The sequence number of the next change."""
        self.seq += 1
        return self.seq

    def add(self, started: datetime, *, segments: int = 1, status: str = "ready",
            settled: bool = True, failed: bool = False,
            segment_ids: list[str] | None = None) -> Rec:
        """A recording stored now, of a call answered at `started`."""
        number = len(self.recs)
        rec_id = f"rec_{digest(f'{self.name}/{number}')}"
        duration = 4 + 2 * segments
        rec = Rec(rec_id, number, started.replace(microsecond=0), datetime.now(UTC),
                  duration, self.next_seq(), settled=settled)
        for index in range(segments):
            seg_id = segment_ids[index] if segment_ids else f"seg_{digest(f'{rec_id}/{index}')}"
            rec.segments.append(Segment(seg_id, index, 1 + number % 2, 2 * index, 1.0 + index % 2,
                                        status=status))
        if failed:
            rec.segments.append(Segment(f"seg_{digest(f'{rec_id}/f')}", segments, 1, 2 * segments,
                                        1.0, status="failed"))
        self.recs.append(rec)
        return rec

    def add_item(self, item: Any) -> None:
        """List any item as it is."""
        self.recs.append(Rec(f"raw-{len(self.recs)}", len(self.recs), datetime.now(UTC),
                             datetime.now(UTC), 0, self.next_seq(), raw=item))

    def valid(self) -> list[Rec]:
        """The well-formed recordings (deleted ones included)."""
        return [rec for rec in self.recs if rec.raw is None]

    def find_segment(self, segment_id: str) -> tuple[Rec, Segment] | None:
        """A segment and its recording."""
        for rec in self.valid():
            for segment in rec.segments:
                if segment.id == segment_id:
                    return rec, segment
        return None

    def find(self, rec_id: str) -> Rec | None:
        """A recording."""
        return next((rec for rec in self.valid() if rec.id == rec_id), None)


def malformed() -> list[Any]:
    """Items that break the documented shape, each in its own way."""
    good = Workspace("malformed").add(datetime.now(UTC)).item("UTC")
    return [
        {key: value for key, value in good.items() if key != "id"},
        {**good, "id": "rec_bad_start", "started_at": "yesterday"},
        {**good, "id": "rec_no_segments", "segments": None},
        {**good, "id": "rec_bad_status", "segments": [{**good["segments"][0], "status": "lost"}]},
        "not an object",
    ]
