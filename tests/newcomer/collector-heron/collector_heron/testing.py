"""Heron's emulator as the conformance suite drives it (imported by tests only: needs pytest).

Two workspaces on one emulated API host, their media on one media host, client secrets in
environment variables. The feed pages four recordings at a time (and now and then an empty page
that is not the last), access tokens live 2 seconds, so a run outlasts several.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.emulator import HOSTILE_IDS, EmulatorServer, TokenAudit
from collector.testing import Emulation, Expectations

from ._emudata import Rec, Segment, Workspace, digest, malformed
from .emulator import HeronEmulator, MediaHost

BAD_AUDIO = ("html", "truncated", "duration")
RATE_LIMIT = (10, 0.5)  # per API client (requests, seconds): the documented 5 a second, sped up


def now() -> datetime:
    """The current time."""
    return datetime.now(UTC)


class HeronEmulation(Emulation):
    """Two Heron workspaces with `recordings` recordings each, stored in the last hour."""

    change_feed = True  # a snapshot, then changes since a sync token, deletions included
    back_dated = True  # imports and edge sites: stored now, answered days or weeks ago
    expiring_cursors = True  # cursors after an hour, sync tokens after 7 days or maintenance
    late_children = True  # segments attached after the recording is listed (no feed change)
    # Segments listed while still processing are not declared as `processing`: the plugin stores
    # a segment once it is ready (or failed), found by revisiting its recording until it settles
    # (`late_children`), so a run with recordings still settling exits 0, not 4.
    batch_downloads = 50  # media batches of at most 50 segment ids
    gone_media = True  # media purged by retention: `media_purged`
    rate_limit_headers = "x-ratelimit"  # X-RateLimit-Remaining / -Reset on every answer
    short_tokens = True  # access tokens live 60 s at Heron; 2 s here

    def __init__(self, *, bad_data: bool = False, recordings: int = 8) -> None:
        self.workspaces = [Workspace("north"), Workspace("south", timezone="America/Chicago")]
        self.media = MediaHost(seed=3).start()
        self.api = HeronEmulator(self.workspaces, self.media, token_lifetime=2, page_size_cap=4,
                                 rate_limit=RATE_LIMIT, seed=1).start()
        self.bad_audio: dict[str, set[str]] = {ws.name: set() for ws in self.workspaces}
        self.rejected: dict[str, int] = {ws.name: 0 for ws in self.workspaces}
        self.revoked: list[str] = []
        for ws in self.workspaces:
            for number in range(recordings):
                ws.add(now() - timedelta(hours=1, minutes=7 * number), segments=1 + number % 2,
                       failed=number % 5 == 3)
            if bad_data:
                self._add_bad_data(ws)

    def _add_bad_data(self, ws: Workspace) -> None:
        ws.add(now() - timedelta(minutes=5), segments=len(HOSTILE_IDS),
               segment_ids=list(HOSTILE_IDS))
        for fault in BAD_AUDIO:
            rec = ws.add(now() - timedelta(minutes=4))
            rec.duration, segment = 1, rec.segments[0]  # "duration": 3 s, beyond 1 s and a tolerance
            segment.fault = fault
            self.bad_audio[ws.name].add(segment.id)
        for item in malformed():
            ws.add_item(item)
            self.rejected[ws.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api, self.media]

    def sources(self) -> list[dict[str, Any]]:
        requests, seconds = RATE_LIMIT
        return [{"plugin": "heron", "tenant": ws.name, "base_url": self.api.url,
                 "client_id": ws.client_id, "client_secret": self.secret(ws.client_secret),
                 "rate_limit": {"requests": requests, "per_seconds": seconds},
                 "revisit_interval": 0,
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}}
                for ws in self.workspaces]

    def expected(self) -> Expectations:
        recordings = {ws.name: {rec.id for rec in ws.valid()}  # the calls, and their segments
                      | {s.id for rec in ws.valid() for s in rec.segments} for ws in self.workspaces}
        audio = {ws.name: {s.id for rec in ws.valid() for s in rec.segments
                           if s.status == "ready" and not s.purged} - self.bad_audio[ws.name]
                 for ws in self.workspaces}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for ws in self.workspaces:
            for _ in range(count):
                ws.add(now() - timedelta(minutes=2))

    def add_history(self, count: int) -> None:
        for ws in self.workspaces:
            for number in range(count):
                ws.add(now() - timedelta(days=3, minutes=number))

    def add_back_dated(self, count: int) -> None:
        for ws in self.workspaces:
            for number in range(count):
                ws.add(now() - timedelta(days=20, minutes=number))

    def delete(self, count: int) -> dict[str, set[str]]:
        deleted: dict[str, set[str]] = {}
        for ws in self.workspaces:
            recs = [rec for rec in ws.valid() if not rec.deleted and rec.segments
                    and all(s.status == "ready" and s.fault is None for s in rec.segments)][:count]
            for rec in recs:
                rec.deleted, rec.seq = True, ws.next_seq()
            deleted[ws.name] = {rec.id for rec in recs}
        return deleted

    def expire_tokens(self) -> None:
        for ws in self.workspaces:
            ws.generation += 1

    def add_open_parents(self, count: int) -> None:
        for ws in self.workspaces:
            for _ in range(count):
                ws.add(now() - timedelta(minutes=1), segments=0, settled=False).duration = 60

    def attach_children_later(self, count: int) -> None:
        for ws in self.workspaces:
            parents: list[Rec] = [rec for rec in ws.valid() if not rec.settled and not rec.segments]
            for number in range(count):
                parent = parents[number % len(parents)]
                index = len(parent.segments)
                parent.segments.append(Segment(f"seg_{digest(f'{parent.id}/{index}')}", index, 1,
                                               2 * index, 1.0))
            for rec in parents:
                rec.settled = True

    def add_gone(self, count: int) -> None:
        for ws in self.workspaces:
            for _ in range(count):
                ws.add(now() - timedelta(minutes=1)).segments[0].purged = True

    def largest_batch(self) -> int:
        return self.api.largest_batch

    def fail_in_next_batch(self, count: int) -> None:
        for ws in self.workspaces:
            self.api.fail_items[ws.name] = count

    def expire_batch_urls(self, count: int) -> None:
        self.media.expire_count += count

    def expire_signed_urls(self, count: int) -> None:
        self.expire_batch_urls(count)

    def credentials_leaked(self) -> int:
        return self.media.credentials_seen

    def set_transient_faults(self, rate: float) -> None:
        for server in self.servers():
            server.faults.set_rate(rate, kinds=("metadata", "children", "batch", "audio"))

    def revoke(self, tenant: str) -> None:
        ws = next(ws for ws in self.workspaces if ws.name == tenant)
        self.revoked.append(ws.client_secret)
        ws.client_secret = Workspace(tenant).client_secret
        self.api.add_workspace(ws)
        self.api.tokens.revoke(tenant)

    def token_audit(self) -> TokenAudit:
        return self.api.tokens.audit()

    def secrets(self) -> list[str]:
        return [*(ws.client_secret for ws in self.workspaces), *self.revoked,
                *self.api.tokens.secrets(), *self.media.signed]
