"""How recordings become catalog rows and back, and the small records the catalog hands out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from collector._base._model import Party, Recording
from collector._base._time import iso


def to_json_text(value: Any) -> str:
    """Compact UTF-8 JSON for catalog columns (pydantic-core's serializer: this runs per recording)."""
    return to_json(value, fallback=str, inf_nan_mode="null").decode("utf-8")


_PARTIES = TypeAdapter(list[Party])

RECORDING_COLUMNS = (
    "r.source, r.tenant, r.vendor_id, r.call_id, r.start_utc, r.end_utc, r.duration, r.direction, "
    "r.parties, r.tags, r.media, r.media_size, r.extras, r.raw, r.retain_until, r.legal_hold"
)

UPSERT_RECORDING = """
INSERT INTO recordings (source, tenant, vendor_id, call_id, start_utc, end_utc, duration, direction, parties,
    tags, media, media_size, extras, raw, retain_until, legal_hold, first_seen, updated)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT(source, tenant, vendor_id) DO UPDATE SET
    call_id=excluded.call_id, start_utc=excluded.start_utc, end_utc=excluded.end_utc,
    duration=excluded.duration, direction=excluded.direction, parties=excluded.parties, tags=excluded.tags,
    media=excluded.media, media_size=excluded.media_size, extras=excluded.extras, raw=excluded.raw,
    retain_until=excluded.retain_until, legal_hold=excluded.legal_hold, updated=excluded.updated
WHERE recordings.raw IS DISTINCT FROM excluded.raw OR recordings.extras IS DISTINCT FROM excluded.extras
    OR recordings.retain_until IS DISTINCT FROM excluded.retain_until OR recordings.legal_hold<>excluded.legal_hold
"""


ROW_RETAIN_UNTIL = 14
"""Where `recording_row` puts the retain-until text (the retention events reuse it)."""


def recording_row(r: Recording, stamp: str) -> tuple[Any, ...]:
    """The `recordings` row of a recording (first seen and updated at `stamp`)."""
    return (
        r.source, r.tenant, r.vendor_id, r.call_id, iso(r.start), iso(r.end) if r.end else None, r.duration,
        r.direction.value, _PARTIES.dump_json(r.parties, exclude_defaults=True).decode(), to_json_text(r.tags),
        r.media.value, r.media_size, to_json_text(r.extras), to_json_text(r.raw),
        iso(r.retain_until) if r.retain_until else None, int(r.legal_hold), stamp, stamp,
    )


def row_to_recording(row: Sequence[Any]) -> Recording:
    """A recording from the columns of `RECORDING_COLUMNS`."""
    (source, tenant, vendor_id, call_id, start, end, duration, direction, parties, tags, media, media_size,
     extras, raw, retain_until, legal_hold) = row
    return Recording(
        source=source, tenant=tenant, vendor_id=vendor_id, call_id=call_id, start=start, end=end,
        duration=duration, direction=direction, parties=json.loads(parties), tags=json.loads(tags),
        media=media, media_size=media_size, extras=json.loads(extras), raw=json.loads(raw),
        retain_until=retain_until, legal_hold=bool(legal_hold),
    )


@dataclass(frozen=True)
class WorkPlan:
    """Which work a tenant's recordings get, how long each kind may wait for the vendor, and how
    often a parent whose children are still to come is visited (`revisit_interval`)."""

    audio: bool = True
    transcripts: bool = True
    media_wait: timedelta = timedelta(days=7)
    transcript_wait: timedelta = timedelta(days=7)
    revisit_interval: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Rejected:
    """A vendor item that could not be mapped to a recording, and why."""

    item_id: str | None
    reason: str
    payload: Any


@dataclass(frozen=True)
class PageCounts:
    """What committing one page changed (`new_ids`: the vendor ids stored for the first time;
    `revisits`: parents with children still to come recorded for the first time)."""

    new: int
    updated: int
    quarantined: int
    new_ids: frozenset[str] = frozenset()
    revisits: int = 0
    visited: str | None = None
    """After a visit of a parent (`commit_page(..., visited=)`): the parent's status now."""


@dataclass(frozen=True)
class StoredAudio:
    """A verified audio file as recorded in the catalog: what it is, what proved it (`evidence`,
    `checks`: see `collector._storage._proof`) and where it came from (its chain of custody)."""

    path: str
    sha256: str
    size: int
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float
    evidence: str = "decodes"
    checks: tuple[str, ...] = ()
    fetched: str | None = None
    endpoint: str | None = None
    request_id: str | None = None
    content_length: int | None = None
