"""The Xima emulators as the conformance suite drives them (imported by tests only: needs pytest).

Several tenants, one emulator each, tokens in environment variables. Time is scaled so a full
suite runs in seconds: the documented 3 requests per 10 s becomes 3 per `per_seconds` (0.1 s by
default), data spans five hours of one-hour windows, and a window settles after 30 minutes
(so the newest windows are swept but not yet final on every run).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations, write_config

from .emulator import XimaEmulator, XimaTenant

HOSTILE_KEYS = [*HOSTILE_IDS, "."]
BAD_AUDIO = ("html", "truncated", "duration", "wav", "wideband")
SPAN = timedelta(hours=5)

_LAYOUT = (
    # (source tenant name, Xima tenant name, endpoint, response wrapper, request time zone)
    ("reno", "acme-ns", "call-recording-info", None, "America/Denver"),
    ("boise", "globex-cc", "recordings", "data", "Asia/Kolkata"),
    ("denver", "initech", "call-recording-info", "callRecordingInfo", "UTC"),
)


class XimaEmulation(Emulation):
    """Up to three Xima tenants, each on its own emulator, collected by one configuration."""

    processing = True  # a recording listed before it is SAVED
    listing_tolerance = 1  # an hour boundary may pass between the two runs the suite compares

    def __init__(self, *, bad_data: bool = False, tenants: int = 2, recordings: int = 10,
                 rate_limit: tuple[int, float] = (3, 0.1), **source_settings: Any) -> None:
        self.rate_limit = rate_limit
        self.source_settings = source_settings
        self.now = datetime.now(UTC)
        self.emulators: dict[str, XimaEmulator] = {}
        self.layout = {row[0]: row for row in _LAYOUT[:tenants]}
        self.references: dict[str, dict[str, str]] = {}
        self.bad_audio: dict[str, set[str]] = {}
        self.bad_keys: dict[str, set[str]] = {}
        self.rejected: dict[str, int] = {}
        for number, (name, xima_name, _, wrap, _) in enumerate(self.layout.values()):
            tenant = XimaTenant(name=xima_name, token="tok-" + os.urandom(12).hex(), recordings=recordings,
                                anchor=self.now - timedelta(minutes=5), span=SPAN, wrap=wrap)
            emulator = XimaEmulator(tenant, rate_limit=rate_limit, seed=number + 1)
            emulator.start()
            self.emulators[name] = emulator
            self.references[name] = self.secret(tenant.token)
            self.bad_audio[name], self.bad_keys[name], self.rejected[name] = set(), set(), 0
            if bad_data:
                self._add_bad_data(name)

    def emulator(self, name: str) -> XimaEmulator:
        """The emulator behind a source's tenant name."""
        return self.emulators[name]

    def _add_bad_data(self, name: str) -> None:
        emulator = self.emulators[name]
        call_mode = self.layout[name][2] == "call-recording-info"
        template = emulator.recording_items()[0]
        at = self.now - timedelta(hours=2)
        for number, key in enumerate(HOSTILE_KEYS):
            item = {**template, "recordingKey": key, "startTime": template["startTime"] + number}
            emulator.add_item(self._wrap(item, number, call_mode), at=at)
        for item, fault in zip(emulator.recording_items()[1:], BAD_AUDIO, strict=False):  # more items than faults
            emulator.tenant.audio_faults[item["recordingKey"]] = fault
            self.bad_audio[name].add(item["recordingKey"])
        malformed: list[Any] = [
            {**template, "recordingKey": None},
            {**template, "recordingKey": "bad-start", "startTime": "not a time"},
            {**template, "recordingKey": "bad-duration", "duration": -5},
            "a string, not an object",
        ]
        if call_mode:
            malformed.append({"callKey": "call-with-broken-recordings", "startTime": template["startTime"],
                              "recordings": "not a list"})
        for item in malformed:
            emulator.add_item(item, at=at)
        self.rejected[name] = len(malformed)

    def _wrap(self, item: dict[str, Any], number: int, call_mode: bool) -> dict[str, Any]:
        if not call_mode:
            return item
        return {"callKey": f"hostile-call-{number}", "startTime": item["startTime"], "endTime": item["startTime"],
                "direction": "INBOUND", "tenantName": item["tenantName"], "recordings": [item]}

    def sources(self) -> list[dict[str, Any]]:
        tables = []
        for name, (_, _, endpoint, _, zone) in self.layout.items():
            tables.append({
                "plugin": "xima", "tenant": name, "base_url": self.emulators[name].url,
                "token": self.references[name], "endpoint": endpoint,
                "start": (self.now - SPAN - timedelta(minutes=30)).isoformat(),
                "window": 3600, "lookback": 7200, "settle_delay": 1800, "request_timezone": zone,
                "rate_limit": {"requests": self.rate_limit[0], "per_seconds": self.rate_limit[1]},
                "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.2},
                **self.source_settings,
            })
        return tables

    def config(self, directory: Path, overrides: dict[str, dict[str, Any]] | None = None, **settings: Any) -> Path:
        """A config collecting every tenant into `directory/store`: `settings` on all, `overrides` by tenant."""
        sources = [{**table, **settings, **(overrides or {}).get(table["tenant"], {})} for table in self.sources()]
        return write_config(directory, sources)

    def expected(self) -> Expectations:
        recordings: dict[str, set[str]] = {}
        audio: dict[str, set[str]] = {}
        for name, emulator in self.emulators.items():
            listed = emulator.recording_items()
            hostile = {key for _, item in emulator.extras for key in _keys(item) if key in HOSTILE_KEYS}
            recordings[name] = {item["recordingKey"] for item in listed} | hostile
            audio[name] = {item["recordingKey"] for item in listed
                           if item["status"] == "SAVED" and item["recordingKey"] not in emulator.tenant.denied
                           and item["recordingKey"] not in self.bad_audio[name]} | hostile
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for emulator in self.emulators.values():
            emulator.add_recordings(count)

    def add_history(self, count: int) -> None:
        at = self.now - SPAN + timedelta(minutes=10)  # well before any run's lookback
        for emulator in self.emulators.values():
            for number in range(count):
                emulator.add_late_recording(at + timedelta(seconds=number))

    def add_late(self, count: int) -> None:
        at = datetime.now(UTC) - timedelta(hours=1)  # inside the 2-hour lookback
        for emulator in self.emulators.values():
            for number in range(count):
                emulator.add_late_recording(at + timedelta(seconds=number))

    def revoke(self, tenant: str) -> None:
        self.emulators[tenant].revoke_token()

    def add_processing(self, count: int) -> None:
        for emulator in self.emulators.values():
            for key in emulator.add_recordings(count):
                emulator.set_status(key, "PROCESSING")

    def finish_processing(self) -> None:
        for emulator in self.emulators.values():
            for item in emulator.recording_items():
                if item["status"] != "SAVED":
                    emulator.set_status(item["recordingKey"], "SAVED")

    def servers(self) -> list[EmulatorServer]:
        return list(self.emulators.values())

    def secrets(self) -> list[str]:
        return [token for emulator in self.emulators.values() for token in emulator.issued]


def _keys(item: Any) -> list[str]:
    """The recordingKeys an extra item lists (a recording, or a call's recordings)."""
    if not isinstance(item, dict):
        return []
    listed = item.get("recordings")
    entries: list[Any] = listed if isinstance(listed, list) else [item]
    return [e["recordingKey"] for e in entries if isinstance(e, dict) and isinstance(e.get("recordingKey"), str)]


def by_tenant(result: Any) -> dict[str, Any]:
    """A run's summaries (`collector.testing.collect`) keyed by tenant name."""
    return {summary.tenant: summary for summary in result.summaries}
