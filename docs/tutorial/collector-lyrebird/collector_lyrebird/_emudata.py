"""Deterministic fake Lyrebird data: accounts and their recordings, for the emulator and its users.

The same account, number and creation time always give the same recording. Legs 2k and 2k+1 are
the two legs of call k, and the legs of every call have the same two Leg SIDs, as Lyrebird's may:
a Leg SID is unique within its call only, so only (call_sid, leg_sid) identifies a recording.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collector import path_segment


def sid(prefix: str, seed: str, digits: int = 32) -> str:
    """A SID in Lyrebird's format (a prefix and hex digits), the same for the same seed."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:digits]


def timestamp(moment: datetime) -> str:
    """Lyrebird's timestamp format: RFC 3339 in UTC with milliseconds and a `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(number: int) -> int:
    """How long recording `number` lasts (short, so that tests stay fast)."""
    return 1 + number % 3


def history_status(number: int) -> str:
    """The status of recording `number` of a generated history: a few are deleted or restricted."""
    return {5: "deleted", 6: "restricted"}.get(number % 7, "completed")


def recording(account_sid: str, number: int, created: datetime, *, status: str = "completed",
              call_sid: str | None = None) -> dict[str, Any]:
    """Recording `number` of an account, created (its call ended) at `created`."""
    call = call_sid if call_sid is not None else sid("CA", f"{account_sid}/call/{number // 2}")
    leg = sid("LG", f"leg/{number % 2}", 8)
    length, processing = seconds(number), status == "processing"
    path = map(path_segment, (account_sid, "Calls", call, "Recordings", leg))
    return {
        "account_sid": account_sid, "call_sid": call, "leg_sid": leg, "status": status,
        "start_time": timestamp(created - timedelta(seconds=length + 4)),
        "date_created": timestamp(created), "date_updated": timestamp(created),
        "duration": None if processing else str(length), "channels": 1 + number % 2,
        "direction": ("inbound", "outbound")[number % 2],
        "from": f"+1415555{number % 10_000:04d}", "to": "+14155550199",
        "price": None if processing else "-0.00250", "price_unit": "USD",
        "uri": "/".join(["/v3/Accounts", *path]),
    }


def malformed(created: datetime) -> list[Any]:
    """Items that break the documented shape, each in its own way."""
    good = recording(sid("AC", "malformed"), 1, created)
    return [
        {key: value for key, value in good.items() if key != "call_sid"},
        {**good, "call_sid": sid("CA", "bad-start"), "start_time": "yesterday"},
        {**good, "call_sid": sid("CA", "negative"), "duration": "-5"},
        {**good, "call_sid": sid("CA", "archived"), "status": "archived"},
        "not an object",
    ]


@dataclass
class Row:
    """One listed item: when it was created, its number in its account (which orders items
    created in the same instant), its JSON, and whether that is a well-formed recording."""

    created: datetime
    number: int
    item: Any
    valid: bool = True


@dataclass
class Account:
    """One emulated account: its SID (from its name), its Auth Token and its recordings."""

    name: str
    token: str = field(default_factory=lambda: os.urandom(16).hex())
    rows: list[Row] = field(default_factory=list)
    audio_faults: dict[tuple[str, str], str] = field(default_factory=dict)
    """Per (call, leg): one of `collector.emulator.AUDIO_FAULTS`, served instead of the media."""

    @property
    def sid(self) -> str:
        """The Account SID."""
        return sid("AC", f"account/{self.name}")

    def add(self, created: datetime, *, status: str = "completed",
            call_sid: str | None = None) -> dict[str, Any]:
        """A new recording, created (its call ended) at `created`."""
        number = len(self.rows)
        item = recording(self.sid, number, created, status=status, call_sid=call_sid)
        self.rows.append(Row(created, number, item))
        return item

    def add_history(self, count: int, newest: datetime, *, every: timedelta) -> None:
        """`count` recordings, one `every` so often, the last created at `newest`."""
        for number in range(count):
            self.add(newest - every * (count - 1 - number), status=history_status(len(self.rows)))

    def add_item(self, created: datetime, item: Any) -> None:
        """List any item as it is, malformed or not."""
        self.rows.append(Row(created, len(self.rows), item, valid=False))

    def recordings(self) -> list[dict[str, Any]]:
        """The well-formed recordings."""
        return [row.item for row in self.rows if row.valid]

    def find(self, call: str, leg: str) -> Row | None:
        """A recording's row."""
        return next((row for row in self.rows if row.valid and row.item["call_sid"] == call
                     and row.item["leg_sid"] == leg), None)

    def finish_processing(self, now: datetime) -> None:
        """Every `processing` recording is `completed` now."""
        for row in self.rows:
            if row.valid and row.item["status"] == "processing":
                row.item.update(status="completed", duration=str(seconds(row.number)),
                                price="-0.00250", date_updated=timestamp(now))

    def newest(self) -> datetime:
        """When the newest item was created."""
        return max(row.created for row in self.rows)
