"""Mapping Focus payloads to the collector's normalized model (pure functions, no I/O).

Recording (from the cursor page; see focus-cursor-sync):
- `interactionId` -> vendor_id (documented as numeric; a string is accepted as is);
- `startDatetimeUTC` / `endDatetimeUTC` / `durationInSeconds` -> start / end / duration;
- `thirdPartyId` -> call_id, and the key for the audio download;
- `endpoints[]` -> parties (person.fullName, endpoint.endpoint and .type; `isOriginator` gives the
  role, `isRecordingSubject` marks the recorded employee, i.e. the agent);
- `retainUntil` -> retain_until; `legalHolds` (a list, or null) -> legal_hold when it names any;
- `tags` -> tags; `type`, `analysis`, `mediaAccessStatus`, retention and privacy flags -> extras;
- media: `type = sms` has no audio; `mediaAccessStatus` other than "Permitted" is denied; no
  thirdPartyId means nothing to download with.
- direction: the cursor payload documents none; an optional `direction` field is honoured.

Transcript: the response format of `recording.transcription.get` is undocumented ("segments with
timestamps and speaker information; empty if none"). We accept a list, or an object holding a list
under any key, of entries carrying an `interactionId` and a list of segments under `segments`,
`transcript`, `utterances` or `sentences`; segment times in seconds (`start`/`startTime`/`from`) or
milliseconds (`startMs`/`startTimeMs`). The vendor's payload is kept verbatim in `raw`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector import Direction, MediaAvailability, Recording, Transcript, TranscriptSegment

_DIRECTIONS = {
    "inbound": Direction.INBOUND, "in": Direction.INBOUND, "incoming": Direction.INBOUND,
    "outbound": Direction.OUTBOUND, "out": Direction.OUTBOUND, "outgoing": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
}
_EXTRAS = ("type", "analysis", "mediaAccessStatus", "retentionGroupId", "retainUntil", "legalHolds", "isPrivate",
           "isPrivateReason", "commentsCount", "dataGroups")
_SEGMENT_LISTS = ("segments", "transcript", "utterances", "sentences")
_SECONDS = (("start", "end"), ("startTime", "endTime"), ("from", "to"), ("startSeconds", "endSeconds"))
_MILLISECONDS = (("startMs", "endMs"), ("startTimeMs", "endTimeMs"))


def interaction_id(item: Mapping[str, Any]) -> str:
    """The recording's interactionId as a string; a missing or empty id is an error."""
    value = item.get("interactionId")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise ValueError("the recording has no interactionId")
    return str(value)


def _time(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is not a date-time string")
    return value  # parsed (and checked for a zone) by the model


def media_availability(item: Mapping[str, Any]) -> MediaAvailability:
    """Whether the recording has audio we may download."""
    if str(item.get("type") or "").lower() == "sms" or not item.get("thirdPartyId"):
        return MediaAvailability.NONE
    status = item.get("mediaAccessStatus")
    if status is not None and str(status).lower() != "permitted":
        return MediaAvailability.DENIED
    return MediaAvailability.AVAILABLE


def _party(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ValueError("an endpoints[] entry is not an object")
    person = entry.get("person") or {}
    endpoint = entry.get("endpoint") or {}
    number = endpoint.get("endpoint")
    subject = entry.get("isRecordingSubject")
    return {
        "name": person.get("fullName"),
        "number": None if number is None else str(number),
        "endpoint_type": endpoint.get("type"),
        "role": "originator" if entry.get("isOriginator") else "participant",
        "is_agent": subject if isinstance(subject, bool) else None,
    }


def to_recording(item: Mapping[str, Any], *, source: str, tenant: str) -> Recording:
    """One cursor-page recording, normalized (one validation of the whole model: this runs per item)."""
    if not isinstance(item, Mapping):
        raise ValueError("the item is not a JSON object")
    start = _time(item, "startDatetimeUTC")
    if start is None:
        raise ValueError("the recording has no startDatetimeUTC")
    third_party_id = item.get("thirdPartyId")
    direction = _DIRECTIONS.get(str(item.get("direction") or "").lower(), Direction.UNKNOWN)
    return Recording.model_validate({
        "source": source,
        "tenant": tenant,
        "vendor_id": interaction_id(item),
        "call_id": third_party_id if isinstance(third_party_id, str) and third_party_id else None,
        "start": start,
        "end": _time(item, "endDatetimeUTC"),
        "duration": item.get("durationInSeconds"),
        "direction": direction,
        "parties": [_party(entry) for entry in item.get("endpoints") or []],
        "tags": [str(tag) for tag in item.get("tags") or []],
        "media": media_availability(item),
        "retain_until": _time(item, "retainUntil"),
        "legal_hold": bool(item.get("legalHolds")),
        "extras": {key: item[key] for key in _EXTRAS if key in item},
        "raw": dict(item),
    })


def transcript_entries(answer: Any) -> list[Mapping[str, Any]]:
    """The per-recording entries of a transcription answer, wherever the list sits."""
    if isinstance(answer, list):
        return [entry for entry in answer if isinstance(entry, Mapping)]
    if isinstance(answer, Mapping):
        for value in answer.values():
            if isinstance(value, list):
                return [entry for entry in value if isinstance(entry, Mapping)]
    raise ValueError("the transcription answer holds no list of transcripts")


def to_transcript(entry: Mapping[str, Any]) -> Transcript | None:
    """One recording's transcript, or None when the entry holds no segments (not transcribed yet)."""
    segments_raw = next((entry[key] for key in _SEGMENT_LISTS if isinstance(entry.get(key), list)), None)
    if not segments_raw:
        return None
    return Transcript(
        vendor_id=interaction_id(entry),
        language=entry.get("language") if isinstance(entry.get("language"), str) else None,
        segments=[_segment(s) for s in segments_raw],
        raw=dict(entry),
    )


def _segment(item: Any) -> TranscriptSegment:
    if not isinstance(item, Mapping):
        raise ValueError("a transcript segment is not an object")
    start = end = None
    for (start_key, end_key), scale in [(keys, 1.0) for keys in _SECONDS] + [(keys, 0.001) for keys in _MILLISECONDS]:
        if start_key in item:
            start = float(item[start_key]) * scale
            end = float(item.get(end_key, item[start_key])) * scale
            break
    if start is None or end is None:
        raise ValueError("a transcript segment has no start time")
    speaker = next((item[k] for k in ("speaker", "speakerLabel", "speakerId", "channel") if item.get(k) is not None),
                   None)
    text = next((item[k] for k in ("text", "content", "words") if isinstance(item.get(k), str)), None)
    if text is None:
        raise ValueError("a transcript segment has no text")
    return TranscriptSegment(start=start, end=end, speaker=None if speaker is None else str(speaker), text=text)
