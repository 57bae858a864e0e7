"""The normalized data every vendor plugin maps its payloads to.

A `Recording` is one recorded interaction as the vendor lists it, reduced to the fields a compliance
archive or QA programme needs across vendors, with the vendor's own payload kept verbatim in `raw`
so nothing the vendor said is lost. A `Transcript` is the normalized text of one recording.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from ._errors import ItemError


class RecordingKey(NamedTuple):
    """The stable identity of a recording in the store: which plugin, which tenant, which vendor id."""

    source: str
    tenant: str
    vendor_id: str

    def __str__(self) -> str:
        return f"{self.source}/{self.tenant}/{self.vendor_id}"


class Direction(str, enum.Enum):
    """Which way the call went, from the tenant's point of view."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


class MediaAvailability(str, enum.Enum):
    """Whether the vendor holds audio for a recording we are allowed to fetch.

    `AVAILABLE` recordings are queued for download; `PROCESSING` ones wait for the vendor (asked
    again on later runs until `media_wait_days`, and queued at once when a later listing says they
    are available); the others are recorded as such so they are never retried forever (an SMS has
    no audio; media access can be denied by policy).
    """

    AVAILABLE = "available"
    PROCESSING = "processing"
    NONE = "none"
    DENIED = "denied"


class Party(BaseModel):
    """One participant of a call: a person, a phone number or a platform endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    number: str | None = None
    endpoint_type: str | None = None
    role: str = "participant"
    is_agent: bool | None = None


_NO_OFFSET = timedelta(0)


def _utc(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("a timestamp must carry a time zone (naive datetimes are ambiguous)")
    return value if offset == _NO_OFFSET else value.astimezone(UTC)  # already UTC: keep (cheap)


class Recording(BaseModel):
    """One recording, normalized; `key` identifies it in the store across runs.

    Times are UTC; `duration` is in seconds. `raw` is the vendor's payload for this recording,
    unchanged, so a later version of a plugin (or a person) can recover any field we did not map.
    `media_size` is the vendor's announced audio size in bytes, when it gives one (used by egress
    budgets, and checked byte for byte on download); `retain_until` and `legal_hold` are the
    vendor's retention and litigation hold; `extras` holds plugin-defined normalized fields that
    have no cross-vendor meaning.
    """

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    vendor_id: str = Field(min_length=1)
    call_id: str | None = None
    start: datetime
    end: datetime | None = None
    duration: float | None = Field(default=None, ge=0)
    direction: Direction = Direction.UNKNOWN
    parties: list[Party] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    media: MediaAvailability = MediaAvailability.AVAILABLE
    media_size: int | None = Field(default=None, ge=0)
    retain_until: datetime | None = None
    """The vendor's own retention date for the recording, if it states one: the store keeps it at
    least that long (an S3 Object Lock's retain-until is the later of this and the configured
    minimum) and no command deletes or overwrites it before then."""
    legal_hold: bool = False
    """Whether the vendor holds the recording for litigation: kept whatever its retention says,
    never deleted or overwritten while the hold lasts (lifted when the vendor lifts it)."""
    extras: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any]

    @model_validator(mode="after")
    def _normalize_times(self) -> Recording:
        # One Python validator for the whole model: it runs for every recording of a sync.
        start = self.start = _utc(self.start)
        if self.end is not None:
            end = self.end = _utc(self.end)
            if end < start:
                raise ValueError("the recording ends before it starts")
            if self.duration is None:
                self.duration = (end - start).total_seconds()
        if self.duration is not None and not math.isfinite(self.duration):
            raise ValueError("duration must be a finite number of seconds")
        if self.retain_until is not None:
            self.retain_until = _utc(self.retain_until)
        return self

    @property
    def key(self) -> RecordingKey:
        """This recording's identity in the store."""
        return RecordingKey(self.source, self.tenant, self.vendor_id)


class TranscriptSegment(BaseModel):
    """One stretch of speech: when (seconds from the start of the recording), who, and what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker: str | None = None
    text: str


class Transcript(BaseModel):
    """The normalized transcript of one recording, with the vendor's payload kept verbatim."""

    model_config = ConfigDict(extra="forbid")

    vendor_id: str
    language: str | None = None
    segments: list[TranscriptSegment]
    raw: Any = None


class TranscriptState(str, enum.Enum):
    """Why a recording has no transcript (yet): asked again later (`NOT_READY`), or never (`NONE`)."""

    NOT_READY = "not_ready"
    NONE = "none"


TranscriptResult = Union[Transcript, TranscriptState, "ItemError"]
"""What a source answers for one recording's transcript: the transcript, why there is none (yet),
or an item error (e.g. `ItemRejected` for a transcript it could not read, which is quarantined)."""
