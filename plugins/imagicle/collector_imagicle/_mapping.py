"""Mapping Imagicle Voice Analytics payloads to the collector's normalized model (pure, no I/O).

Recording (an element of `recordings` in `GET /v1/recordings`):
- `id` -> vendor_id (ids look like `20200403000000-6da2f5b0-...`);
- `date` -> start (UTC; a date without a zone is read as UTC); `duration` (seconds) -> duration,
  and end = start + duration;
- `direction` IN / OUT / UNKNOWN -> inbound / outbound / unknown;
- `from` / `to` -> parties with roles "from" / "to" (`fullName` -> name, `phoneNumber` -> number);
- `tags[].value` -> tags; the tag ids, `analysisResult` (score, sentiment, status), `channels`,
  `video.status`, `hasNotes` and `ownerId` -> extras, under the vendor's names;
- media: always "available": Imagicle holds every recording's audio; whether the collector
  fetches it is the `audio` / `audio_url_template` setting's business, not the recording's.

Transcript (`GET /v1/recordings/{id}/transcription`): `speakers[]` ({speakerId, speakerLabel})
label the `sentences[]` ({speakerId, startTime, endTime, text}, seconds as floats); a sentence whose
speaker is not listed keeps its speakerId as the label.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from collector import Direction, MediaAvailability, Party, Recording, Transcript, TranscriptSegment, parse_iso

DIRECTIONS = {"IN": Direction.INBOUND, "OUT": Direction.OUTBOUND, "UNKNOWN": Direction.UNKNOWN}


def recording_id(item: Any) -> str:
    """The recording's id; a missing, empty or non-string id is an error."""
    value = item.get("id") if isinstance(item, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ValueError("the recording has no id")
    return str(value)


def item_key(item: Any) -> str:
    """What de-duplicates a listed item: its id, or a fingerprint of an item without a usable id.

    Items without an id are still counted (the vendor's `total` counts them), and still handed to
    the core, which quarantines them.
    """
    try:
        return "id:" + recording_id(item)
    except ValueError:
        payload = json.dumps(item, sort_keys=True, default=str, ensure_ascii=False)
        return "payload:" + hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def _party(item: Mapping[str, Any], key: str) -> Party | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"`{key}` is not an object")
    name, number = value.get("fullName"), value.get("phoneNumber")
    if name is None and number is None:
        return None
    return Party(name=None if name is None else str(name), number=None if number is None else str(number), role=key)


def _duration(item: Mapping[str, Any]) -> float | None:
    value = item.get("duration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError("`duration` is not a non-negative number of seconds")
    return float(value)


def _tags(item: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, Mapping) for tag in tags):
        raise ValueError("`tags` is not a list of objects")
    return [str(tag.get("value")) for tag in tags if tag.get("value") is not None], [tag.get("id") for tag in tags]


def extras(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields with no cross-vendor meaning, under the vendor's names (`video.status` as videoStatus)."""
    result: dict[str, Any] = {}
    for key in ("ownerId", "analysisResult", "channels", "hasNotes"):
        if key in item:
            result[key] = item[key]
    video = item.get("video")
    if isinstance(video, Mapping) and "status" in video:
        result["videoStatus"] = video["status"]
    return result


def to_recording(item: Any, *, source: str, tenant: str) -> Recording:
    """One listed recording, normalized; raises ValueError (quarantined by the core) when unusable."""
    if not isinstance(item, Mapping):
        raise ValueError("the item is not a JSON object")
    date = item.get("date")
    if not isinstance(date, str):
        raise ValueError("the recording has no `date`")
    start = parse_iso(date, assume_utc=True)
    duration = _duration(item)
    tags, tag_ids = _tags(item)
    more = extras(item)
    if tag_ids:
        more["tagIds"] = tag_ids
    return Recording(
        source=source,
        tenant=tenant,
        vendor_id=recording_id(item),
        start=start,
        end=None if duration is None else start + timedelta(seconds=duration),
        duration=duration,
        direction=DIRECTIONS.get(str(item.get("direction") or "").upper(), Direction.UNKNOWN),
        parties=[p for p in (_party(item, "from"), _party(item, "to")) if p is not None],
        tags=tags,
        media=MediaAvailability.AVAILABLE,
        extras=more,
        raw=dict(item),
    )


def channels(recording: Recording) -> int | None:
    """The documented channel count (1 or 2) of a recording, if it gave one."""
    value = recording.extras.get("channels")
    return value if value in (1, 2) and not isinstance(value, bool) else None


def to_transcript(vendor_id: str, payload: Any) -> Transcript:
    """A transcription answer, normalized; raises ValueError when it is not the documented shape."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("sentences"), list):
        raise ValueError("the transcription has no `sentences` list")
    speakers = payload.get("speakers") or []
    if not isinstance(speakers, list):
        raise ValueError("`speakers` is not a list")
    labels = {
        str(s.get("speakerId")): str(s.get("speakerLabel"))
        for s in speakers
        if isinstance(s, Mapping) and s.get("speakerId") is not None and s.get("speakerLabel") is not None
    }
    segments = []
    for sentence in payload["sentences"]:
        if not isinstance(sentence, Mapping) or not isinstance(sentence.get("text"), str):
            raise ValueError("a sentence is not an object with a `text`")
        start, end = _seconds(sentence, "startTime"), _seconds(sentence, "endTime")
        speaker = sentence.get("speakerId")
        label = None if speaker is None else labels.get(str(speaker), str(speaker))
        segments.append(TranscriptSegment(start=start, end=max(start, end), speaker=label, text=sentence["text"]))
    return Transcript(vendor_id=vendor_id, segments=segments, raw=dict(payload))


def _seconds(sentence: Mapping[str, Any], key: str) -> float:
    value = sentence.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"a sentence's `{key}` is not a non-negative number of seconds")
    return float(value)
