"""The Imagicle emulator as the conformance suite drives it (imported by tests only: needs pytest)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations, write_config

from ._emudata import Account, generated
from .emulator import ImagicleEmulator

AUDIO_TEMPLATE = "/v1/recordings/{id}/audio"


def recent_base() -> datetime:
    """A base time two days ago, at a whole minute: recent enough for transcripts to be awaited."""
    return (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)


class ImagicleEmulation(Emulation):
    """Two accounts on one emulated host: "one" with client credentials and audio through
    `audio_url_template`, "two" with a static token, metadata and transcripts only.

    Transcriptions in progress (204) are the recordings "still processing": with `in_progress`
    the generated data keeps some, otherwise they are done from the start.
    """

    processing = True

    def __init__(self, *, bad_data: bool = False, recordings: int = 24, rate_limit: tuple[int, float] = (40, 0.5),
                 in_progress: bool = False, **emulator_options: Any) -> None:
        self.base = recent_base()
        self.accounts = [
            Account("one", seed=101, base_time=self.base, recordings=recordings,
                    clients={"collector-one": os.urandom(12).hex()}, token_lifetime=300.0),
            Account("two", seed=102, base_time=self.base, recordings=recordings // 2,
                    static_tokens={os.urandom(12).hex(): "admin"}),
        ]
        self.rate_limit = rate_limit
        emulator_options.setdefault("serve_audio", True)
        self.emulator = ImagicleEmulator(self.accounts, rate_limit=rate_limit, **emulator_options)
        self.emulator.start()
        if not in_progress:
            self.emulator.make_transcripts_ready()
        self.references = {account.name: self.secret(next(iter(account.clients.values() or account.static_tokens)))
                           for account in self.accounts}
        self.bad_audio: dict[str, set[str]] = {a.name: set() for a in self.accounts}
        self.rejected: dict[str, int] = {a.name: 0 for a in self.accounts}
        if bad_data:
            for account in self.accounts:
                self._add_bad_data(account)

    def account(self, name: str) -> Account:
        """The emulated account behind a tenant name."""
        return self.emulator.accounts[name]

    def _add_bad_data(self, account: Account) -> None:
        at = self.base + timedelta(minutes=3)
        for number, hostile in enumerate(HOSTILE_IDS):
            payload = generated(account.seed, 500 + number, at + timedelta(seconds=number), account.users).payload
            payload["id"] = hostile
            self.emulator.add_item(account.name, at + timedelta(seconds=number), payload)
        if account.name == "one":
            for number, fault in enumerate(("html", "truncated", "duration")):
                entry = self.emulator.add_item(account.name, at + timedelta(minutes=1, seconds=number), None)
                assert entry.id is not None
                account.audio_faults[entry.id] = fault
                self.bad_audio[account.name].add(entry.id)
        malformed: list[Any] = [
            {"_valid": False, "date": "2026-01-05T08:00:00Z", "duration": 3},
            {"_valid": False, "id": "bad-date", "date": "not a date"},
            {"_valid": False, "id": "negative-duration", "date": "2026-01-05T08:00:00Z", "duration": -5},
            {"_valid": False, "id": "bad-party", "date": "2026-01-05T08:00:00Z", "from": "x"},
            "a string, not an object",
        ]
        for number, payload in enumerate(malformed):
            self.emulator.add_item(account.name, at + timedelta(minutes=2, seconds=number), payload)
        self.rejected[account.name] = len(malformed)

    def source(self, name: str, **overrides: Any) -> dict[str, Any]:
        """The `[[sources]]` table of one account."""
        account = self.account(name)
        table: dict[str, Any] = {
            "plugin": "imagicle", "tenant": name, "base_url": self.emulator.api_url,
            "start_date": (self.base - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_hours": 6.0, "page_size": 5, "lookback_hours": 1.0, "settle_seconds": 30.0,
            "rate_limit": {"requests": self.rate_limit[0], "per_seconds": self.rate_limit[1]},
            "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.2},
        }
        if account.clients:
            client_id = next(iter(account.clients))
            table["oauth"] = {"token_url": self.emulator.token_url, "client_id": client_id,
                              "client_secret": self.references[name],
                              "scope": "voice-analytics/recordings.read"}
            table["audio_url_template"] = AUDIO_TEMPLATE
        else:
            table["token"] = self.references[name]
        table.update(overrides)
        return table

    def sources(self) -> list[dict[str, Any]]:
        return [self.source(account.name) for account in self.accounts]

    def config(self, directory: Path, *names: str, **overrides: Any) -> Path:
        """A config collecting the named accounts (default: all) into `directory/store`, with `overrides`."""
        wanted = names or tuple(a.name for a in self.accounts)
        return write_config(directory, [self.source(name, **overrides) for name in wanted])

    def transcript_ids(self, name: str, *kinds: str) -> set[str]:
        """Ids of an account's recordings whose transcription is one of `kinds` ("ready", "later", "never")."""
        return {e.id for e in self.account(name).entries if e.id is not None and e.transcript in kinds}

    def expected(self) -> Expectations:
        recordings = {a.name: a.valid_ids() for a in self.accounts}
        audio = {a.name: (a.valid_ids() - self.bad_audio[a.name]) if a.clients else set() for a in self.accounts}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for account in self.accounts:
            self.emulator.add_recordings(account.name, count, transcript="ready")

    def add_history(self, count: int) -> None:
        for account in self.accounts:  # next to the oldest generated recordings, long before any lookback
            self.emulator.add_recordings(account.name, count, at=self.base + timedelta(minutes=30), transcript="ready")

    def add_late(self, count: int) -> None:
        at = datetime.now(UTC) - timedelta(minutes=20)  # inside the one-hour lookback
        for account in self.accounts:
            self.emulator.add_recordings(account.name, count, at=at, transcript="ready")

    def revoke(self, tenant: str) -> None:
        account = self.account(tenant)
        for client in account.clients:
            account.clients[client] = "rotated-" + os.urandom(8).hex()
        account.static_tokens.clear()
        self.emulator.expire_tokens()

    def add_processing(self, count: int) -> None:
        for account in self.accounts:
            self.emulator.add_recordings(account.name, count, transcript="later")

    def finish_processing(self) -> None:
        self.emulator.make_transcripts_ready()

    def servers(self) -> list[EmulatorServer]:
        return [self.emulator]

    def secrets(self) -> list[str]:
        configured = [s for a in self.accounts for s in [*a.clients.values(), *a.static_tokens]]
        return configured + list(self.emulator.issued)

