"""Mapping Xima payloads to the collector's normalized model (pure functions, no I/O).

List answers (see NOTES.md: the docs never show the enclosing brackets): a bare JSON array, or
an object wrapping one (under `data`, `items`, `results`, `content`, `recordings`, `calls`,
`callRecordingInfo`, or the object's only list); a lone recording or call object is a list of one.

`call-recording-info` items are calls holding `recordings`; each recording becomes its own item
(`{...recording, "call": {...call without recordings}}`) so that one bad recording is quarantined
alone and a recording saved late does not change its siblings' stored payload. Items are
de-duplicated on `recordingKey` within a window (a call transferred between queues can list the
same recording twice; the first is kept).

Recording fields:
- `recordingKey` -> vendor_id; `callKey` -> call_id;
- `startTime` (epoch milliseconds) -> start; `duration` (milliseconds) -> duration in seconds;
  `endTime` is not documented on recordings (only on calls): honoured when present;
- `size` (bytes) -> media_size, for egress budgets;
- `callDirection` (or the call's `direction`) -> direction: INBOUND, OUTBOUND, INTERNAL;
- `callingParty` -> party "caller", `receivingParty` -> party "callee", `agent` -> the party it
  names is the agent, or an extra party "agent". "Name(253)" is a name and an extension; digits
  are a number;
- `status`: SAVED (or absent) has audio; any other value means Xima is still processing it: the
  audio waits for the vendor (asked again on later runs; queued at once when a later sweep lists
  it as SAVED);
- `tagData` -> tags; `tenantName`, `skill`, `status`, ids and the call's fields -> extras.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from collector import Direction, MediaAvailability, Party, Recording

WRAPPER_KEYS = ("data", "items", "results", "content", "recordings", "calls", "callRecordingInfo",
                "callRecordingInfos")
_DIRECTIONS = {"INBOUND": Direction.INBOUND, "OUTBOUND": Direction.OUTBOUND, "INTERNAL": Direction.INTERNAL}
_RECORDING_EXTRAS = {"tenantName": "tenant_name", "skill": "skill", "status": "status", "eventId": "event_id",
                     "recordingSystemId": "recording_system_id", "tagData": "tag_data"}
_CALL_EXTRAS = {"callId": "call_id", "shortId": "short_id", "location": "location",
                "dropEventType": "drop_event_type", "totalHoldDuration": "total_hold_duration_ms",
                "callerId": "caller_id", "dialedPartyNumber": "dialed_party_number",
                "accountCodes": "account_codes"}
_LABELLED = re.compile(r"^(?P<name>.*?)\s*\((?P<extension>[^()]*)\)$")
_NUMBER = re.compile(r"^\+?[0-9][0-9 ().-]*$")
_AVAILABLE_STATUS = "SAVED"


def list_items(answer: Any) -> list[Any]:
    """The items of a list answer, whatever wraps them; raises ValueError for anything else."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, Mapping):
        if is_call(answer) or "recordingKey" in answer:
            return [answer]
        for key in WRAPPER_KEYS:
            if isinstance(answer.get(key), list):
                return list(answer[key])
        lists = [value for value in answer.values() if isinstance(value, list)]
        if len(lists) == 1:
            return list(lists[0])
    kind = type(answer).__name__ if not isinstance(answer, Mapping) else "an object without a list"
    raise ValueError(f"Xima answered with {kind}, neither a JSON array nor an object wrapping one")


def is_call(item: Any) -> bool:
    """True for a `call-recording-info` item: an object holding `recordings`, not a recording itself."""
    return isinstance(item, Mapping) and "recordings" in item and "recordingKey" not in item


def window_items(answer: Any) -> list[Any]:
    """One window's answer as a list of recording items: calls flattened, recordingKeys de-duplicated."""
    items: list[Any] = []
    seen: set[str] = set()
    for item in list_items(answer):
        for entry in _flatten(item):
            key = entry.get("recordingKey") if isinstance(entry, Mapping) else None
            if isinstance(key, str):
                if key in seen:
                    continue
                seen.add(key)
            items.append(entry)
    return items


def _flatten(item: Any) -> Iterable[Any]:
    if not is_call(item) or not isinstance(item["recordings"], list):
        return [item]  # a recording, or a malformed call that parse() quarantines with its reason
    call = {key: value for key, value in item.items() if key != "recordings"}
    return [{**entry, "call": call} if isinstance(entry, Mapping) else entry for entry in item["recordings"]]


def within(items: Iterable[Any], start: datetime, end: datetime) -> list[Mapping[str, Any]]:
    """The listed recordings that start in [start, end): a window's own share of Xima's answer.

    Xima's bounds are inclusive at both ends, so a recording dated exactly on a boundary is listed by
    both windows; counted in the half-open window only, the counts of adjacent windows add up.
    """
    low, high = start.timestamp() * 1000, end.timestamp() * 1000
    return [item for item in items if isinstance(item, Mapping) and isinstance(item.get("startTime"), (int, float))
            and not isinstance(item.get("startTime"), bool) and low <= item["startTime"] < high]


