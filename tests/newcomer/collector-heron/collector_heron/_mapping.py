"""Heron's recording JSON to `collector.Recording`s: the call (metadata), each segment (audio)."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from collector import (Direction, ItemDeferred, ItemUnavailable, MediaAvailability, Party,
                       Recording, Revisit, parse_time)

MEDIA = {"ready": MediaAvailability.AVAILABLE, "failed": MediaAvailability.NONE}
GONE = {"recording_deleted", "media_purged", "segment_failed", "not_found"}


def to_recordings(item: Mapping[str, Any], source: str, tenant: str) -> list[Recording | Revisit]:
    """The call (no audio; deletions name it), its finished segments, a `Revisit` until it settles
    (it brings the processing ones later: `media_wait_days` counts from a back-dated call)."""
    started, direction = parse_time(item["started_at"]), Direction(item["direction"])  # RFC 2822
    parties = [Party(number=item["from"], role="caller"), Party(number=item["to"], role="callee")]
    found: list[Recording | Revisit] = [Recording(
        source=source, tenant=tenant, vendor_id=part["id"], call_id=item["id"], raw=dict(item),
        start=started + timedelta(seconds=part.get("offset_seconds", 0)), tags=item["tags"],
        duration=item["duration_seconds"] - part.get("offset_seconds", 0),  # the call's: a bound
        media=MediaAvailability.NONE if part is item else MEDIA[part["status"]],
        extras={"channels": part.get("channels")}, direction=direction, parties=parties)
        for part in [item, *item["segments"]] if part.get("status") != "processing"]
    if not item["settled"]:  # "every recording is settled within 7 days of its created_ms"
        found.append(Revisit(item["id"], item, parse_time(item["created_ms"]) + timedelta(7)))
    return found


def not_ready(item: Mapping[str, Any]) -> Exception:
    """A batch item without a URL: gone for good, or next run (`pending` is under 2 minutes, and
    `ItemNotReady` would count its wait from a back-dated call)."""
    error = item.get("error")
    return (ItemUnavailable if error in GONE else ItemDeferred)(f"Heron: {error or 'pending'}")
