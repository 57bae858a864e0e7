"""Mapping the docs' example payloads (xima-collecting-recordings.txt) to the normalized model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collector import Direction, MediaAvailability, Party
from collector_xima import _mapping

DOC_RECORDINGS: list[dict[str, Any]] = [
    {"recordingKey": "91a1e1e8-08p8-427b-bd04-da43c2a1db7d-1707770449131",
     "callKey": "1dd0gg18-9c63-41de-a386-4f21ba0086f2-1707770438499-1707770497510", "startTime": 1707770449131,
     "duration": 3606, "size": 9111, "eventId": 99181, "recordingSystemId": 0, "status": "SAVED",
     "callingParty": "18885553794", "receivingParty": "Spencer Porter(253)", "tenantName": "acme-ns",
     "tagData": "Default", "callDirection": "INBOUND", "skill": "CC Sales", "agent": "Spencer Porter(253)"},
    {"recordingKey": "a4bc65b6-24gh-41a7-a07b-0bcee2da6551-1707770466508",
     "callKey": "5dcf3a89-3c3b-47f2-a674-7884c2ee1054-1707770438499-1707770497510", "startTime": 1707770466508,
     "duration": 12806, "size": 16379, "eventId": 99184, "recordingSystemId": 0, "status": "SAVED",
     "callingParty": "18885551347", "receivingParty": "Kelly Jaques(256)", "tenantName": "acme-ns",
     "tagData": "", "callDirection": "INBOUND", "skill": "", "agent": "Kelly Jaques(256)"},
]
DOC_CALL: dict[str, Any] = {
    "callId": "853be5cc-f498-5D47-a552-a0b38e6841fc", "shortId": 31875,
    "callKey": "853be5cc-f498-4f33-a552-a0b38e6841fc-1712110317069-1712110924851",
    "startTime": 1712110317069, "endTime": 1712110924851, "direction": "INBOUND",
    "recordings": [
        {"recordingKey": "fe417b58-34da-426c-8ffd-feca5fd772f4-1712110321584",
         "callKey": "853be5cc-f498-4f33-a552-a0b38e6841fc-1712110317069-1712110924851", "startTime": 1712110321584,
         "duration": 603006, "size": 341663, "eventId": 101370, "recordingSystemId": 0, "status": "SAVED",
         "callingParty": "13855554334", "receivingParty": "Kelly Jaques(256)", "tenantName": "acme-ns",
         "tagData": "", "callDirection": "INBOUND", "skill": "", "agent": "Kelly Jaques(256)"},
    ],
    "tenantName": "acme-ns", "callerId": "WIRELESS CALLER", "dialedPartyNumber": "7035559310", "accountCodes": [],
    "totalHoldDuration": 0, "location": "Reno, NV", "dropEventType": "DROP",
}


def recordings(item: Any) -> list[Any]:
    return _mapping.to_recordings(item, source="xima", tenant="acme")


def test_the_recordings_example_maps_to_the_normalized_model() -> None:
    (first,) = recordings(DOC_RECORDINGS[0])
    assert first.vendor_id == "91a1e1e8-08p8-427b-bd04-da43c2a1db7d-1707770449131"
    assert first.call_id == "1dd0gg18-9c63-41de-a386-4f21ba0086f2-1707770438499-1707770497510"
    assert first.start == datetime(2024, 2, 12, 20, 40, 49, 131000, tzinfo=UTC)
    assert first.duration == pytest.approx(3.606)
    assert first.end is None, "recordings carry no endTime in the docs"
    assert first.direction is Direction.INBOUND
    assert first.media is MediaAvailability.AVAILABLE and first.media_size == 9111
    assert first.tags == ["Default"]
    assert first.parties == [
        Party(number="18885553794", endpoint_type="phoneNumber", role="caller"),
        Party(name="Spencer Porter", number="253", endpoint_type="extension", role="callee", is_agent=True),
    ]
    assert first.extras == {"tenant_name": "acme-ns", "skill": "CC Sales", "status": "SAVED", "event_id": 99181,
                            "recording_system_id": 0, "tag_data": "Default"}
    assert first.raw == DOC_RECORDINGS[0]
    (second,) = recordings(DOC_RECORDINGS[1])
    assert second.tags == [] and "skill" not in second.extras and second.duration == pytest.approx(12.806)


def test_the_call_recording_info_example_maps_each_recording_with_its_call() -> None:
    (only,) = _mapping.window_items([DOC_CALL])
    assert only["call"]["callerId"] == "WIRELESS CALLER" and "recordings" not in only["call"]
    (recording,) = recordings(only)
    assert recording.vendor_id == "fe417b58-34da-426c-8ffd-feca5fd772f4-1712110321584"
    assert recording.duration == pytest.approx(603.006) and recording.media_size == 341663
    assert recording.extras["call_start"] == "2024-04-03T02:11:57.069000Z"
    assert recording.extras["call_end"] == "2024-04-03T02:22:04.851000Z"
    assert recording.extras["location"] == "Reno, NV" and recording.extras["caller_id"] == "WIRELESS CALLER"
    assert recording.extras["short_id"] == 31875 and recording.extras["account_codes"] == []
    assert recordings(DOC_CALL) == [recording], "parse() also accepts a whole call"


@pytest.mark.parametrize("answer", [
    DOC_RECORDINGS,
    {"data": DOC_RECORDINGS},
    {"recordings": DOC_RECORDINGS, "count": 2},
    {"anything": DOC_RECORDINGS, "total": 2},
    [*DOC_RECORDINGS, DOC_RECORDINGS[0]],
])
def test_bare_and_wrapped_arrays_are_accepted_and_deduplicated(answer: Any) -> None:
    keys = [item["recordingKey"] for item in _mapping.window_items(answer)]
    assert keys == [DOC_RECORDINGS[0]["recordingKey"], DOC_RECORDINGS[1]["recordingKey"]]


def test_calls_wrapped_or_alone_are_flattened_and_deduplicated() -> None:
    twice = {**DOC_CALL, "callKey": "transferred"}
    for answer in ([DOC_CALL, twice], {"callRecordingInfo": [DOC_CALL]}, DOC_CALL):
        assert len(_mapping.window_items(answer)) == 1


@pytest.mark.parametrize("answer", [None, "text", 3, {"message": "no list here"}, {"a": [], "b": []}])
def test_answers_holding_no_list_are_refused(answer: Any) -> None:
    with pytest.raises(ValueError, match="neither a JSON array nor an object wrapping one"):
        _mapping.window_items(answer)


@pytest.mark.parametrize(("change", "reason"), [
    ({"recordingKey": None}, "no recordingKey"),
    ({"recordingKey": ""}, "no recordingKey"),
    ({"startTime": None}, "no startTime"),
    ({"startTime": "2024-02-12"}, "startTime is not a number"),
    ({"startTime": True}, "startTime is not a number"),
    ({"duration": -1}, "duration is negative"),
    ({"duration": "long"}, "duration is not a number"),
    ({"endTime": 1707770449130}, "ends before it starts"),
])
def test_bad_recordings_are_refused_with_a_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        recordings({**DOC_RECORDINGS[0], **change})


def test_a_call_with_a_broken_recordings_list_is_refused() -> None:
    with pytest.raises(ValueError, match="not a list"):
        recordings({**DOC_CALL, "recordings": "none"})


def test_lenient_fields() -> None:
    (item,) = recordings({**DOC_RECORDINGS[0], "startTime": "1707770449131", "size": "big", "endTime": 1707770452737,
                          "callDirection": "outbound", "status": "saved"})
    assert item.start.year == 2024 and item.media_size is None and item.direction is Direction.OUTBOUND
    assert item.end is not None and item.media is MediaAvailability.AVAILABLE
    (unknown,) = recordings({**DOC_RECORDINGS[0], "callDirection": "SIDEWAYS"})
    assert unknown.direction is Direction.UNKNOWN


def test_statuses_other_than_saved_have_no_audio_yet() -> None:
    for status in ("PROCESSING", "DELETED", "FAILED"):
        (item,) = recordings({**DOC_RECORDINGS[0], "status": status})
        assert item.media is MediaAvailability.PROCESSING and item.extras["status"] == status
    (missing,) = recordings({k: v for k, v in DOC_RECORDINGS[0].items() if k != "status"})
    assert missing.media is MediaAvailability.AVAILABLE


def test_an_agent_on_neither_side_is_an_extra_party() -> None:
    (item,) = recordings({**DOC_RECORDINGS[0], "callingParty": "Front Desk(100)", "receivingParty": "18885550000",
                          "agent": "Kelly Jaques(256)", "callDirection": "OUTBOUND"})
    assert [(p.role, p.name, p.number, p.is_agent) for p in item.parties] == [
        ("caller", "Front Desk", "100", None), ("callee", None, "18885550000", None),
        ("agent", "Kelly Jaques", "256", True),
    ]


def test_the_tenant_name_comes_from_the_recording_or_its_call() -> None:
    assert _mapping.tenant_name(DOC_RECORDINGS[0]) == "acme-ns"
    assert _mapping.tenant_name({"call": {"tenantName": "other"}}) == "other"
    assert _mapping.tenant_name({"tenantName": " "}) is None
    assert _mapping.item_id(DOC_CALL) == DOC_CALL["callKey"] and _mapping.item_id("x") is None