def item_id(item: Any) -> str | None:
    """The recordingKey (or, for a call, callKey) of a raw item, for the quarantine listing."""
    if not isinstance(item, Mapping):
        return None
    for key in ("recordingKey", "callKey", "callId"):
        value = item.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def tenant_name(raw: Mapping[str, Any]) -> str | None:
    """The Xima tenant name a stored recording's payload names (its own, else its call's)."""
    call = raw.get("call")
    for value in (raw.get("tenantName"), call.get("tenantName") if isinstance(call, Mapping) else None):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def to_recordings(item: Any, *, source: str, tenant: str) -> list[Recording]:
    """Map one item: a recording (possibly with its `call`), or a whole call (one per recording)."""
    if not isinstance(item, Mapping):
        raise ValueError("the item is not a JSON object")
    if is_call(item):
        recordings = item["recordings"]
        if not isinstance(recordings, list):
            raise ValueError("the call's `recordings` is not a list")
        call = {key: value for key, value in item.items() if key != "recordings"}
        return [to_recording({**entry, "call": call} if isinstance(entry, Mapping) else entry,
                             source=source, tenant=tenant) for entry in recordings]
    return [to_recording(item, source=source, tenant=tenant)]


def to_recording(item: Any, *, source: str, tenant: str) -> Recording:
    """One recording item, normalized."""
    if not isinstance(item, Mapping):
        raise ValueError("the recording is not a JSON object")
    context = item.get("call")
    call: Mapping[str, Any] = context if isinstance(context, Mapping) else {}
    key = item.get("recordingKey")
    if not isinstance(key, str) or not key:
        raise ValueError("the recording has no recordingKey")
    start = epoch_ms(item.get("startTime"), "startTime")
    if start is None:
        raise ValueError("the recording has no startTime")
    duration = milliseconds(item.get("duration"), "duration")
    call_key = item.get("callKey") or call.get("callKey")
    direction = item.get("callDirection") or call.get("direction")
    return Recording(
        source=source,
        tenant=tenant,
        vendor_id=key,
        call_id=str(call_key) if isinstance(call_key, (str, int)) and not isinstance(call_key, bool) else None,
        start=start,
        end=epoch_ms(item.get("endTime"), "endTime"),
        duration=duration,
        direction=_DIRECTIONS.get(str(direction or "").strip().upper(), Direction.UNKNOWN),
        parties=parties(item),
        tags=[item["tagData"].strip()] if isinstance(item.get("tagData"), str) and item["tagData"].strip() else [],
        media=media_availability(item),
        media_size=_size(item.get("size")),
        extras=_extras(item, call),
        raw=dict(item),
    )


def epoch_ms(value: Any, name: str) -> datetime | None:
    """Epoch milliseconds (a number, or digits in a string) as a UTC datetime; None when absent."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} is not a number of milliseconds since the epoch")
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    except OverflowError:
        raise ValueError(f"{name} is out of range") from None


def milliseconds(value: Any, name: str) -> float | None:
    """A duration in milliseconds as seconds; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} is not a number of milliseconds")
    if value < 0:
        raise ValueError(f"{name} is negative")
    return value / 1000


def saved(item: Mapping[str, Any]) -> bool:
    """True once the recording is SAVED (an absent status counts as saved)."""
    status = item.get("status")
    return status is None or str(status).strip().upper() == _AVAILABLE_STATUS


def media_availability(item: Mapping[str, Any]) -> MediaAvailability:
    """Audio is there to fetch once the recording is SAVED; before that Xima is still processing it."""
    return MediaAvailability.AVAILABLE if saved(item) else MediaAvailability.PROCESSING


def parties(item: Mapping[str, Any]) -> list[Party]:
    """callingParty, receivingParty and agent as parties; the agent marks the party it names."""
    named = item.get("agent")
    agent = named.strip() if isinstance(named, str) else ""
    found: list[Party] = []
    for field, role in (("callingParty", "caller"), ("receivingParty", "callee")):
        value = item.get(field)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            text = str(value).strip()
            found.append(party(text, role, is_agent=True if agent and text == agent else None))
    if agent and not any(p.is_agent for p in found):
        found.append(party(agent, "agent", is_agent=True))
    return found


def party(text: str, role: str, *, is_agent: bool | None = None) -> Party:
    """One party from Xima's text: "Name(253)" (name, extension), digits (number) or a name."""
    labelled = _LABELLED.match(text)
    if labelled and labelled["extension"].strip():
        return Party(name=labelled["name"].strip() or None, number=labelled["extension"].strip(),
                     endpoint_type="extension", role=role, is_agent=is_agent)
    if _NUMBER.match(text):
        return Party(number=text, endpoint_type="phoneNumber", role=role, is_agent=is_agent)
    return Party(name=text, role=role, is_agent=is_agent)


def _size(value: Any) -> int | None:
    """The announced audio size in bytes; an unusable value is ignored (only budgets use it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(value)


def _extras(item: Mapping[str, Any], call: Mapping[str, Any]) -> dict[str, Any]:
    extras = {name: item[key] for key, name in _RECORDING_EXTRAS.items() if item.get(key) not in (None, "")}
    extras.update({name: call[key] for key, name in _CALL_EXTRAS.items() if call.get(key) not in (None, "")})
    if "tenant_name" not in extras and isinstance(call.get("tenantName"), str):
        extras["tenant_name"] = call["tenantName"]
    for key, name in (("startTime", "call_start"), ("endTime", "call_end")):
        try:
            moment = epoch_ms(call.get(key), key)
        except ValueError:
            moment = None
        if moment is not None:
            extras[name] = moment.isoformat().replace("+00:00", "Z")
    return extras
