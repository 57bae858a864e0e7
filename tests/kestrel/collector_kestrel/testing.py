"""Kestrel's emulator as the conformance suite drives it, for either plugin (`plugin=`).

Two accounts on one host; four recordings a page, so a few make several pages. The emulation
declares all three listing traits: Kestrel lists late attachments under their call's start
(`back_dated`), reports deletions in its change feed (`change_feed`) and expires its tokens
(`expiring_cursors`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collector import iso, now_utc
from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations

from .emulator import Account, KestrelEmulator, rfc2822

BAD_AUDIO = ("html", "truncated", "duration")


def malformed(started: datetime) -> list[Any]:
    """Items that break Kestrel's documented shape, each in its own way."""
    good = {"id": "x", "call_started_at": rfc2822(started), "duration_ms": 1000, "status": "ready"}
    return ["not an object", 42, None,
            {key: value for key, value in good.items() if key != "id"},
            {**good, "id": "rec_bad_time", "call_started_at": "yesterday"},
            {**good, "id": "rec_bad_status", "status": "archived"}]


class KestrelEmulation(Emulation):
    """Two Kestrel accounts with `recordings` recordings each, the newest call an hour old."""

    back_dated = True
    change_feed = True
    expiring_cursors = True

    def __init__(self, plugin: str, *, bad_data: bool = False, recordings: int = 8) -> None:
        self.plugin = plugin
        now = now_utc()
        self.start = now - timedelta(days=30)
        self.api = KestrelEmulator(seed=1).start()
        self.accounts = [self.api.add_account(Account(name)) for name in ("north", "south")]
        self.keys = [account.key for account in self.accounts]
        self.bad_audio: dict[str, set[str]] = {account.name: set() for account in self.accounts}
        self.rejected: dict[str, int] = {account.name: 0 for account in self.accounts}
        self.deleted: dict[str, set[str]] = {account.name: set() for account in self.accounts}
        for account in self.accounts:
            for number in range(recordings):
                account.add(now - timedelta(hours=1, minutes=7 * (recordings - 1 - number)), seconds=number)
            if bad_data:
                self._add_bad_data(account, now - timedelta(hours=1, minutes=1))

    def _add_bad_data(self, account: Account, started: datetime) -> None:
        for hostile in HOSTILE_IDS:
            account.add(started, vendor_id=hostile)
        for fault in BAD_AUDIO:
            vendor_id = account.add(started)
            account.audio_faults[vendor_id] = fault
            self.bad_audio[account.name].add(vendor_id)
        for item in malformed(started):
            account.add_item(started, item)
            self.rejected[account.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api]

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": self.plugin, "tenant": account.name, "base_url": self.api.url,
                 "api_key": self.secret(account.key), "start": iso(self.start),
                 "rate_limit": {"requests": 500, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}} for account in self.accounts]

    def expected(self) -> Expectations:
        recordings: dict[str, set[str]] = {}
        audio: dict[str, set[str]] = {}
        for account in self.accounts:
            ids = {row.id for row in account.rows if isinstance(row.item, dict) and row.item.get("id")
                   and row.item.get("status") == "ready" and row.item.get("call_started_at") != "yesterday"}
            recordings[account.name] = ids  # deleted ones too: the store keeps what it holds
            audio[account.name] = ids - self.bad_audio[account.name]
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        now = now_utc()
        for account in self.accounts:
            for number in range(count):
                account.add(now - timedelta(milliseconds=count - number), seconds=number)

    def add_history(self, count: int) -> None:
        for account in self.accounts:
            oldest = min(row.started for row in account.rows)
            for number in range(count):
                account.add(oldest - timedelta(days=1, minutes=number), seconds=number)

    def add_late(self, count: int) -> None:
        for account in self.accounts:  # attached now, listed 5 minutes before the newest call: within 30
            newest = max(row.started for row in account.rows)
            for number in range(count):
                account.add(newest - timedelta(minutes=5, milliseconds=number), seconds=number)

    def add_back_dated(self, count: int) -> None:
        for account in self.accounts:  # attached now to calls two days old: beyond any overlap
            newest = max(row.started for row in account.rows)
            for number in range(count):
                account.add(newest - timedelta(days=2, minutes=number), seconds=number)

    def delete(self, count: int) -> dict[str, set[str]]:
        for account in self.accounts:
            for row in [row for row in account.live() if row.id.startswith("rec_")][:count]:
                account.delete(row.id)
                self.deleted[account.name].add(row.id)
        return {name: set(ids) for name, ids in self.deleted.items()}

    def expire_tokens(self) -> None:
        for account in self.accounts:
            account.generation += 1

    def revoke(self, tenant: str) -> None:
        account = next(account for account in self.accounts if account.name == tenant)
        account.key = Account(tenant).key
        self.keys.append(account.key)

    def secrets(self) -> list[str]:
        return list(self.keys)
