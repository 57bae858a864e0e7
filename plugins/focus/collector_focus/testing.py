"""The Focus emulator as the conformance suite drives it (imported by tests only: needs pytest)."""

from __future__ import annotations

import os
from typing import Any

from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations

from ._emudata import FocusTenant, generated_recording
from .emulator import FocusEmulator


class FocusEmulation(Emulation):
    """Two Focus tenants on one emulated regional host, with keys in environment variables.

    Transcripts in progress are the recordings "still processing": with `in_progress` the
    generated data keeps some (every seventh), otherwise they are done from the start.
    """

    processing = True

    def __init__(self, *, bad_data: bool = False, recordings: int = 24, rate_limit: tuple[int, float] = (20, 0.5),
                 in_progress: bool = False, **emulator_options: Any) -> None:
        self.tenants = [
            FocusTenant(client_id=7001, username="svc-one", api_key=os.urandom(12).hex(), recordings=recordings),
            FocusTenant(client_id=7002, username="svc-two", api_key=os.urandom(12).hex(), recordings=recordings // 2,
                        forced_comments=True),
        ]
        self.rate_limit = rate_limit
        self.emulator = FocusEmulator(self.tenants, rate_limit=rate_limit, **emulator_options).start()
        if not in_progress:
            self.emulator.make_transcripts_ready()
        self.names = {7001: "one", 7002: "two"}
        self.references = [self.secret(tenant.api_key) for tenant in self.tenants]
        self.bad_audio: dict[str, set[str]] = {name: set() for name in self.names.values()}
        self.rejected: dict[str, int] = dict.fromkeys(self.names.values(), 0)
        if bad_data:
            for tenant in self.tenants:
                self._add_bad_data(tenant)

    def tenant(self, name: str) -> FocusTenant:
        """The emulated tenant behind a source's tenant name."""
        return next(t for t in self.tenants if self.names[t.client_id] == name)

    def _add_bad_data(self, tenant: FocusTenant) -> None:
        name = self.names[tenant.client_id]
        for number, hostile in enumerate(HOSTILE_IDS):
            item = generated_recording(tenant.client_id, 500 + number)
            item.update(interactionId=hostile, thirdPartyId=f"{hostile}|tp-{number}", type="teams",
                        mediaAccessStatus="Permitted")
            self.emulator.add_item(tenant.client_id, item)
        for number, fault in enumerate(("html", "truncated", "duration")):
            item = generated_recording(tenant.client_id, 600 + number)
            item.update(type="phone", mediaAccessStatus="Permitted")
            tenant.audio_faults[item["thirdPartyId"]] = fault
            self.emulator.add_item(tenant.client_id, item)
            self.bad_audio[name].add(str(item["interactionId"]))
        malformed = [
            {"_valid": False, "thirdPartyId": "no-interaction-id", "startDatetimeUTC": "2026-01-05T08:00:00.000Z"},
            {"_valid": False, "interactionId": 99, "startDatetimeUTC": "not a date"},
            {"_valid": False, "interactionId": 98, "startDatetimeUTC": "2026-01-05T08:00:00.000Z",
             "durationInSeconds": -5},
            {"_valid": False, "interactionId": 97, "startDatetimeUTC": "2026-01-05T08:00:00.000Z", "endpoints": "x"},
        ]
        for item in malformed:
            self.emulator.add_item(tenant.client_id, item)
        self.emulator.add_item(tenant.client_id, "a string, not an object", key="not-an-object")  # type: ignore[arg-type]
        self.rejected[name] = len(malformed) + 1

    def sources(self) -> list[dict[str, Any]]:
        tables = []
        for tenant, reference in zip(self.tenants, self.references, strict=True):
            table: dict[str, Any] = {
                "plugin": "focus", "tenant": self.names[tenant.client_id], "base_url": self.emulator.url,
                "client_id": tenant.client_id, "username": tenant.username, "api_key": reference,
                "page_size": 7, "transcript_batch_size": 5,
                "rate_limit": {"requests": self.rate_limit[0], "per_seconds": self.rate_limit[1]},
                "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.2},
            }
            if tenant.forced_comments:
                table.update(forced_comments=True, download_comment="QA review for ticket #1234",
                             audio_format="wav-mono")
            tables.append(table)
        return tables

    def expected(self) -> Expectations:
        recordings = {self.names[t.client_id]: self.emulator.expected_ids(t) for t in self.tenants}
        audio = {}
        for tenant in self.tenants:
            name = self.names[tenant.client_id]
            audio[name] = {
                str(item["interactionId"])
                for slot in tenant.arrivals
                if isinstance(item := self.emulator.item(tenant, slot), dict) and item.get("_valid", True)
                and item.get("type") != "sms" and item.get("mediaAccessStatus") == "Permitted"
                and str(item["interactionId"]) not in self.bad_audio[name]
            }
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for tenant in self.tenants:
            self.emulator.add_recordings(tenant.client_id, count)

    def add_history(self, count: int) -> None:
        self.add_recordings(count)  # a cursor feed lists in arrival order, whatever the dates

    def add_late(self, count: int) -> None:
        self.add_recordings(count)  # generated recordings are dated in January: late by months

    def revoke(self, tenant: str) -> None:
        self.tenant(tenant).api_key = "rotated-" + os.urandom(8).hex()
        self.emulator.expire_tokens()

    def add_processing(self, count: int) -> None:
        for tenant in self.tenants:
            self.emulator.add_processing(tenant.client_id, count)

    def finish_processing(self) -> None:
        self.emulator.make_transcripts_ready()

    def servers(self) -> list[EmulatorServer]:
        return [self.emulator]

    def secrets(self) -> list[str]:
        return [t.api_key for t in self.tenants] + list(self.emulator.issued)

