"""Lyrebird's emulator as the conformance suite drives it (imported by tests only: needs pytest).

Two accounts on one emulated API host, their media on one storage host, Auth Tokens in
environment variables. The API pages four recordings at a time, so a few make several pages.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from collector import compound_id, iso, now_utc
from collector.emulator import HOSTILE_IDS, EmulatorServer, StorageServer
from collector.testing import Emulation, Expectations

from ._emudata import Account, malformed
from .emulator import LyrebirdEmulator

BAD_AUDIO = ("html", "truncated", "duration")


def key(item: dict[str, Any]) -> str:
    """The vendor id the plugin stores a recording under."""
    return compound_id(item["call_sid"], item["leg_sid"])


class LyrebirdEmulation(Emulation):
    """Two Lyrebird accounts with `recordings` recordings each, the newest an hour old."""

    processing = True  # recordings are listed while their media is still processing
    redirects = True  # the media is a 302 to a signed URL on the storage host
    concurrency_limit = 3  # "at most 3 concurrent requests per account"

    def __init__(self, *, bad_data: bool = False, recordings: int = 8) -> None:
        now = now_utc()
        self.start = now - timedelta(days=30)
        self.storage = StorageServer(seed=2).start()
        self.api = LyrebirdEmulator(self.storage, page_size_cap=4, seed=1).start()
        self.accounts = [self.api.add_account(Account(name)) for name in ("north", "south")]
        self.tokens = [account.token for account in self.accounts]
        self.bad_audio: dict[str, set[str]] = {account.name: set() for account in self.accounts}
        self.rejected: dict[str, int] = {account.name: 0 for account in self.accounts}
        for account in self.accounts:
            account.add_history(recordings, now - timedelta(hours=1), every=timedelta(minutes=7))
            if bad_data:
                self._add_bad_data(account)

    def _add_bad_data(self, account: Account) -> None:
        created = account.newest() - timedelta(minutes=1)
        for hostile in HOSTILE_IDS:
            account.add(created, call_sid=hostile)
        for fault in BAD_AUDIO:
            item = account.add(created)
            account.audio_faults[item["call_sid"], item["leg_sid"]] = fault
            self.bad_audio[account.name].add(key(item))
        for item in malformed(created):
            account.add_item(created, item)
            self.rejected[account.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api, self.storage]

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": "lyrebird", "tenant": account.name, "base_url": self.api.url,
                 "account_sid": account.sid, "auth_token": self.secret(account.token),
                 "start": iso(self.start), "rate_limit": {"requests": 200, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}}
                for account in self.accounts]

    def expected(self) -> Expectations:
        recordings: dict[str, set[str]] = {}
        audio: dict[str, set[str]] = {}
        for account in self.accounts:
            items = account.recordings()
            recordings[account.name] = {key(item) for item in items}
            audio[account.name] = {key(item) for item in items if item["status"] == "completed"
                                   } - self.bad_audio[account.name]
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int, *, status: str = "completed") -> None:
        now = now_utc()
        for account in self.accounts:
            for number in range(count):
                account.add(now - timedelta(milliseconds=count - number), status=status)

    def add_history(self, count: int) -> None:
        for account in self.accounts:
            oldest = min(row.created for row in account.rows)
            account.add_history(count, oldest - timedelta(days=1), every=timedelta(minutes=1))

    def add_late(self, count: int) -> None:
        for account in self.accounts:  # older than the newest recording, within the overlap
            newest = account.newest()
            for number in range(count):
                account.add(newest - timedelta(minutes=5, milliseconds=number))

    def add_processing(self, count: int) -> None:
        self.add_recordings(count, status="processing")

    def finish_processing(self) -> None:
        for account in self.accounts:
            account.finish_processing(now_utc())

    def expire_signed_urls(self, count: int) -> None:
        self.storage.expire_next(count)

    def credentials_leaked(self) -> int:
        return self.storage.credentials_seen

    def revoke(self, tenant: str) -> None:
        account = next(account for account in self.accounts if account.name == tenant)
        account.token = Account(tenant).token  # a fresh random token
        self.tokens.append(account.token)

    def secrets(self) -> list[str]:
        basic = [base64.b64encode(f"{account.sid}:{token}".encode()).decode()
                 for account in self.accounts for token in self.tokens]
        return [*self.tokens, *basic, *self.storage.signed]
