"""The emulated accounts' data: deterministic recordings shaped like the vendor's documented example.

Kept apart from the HTTP emulator (`emulator.py`) so tests can build expectations from it. A
recording is generated from (account seed, index, date): the same arguments give the same payload,
so two emulators with the same accounts serve the same recordings (the demo relies on it).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SENTIMENTS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "ERROR", "UNKNOWN")
TAGS = (
    ("1efc024d-5c55-456b-9e91-26cd3f57e689", "Customer Complaint"),
    ("a2c80f67-7d9d-4c99-9a13-20f2cac40c63", "Happy Customer"),
    ("5b0d3e8a-2f7c-4c1e-8d6a-9e4f1b2c3d4e", "Escalation"),
    ("c7e2a9f0-1b3d-4e5f-a6b7-c8d9e0f1a2b3", "Upsell"),
)
NAMES = ("Giulia Rossi", "Marco Bianchi", "Anna Müller", "Luca Ferrari", "Sofia Romano", "Jonas Weber")
WORDS = ("invoice", "refund", "delivery", "contract", "upgrade", "warranty", "renewal", "support", "billing")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(data: bytes) -> str:
    return str(uuid.UUID(bytes=data[:16]))


def recording_id(at: datetime, digest: bytes) -> str:
    """An id shaped like the vendor's: `YYYYMMDDhhmmss-<guid>`."""
    return f"{at.astimezone(UTC):%Y%m%d%H%M%S}-{_guid(digest)}"


def transcript_kind(index: int) -> str:
    """Whether generated recording `index` has a transcript: "ready", "later" (204 for now) or "never" (404)."""
    if index % 5 == 0:
        return "never"
    return "later" if index % 7 == 3 else "ready"


@dataclass
class Entry:
    """One recording as the emulator holds it: the served payload plus what only the server knows."""

    at: datetime
    payload: Any
    seq: int
    transcript: str = "ready"
    text: str = ""
    notes: str = ""

    @property
    def id(self) -> str | None:
        """The payload's id, when it has one."""
        value = self.payload.get("id") if isinstance(self.payload, dict) else None
        return value if isinstance(value, str) else None


def generated(seed: int, index: int, at: datetime, users: tuple[str, ...]) -> Entry:
    """The deterministic recording number `index` of an account, dated `at`."""
    h = hashlib.sha256(f"imagicle:{seed}:{index}:{_iso(at)}".encode()).digest()
    agent, other = NAMES[h[0] % len(NAMES)], NAMES[(h[0] + 1 + h[1] % 4) % len(NAMES)]
    agent_number, other_number = f"+39049{h[2] % 90 + 10}{h[3]:03d}", f"+3902{int.from_bytes(h[4:7], 'big'):08d}"
    direction = ("IN", "OUT", "IN", "OUT", "UNKNOWN")[h[7] % 5]
    caller, callee = ((other, other_number), (agent, agent_number)) if direction == "IN" else \
        ((agent, agent_number), (other, other_number))
    tags = [{"id": TAGS[i][0], "value": TAGS[i][1]} for i in range(len(TAGS)) if h[8] >> i & 1]
    has_notes = bool(h[9] % 3 == 0)
    words = [WORDS[b % len(WORDS)] for b in h[10:16]]
    payload = {
        "id": recording_id(at, h[16:32]),
        "ownerId": users[h[12] % len(users)],
        "direction": direction,
        "from": {"fullName": caller[0], "phoneNumber": caller[1]},
        "to": {"fullName": callee[0], "phoneNumber": callee[1]},
        "date": _iso(at),
        "analysisResult": {"score": round(h[13] / 255 * 2 - 1, 2), "sentiment": SENTIMENTS[h[14] % 5],
                           "status": h[15] % 6},
        "channels": 1 + h[11] % 2,
        "duration": 2 + h[10] % 5,
        "tags": tags,
        "video": {"status": ("NONE", "NONE", "OK", "ERROR")[h[9] % 4]},
        "hasNotes": has_notes,
    }
    return Entry(at=at, payload=payload, seq=index, transcript=transcript_kind(index), text=" ".join(words),
                 notes=f"Follow up on the {words[0]}." if has_notes else "")


def transcription(entry: Entry) -> dict[str, Any]:
    """The documented transcription payload for an entry: speakers, and sentences in seconds."""
    duration = float(entry.payload.get("duration") or 2) if isinstance(entry.payload, dict) else 2.0
    words = entry.text.split() or ["hello"]
    count = 2 + len(words) % 3
    step = duration / count
    return {
        "speakers": [{"speakerId": "spk_0", "speakerLabel": "Agent"},
                     {"speakerId": "spk_1", "speakerLabel": "Customer"}],
        "sentences": [
            {"speakerId": f"spk_{i % 2}", "startTime": round(i * step, 3), "endTime": round((i + 1) * step, 3),
             "text": f"About the {words[i % len(words)]}, please."}
            for i in range(count)
        ],
    }


@dataclass
class Account:
    """One emulated Imagicle tenant: its credentials, its recordings and its test switches."""

    name: str
    seed: int
    base_time: datetime
    recordings: int = 24
    spacing: timedelta = timedelta(minutes=20)
    static_tokens: dict[str, str] = field(default_factory=dict)
    """token -> role: "admin", "controller" or "standard" (a standard user gets 403 on the list)."""
    clients: dict[str, str] = field(default_factory=dict)
    """OAuth2 client id -> client secret."""
    token_lifetime: float = 300.0
    users: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)
    phantoms: list[datetime] = field(default_factory=list)
    """Dates the `total` counts but the list never returns (a window that can never reconcile)."""
    audio_faults: dict[str, str] = field(default_factory=dict)
    """recording id -> "html", "truncated", "duration" (three times too long), "channels" (the other
    channel count) or "missing" (404)."""
    list_requests: int = 0
    insert_every: int = 0
    insert_where: str = "inside"
    insert_left: int | None = None

    def __post_init__(self) -> None:
        if not self.users:
            self.users = tuple(_guid(hashlib.sha256(f"user:{self.seed}:{i}".encode()).digest()) for i in range(3))
        for index in range(self.recordings):
            h = hashlib.sha256(f"at:{self.seed}:{index}".encode()).digest()
            at = self.base_time + self.spacing * index + timedelta(seconds=h[0] % 60)
            self.entries.append(generated(self.seed, index, at, self.users))

    def add(self, at: datetime, payload: Any = None, *, transcript: str | None = None) -> Entry:
        """Add a recording dated `at`, generated (or an explicit, possibly malformed, payload), whose
        transcription is `transcript` ("ready" unless said otherwise)."""
        index = len(self.entries) + 10_000
        entry = generated(self.seed, index, at, self.users) if payload is None else Entry(at, payload, index)
        entry.transcript = transcript or "ready"
        self.entries.append(entry)
        return entry

    def valid_ids(self) -> set[str]:
        """Ids of every well-formed recording (what a complete collection holds)."""
        return {e.id for e in self.entries if e.id is not None and e.payload.get("_valid", True)}
