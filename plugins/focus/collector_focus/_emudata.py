"""The emulated Focus tenants' data: recordings shaped like the cursor page's example, transcripts.

Everything derives from the tenant's clientId and a recording's index, so two emulators with the
same tenants serve the same recordings (the demo relies on it), and a tenant of 100,000
recordings costs almost no memory (items are built, and cached, when requested).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

ALL_RIGHTS = frozenset({"Recording.View", "Recording.Play", "Recording.Transcription.View"})
BASE_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_NAMES = ("Jane Smith", "Omar Haddad", "Li Wei", "Ana Souza", "Kofi Mensah", "Ingrid Berg", "Ravi Patel")
_WORDS = ("account", "renewal", "invoice", "delivery", "refund", "upgrade", "schedule", "contract", "warranty")


@dataclass
class FocusTenant:
    """One emulated Focus account and its data."""

    client_id: int
    username: str
    api_key: str
    recordings: int = 30
    forced_comments: bool = False
    token_lifetime: float = 300.0
    rights: frozenset[str] = ALL_RIGHTS
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Explicit recordings by interactionId (hostile ids, bad data, very long audio)."""
    audio_faults: dict[str, str] = field(default_factory=dict)
    """thirdPartyId -> "html", "truncated", "duration" (audio three times too long) or "missing"."""
    comments: list[tuple[str, str]] = field(default_factory=list)
    """(thirdPartyId, comment) for every download request that carried a comment."""
    arrivals: list[int | str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.arrivals = list(range(self.recordings))


def generated_recording(client_id: int, index: int, start: datetime | None = None) -> dict[str, Any]:
    """The deterministic recording number `index` of a tenant, shaped like the cursor page example."""
    h = hashlib.sha256(f"{client_id}:{index}".encode()).digest()
    begin = start or BASE_TIME + timedelta(minutes=7 * index, seconds=h[0] % 60)
    duration = 2.0 + (h[1] % 50) / 10
    kind = "sms" if index % 11 == 10 else ("teams" if h[2] % 2 else "phone")
    third_party_id = f"{h[3:7].hex()}-{h[7:9].hex()}-{h[9:11].hex()}|{h[11:15].hex()}|{client_id}-{index}"
    agent, other = _NAMES[h[4] % len(_NAMES)], _NAMES[(h[4] + 1 + h[5] % 5) % len(_NAMES)]
    return {
        "interactionId": client_id * 1_000_000 + index,
        "startDatetimeUTC": iso(begin),
        "endDatetimeUTC": iso(begin + timedelta(seconds=duration)),
        "durationInSeconds": duration,
        "type": kind,
        "commentsCount": 0,
        "transcriptSnippet": f"The call focused on {_WORDS[h[6] % len(_WORDS)]}...",
        "thirdPartyId": third_party_id,
        "endpoints": [
            {"person": {"id": h[8], "fullName": agent}, "endpoint": {"id": h[9], "type": "teamsUserId",
             "endpoint": h[10:14].hex()}, "user": None, "isOriginator": bool(h[12] % 2), "isRecordingSubject": True},
            {"endpoint": {"id": h[13], "type": "phoneNumber",
                          "endpoint": f"+4420{int.from_bytes(h[14:17], 'big'):08d}"},
             "person": {"id": h[15], "fullName": other}, "isRecordingSubject": False, "isOriginator": not h[12] % 2},
        ],
        "analysis": [_WORDS[h[16] % len(_WORDS)].title()],
        "retentionGroupId": None,
        "retainUntil": iso(begin + timedelta(days=3650)),
        "legalHolds": None,
        "tags": [f"callCategory.categoryNames.{_WORDS[h[17] % len(_WORDS)].title()}"],
        "isPrivate": False,
        "isPrivateReason": None,
        "mediaAccessStatus": "Denied" if index % 17 == 16 else "Permitted",
        "dataGroups": None,
        "optional": {},
    }


def transcript_kind(index: int) -> str:
    """Whether generated recording `index` has a transcript: "ready", "later" or "never"."""
    if index % 5 == 0:
        return "never"
    return "later" if index % 7 == 3 else "ready"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=4096)
def cached_recording(client_id: int, index: int) -> dict[str, Any]:
    return generated_recording(client_id, index)


def segments(client_id: int, index: int) -> list[dict[str, Any]]:
    item = cached_recording(client_id, index)
    duration = float(item["durationInSeconds"])
    h = hashlib.sha256(f"transcript:{client_id}:{index}".encode()).digest()
    count = 2 + h[0] % 3
    step = duration / count
    return [
        {"startTime": round(i * step, 3), "endTime": round((i + 1) * step, 3),
         "speaker": "Agent" if i % 2 == 0 else "Customer",
         "text": " ".join(_WORDS[b % len(_WORDS)] for b in h[1 + 4 * i: 5 + 4 * i]).capitalize() + "."}
        for i in range(count)
    ]


