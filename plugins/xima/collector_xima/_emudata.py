"""The emulated tenants' data: calls and recordings shaped like the docs' examples, and their audio.

Everything is derived from the tenant name, a recording's index and its start time, so the same
tenant at the same anchor serves byte-identical payloads and audio (the demo relies on it), and
audio depends only on the tenant and index (so it is encoded once per process, whatever the
anchor). Recordings last 2-6.5 s: enough for real Opus pages, cheap to encode (~30 ms each).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from collector.emulator import synth_audio

OPUS_CONTENT_TYPE = "audio/ogg; codecs=opus"
_AGENTS = ("Spencer Porter", "Kelly Jaques", "Dana Whitfield", "Marco Ruiz", "Aiko Tanaka", "Priya Nair")
_SKILLS = ("CC Sales", "CC Support", "Billing", "")
_LOCATIONS = ("Reno, NV", "Salt Lake City, UT", "Denver, CO", "Boise, ID")


def _hash(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def _uuid(digest: bytes) -> str:
    return str(uuid.UUID(bytes=digest[:16]))


def epoch_ms(moment: datetime) -> int:
    """A datetime as Xima's epoch milliseconds."""
    return round(moment.astimezone(UTC).timestamp() * 1000)


def audio_seed(tenant: str, index: int) -> str:
    """The seed of recording `index`'s audio (unique per tenant and recording)."""
    return f"xima:{tenant}:{index}"


def duration_ms(tenant: str, index: int) -> int:
    """The deterministic duration of recording `index`, in milliseconds (2.0-6.5 s)."""
    return 2000 + (_hash("duration", tenant, index)[0] % 46) * 100


@lru_cache(maxsize=2048)
def opus_audio(seed: str, milliseconds: int, sample_rate: int = 8000) -> bytes:
    """Real Ogg Opus audio, mono, unique per seed, lasting exactly `milliseconds`."""
    return synth_audio(seed, duration=milliseconds / 1000, fmt="ogg-opus", sample_rate=sample_rate, channels=1)


@lru_cache(maxsize=256)
def wav_audio(seed: str, milliseconds: int) -> bytes:
    """WAV audio (the wrong format for Xima, used to show the format check)."""
    return synth_audio(seed, duration=milliseconds / 1000, fmt="wav", sample_rate=8000, channels=1)


def recording(tenant: str, index: int, start: datetime, call_key: str, *, agent_slot: int) -> dict[str, Any]:
    """Recording number `index` of a tenant, shaped like the `recordings` example."""
    h = _hash("recording", tenant, index)
    start_ms = epoch_ms(start)
    length = duration_ms(tenant, index)
    agent = f"{_AGENTS[agent_slot % len(_AGENTS)]}({250 + agent_slot % len(_AGENTS)})"
    outside = f"1888555{int.from_bytes(h[4:7], 'big') % 10000:04d}"
    inbound = h[1] % 4 != 0
    return {
        "recordingKey": f"{_uuid(h)}-{start_ms}",
        "callKey": call_key,
        "startTime": start_ms,
        "duration": length,
        "size": len(opus_audio(audio_seed(tenant, index), length)),
        "eventId": 99000 + index,
        "recordingSystemId": 0,
        "status": "SAVED",
        "callingParty": outside if inbound else agent,
        "receivingParty": agent if inbound else outside,
        "tenantName": tenant,
        "tagData": "Default" if h[2] % 2 else "",
        "callDirection": "INBOUND" if inbound else "OUTBOUND",
        "skill": _SKILLS[h[3] % len(_SKILLS)],
        "agent": agent,
    }


def call(tenant: str, number: int, start: datetime) -> dict[str, Any]:
    """Call number `number` of a tenant without recordings yet, shaped like `call-recording-info`."""
    h = _hash("call", tenant, number)
    start_ms = epoch_ms(start)
    return {
        "callId": _uuid(h),
        "shortId": 31000 + number,
        "callKey": f"{_uuid(h[8:] + h[:8])}-{start_ms}-{start_ms + 60_000}",
        "startTime": start_ms,
        "endTime": start_ms,
        "direction": "INBOUND",
        "recordings": [],
        "tenantName": tenant,
        "callerId": "WIRELESS CALLER" if h[0] % 2 else "ACME SUPPLY CO",
        "dialedPartyNumber": f"703555{int.from_bytes(h[1:3], 'big') % 10000:04d}",
        "accountCodes": [],
        "totalHoldDuration": (h[3] % 3) * 1000,
        "location": _LOCATIONS[h[4] % len(_LOCATIONS)],
        "dropEventType": "DROP",
    }


def add_to_call(entry: dict[str, Any], item: dict[str, Any]) -> None:
    """Attach a recording to a call; the call's end and direction follow its recordings."""
    entry["recordings"].append(item)
    entry["endTime"] = max(entry["endTime"], item["startTime"] + item["duration"] + 1000)
    entry["direction"] = entry["recordings"][0]["callDirection"]


def generate(tenant: str, count: int, anchor: datetime, span: timedelta) -> list[dict[str, Any]]:
    """`count` recordings in calls spread over [anchor - span, anchor]; some calls hold two."""
    calls: list[dict[str, Any]] = []
    index = 0
    while index < count:
        number = len(calls)
        start = anchor - span + span * index / max(count, 1)
        entry = call(tenant, number, start)
        parts = 2 if _hash("transfer", tenant, number)[0] % 3 == 0 and index + 1 < count else 1
        moment = start + timedelta(seconds=1)
        for _ in range(parts):
            item = recording(tenant, index, moment, entry["callKey"], agent_slot=index + number)
            add_to_call(entry, item)
            moment += timedelta(milliseconds=item["duration"] + 2000)
            index += 1
        calls.append(entry)
    return calls
