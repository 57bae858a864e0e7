"""Mapping the vendor's documented payloads to the normalized model."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from collector import Direction, MediaAvailability, Party
from collector_imagicle._mapping import item_key, to_recording, to_transcript

# The example from v1-recordings-list.txt, verbatim (one element of `recordings`).
DOCUMENTED: dict[str, Any] = {
    "id": "string",
    "ownerId": "string",
    "direction": "IN",
    "from": {"fullName": "string", "phoneNumber": "string"},
    "to": {"fullName": "string", "phoneNumber": "string"},
    "date": "2021-04-25T10:24:40Z",
    "analysisResult": {"score": 0.8, "sentiment": "POSITIVE", "status": 2},
    "channels": 2,
    "duration": 362,
    "tags": [
        {"id": "1efc024d-5c55-456b-9e91-26cd3f57e689", "value": "Customer Complaint"},
        {"id": "a2c80f67-7d9d-4c99-9a13-20f2cac40c63", "value": "Happy Customer"},
    ],
    "video": {"status": "OK"},
    "hasNotes": True,
}


def example(**changes: Any) -> dict[str, Any]:
    item = copy.deepcopy(DOCUMENTED)
    item.update(id="20200403000000-6da2f5b0-03c6-482d-a28e-7c26df5643b6", ownerId="9b2f0a5c-user",
                **{"from": {"fullName": "Giulia Rossi", "phoneNumber": "+390491234567"},
                   "to": {"fullName": "Help Desk", "phoneNumber": "+39021234"}})
    item.update(changes)
    return item


def test_the_documented_example_maps_field_by_field() -> None:
    recording = to_recording(DOCUMENTED, source="imagicle", tenant="acme")
    assert recording.vendor_id == "string"
    assert recording.start == datetime(2021, 4, 25, 10, 24, 40, tzinfo=UTC)
    assert recording.duration == 362.0
    assert recording.end == datetime(2021, 4, 25, 10, 30, 42, tzinfo=UTC)
    assert recording.direction is Direction.INBOUND
    assert recording.parties == [Party(name="string", number="string", role="from"),
                                 Party(name="string", number="string", role="to")]
    assert recording.tags == ["Customer Complaint", "Happy Customer"]
    assert recording.media is MediaAvailability.AVAILABLE
    assert recording.extras == {
        "ownerId": "string",
        "analysisResult": {"score": 0.8, "sentiment": "POSITIVE", "status": 2},
        "channels": 2,
        "hasNotes": True,
        "videoStatus": "OK",
        "tagIds": ["1efc024d-5c55-456b-9e91-26cd3f57e689", "a2c80f67-7d9d-4c99-9a13-20f2cac40c63"],
    }
    assert recording.raw == DOCUMENTED


@pytest.mark.parametrize(("direction", "expected"), [
    ("IN", Direction.INBOUND), ("OUT", Direction.OUTBOUND), ("UNKNOWN", Direction.UNKNOWN),
    ("out", Direction.OUTBOUND), (None, Direction.UNKNOWN), ("SIDEWAYS", Direction.UNKNOWN),
])
def test_direction(direction: Any, expected: Direction) -> None:
    assert to_recording(example(direction=direction), source="imagicle", tenant="t").direction is expected


def test_optional_fields_may_be_missing() -> None:
    item = {"id": "20200403000000-x", "date": "2021-04-25T10:24:40"}  # no zone: read as UTC
    recording = to_recording(item, source="imagicle", tenant="t")
    assert recording.start == datetime(2021, 4, 25, 10, 24, 40, tzinfo=UTC)
    assert recording.parties == [] and recording.tags == [] and recording.duration is None
    assert recording.extras == {}


def test_a_party_with_only_a_number_keeps_it() -> None:
    recording = to_recording(example(to={"phoneNumber": "+3902"}, **{"from": None}), source="imagicle", tenant="t")
    assert recording.parties == [Party(number="+3902", role="to")]


@pytest.mark.parametrize("changes", [
    {"id": ""}, {"id": None}, {"date": None}, {"date": "yesterday"}, {"duration": -1}, {"duration": "362"},
    {"from": "Giulia"}, {"tags": "Complaint"}, {"tags": ["Complaint"]},
])
def test_unusable_items_raise_so_the_core_quarantines_them(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        to_recording(example(**changes), source="imagicle", tenant="t")


def test_items_without_an_id_are_still_told_apart() -> None:
    assert item_key(example()) == "id:20200403000000-6da2f5b0-03c6-482d-a28e-7c26df5643b6"
    first, second = item_key({"date": "2021-04-25T10:24:40Z"}), item_key({"date": "2021-04-25T10:24:41Z"})
    assert first.startswith("payload:") and first != second
    assert item_key("not an object") != item_key("another")


def test_the_documented_transcription_maps_speaker_labels_onto_sentences() -> None:
    payload = {
        "speakers": [{"speakerId": "0", "speakerLabel": "Agent"}, {"speakerId": "1", "speakerLabel": "Customer"}],
        "sentences": [
            {"speakerId": "0", "startTime": 0.0, "endTime": 2.5, "text": "Good morning."},
            {"speakerId": "1", "startTime": 2.61, "endTime": 5, "text": "Hi, about my invoice."},
            {"speakerId": "7", "startTime": 5.2, "endTime": 6.0, "text": "(someone else)"},
        ],
    }
    transcript = to_transcript("rec-1", payload)
    assert [(s.start, s.end, s.speaker, s.text) for s in transcript.segments] == [
        (0.0, 2.5, "Agent", "Good morning."),
        (2.61, 5.0, "Customer", "Hi, about my invoice."),
        (5.2, 6.0, "7", "(someone else)"),
    ]
    assert transcript.vendor_id == "rec-1" and transcript.raw == payload


@pytest.mark.parametrize("payload", [
    None, [], {"speakers": []}, {"sentences": [{"startTime": 0, "endTime": 1}]},
    {"sentences": [{"startTime": "0", "endTime": 1, "text": "x"}]}, {"sentences": [], "speakers": "x"},
])
def test_an_unreadable_transcription_raises(payload: Any) -> None:
    with pytest.raises(ValueError):
        to_transcript("rec-1", payload)
