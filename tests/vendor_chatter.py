"""Chatter, a test vendor whose recordings are attached to a conversation after it is listed.

Its API (a bearer token per account):

- `GET /v1/conversations?cursor=C&limit=N` -> `{"conversations": [...], "cursor": C', "more": bool}`:
  conversations in the order they were created, after the position `cursor` names (the answer's
  `cursor` is the position after its last one, so a later run lists only what is new). A
  conversation is `{"id", "started", "state"}`; it is listed once, as soon as it starts, when it
  has no recording yet.
- `GET /v1/conversations/{id}/recordings` -> `{"recordings": [...], "state": "open" | "closed"}`:
  its recordings so far; `closed` means no more will come. "Recordings are attached within 24
  hours of the conversation's start."
- `GET /v1/recordings/{id}/audio`: the recording's WAV file.

A recording is `{"id", "conversation_id", "start", "duration"}`. The plugin (`ChatterSource`)
lists conversations with a cursor and returns a `Revisit` for each, with a deadline 24 hours after
its start; `children` asks for its recordings. This module is the plugin's entry point, its
emulator and its conformance emulation at once (a test vendor, not a plugin layout to copy).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from collector import (
    BadStatus,
    Children,
    HttpClient,
    ItemUnavailable,
    Page,
    Recording,
    Revisit,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    hookimpl,
    iso,
    now_utc,
    parse_iso,
    path_segment,
)
from collector.emulator import (
    HOSTILE_IDS,
    EmulatorError,
    EmulatorServer,
    Request,
    Response,
    audio_answer,
    opaque_cursor,
    read_cursor,
)
from collector.testing import Emulation, Expectations

CHILDREN_WITHIN = timedelta(hours=24)


# -- the plugin -----------------------------------------------------------------------------------------------

class ChatterSettings(SourceSettings):
    """One Chatter account."""

    base_url: str
    token: Secret


class ChatterSource(Source):
    """Conversations listed with a cursor; their recordings, attached later, found by revisits."""

    name = "chatter"
    Settings = ChatterSettings
    settings: ChatterSettings
    default_revisit_interval = timedelta(minutes=10)

    def __init__(self, settings: ChatterSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http: HttpClient = context.http(settings.base_url, StaticBearerAuth(settings.token))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        cursor = (state or {}).get("cursor")
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            body = await self.http.json("GET", "/v1/conversations", params=params)
            cursor = body["cursor"]
            yield Page(body["conversations"], {"cursor": cursor})
            if not body["more"]:
                return

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording | Revisit]:
        if "conversation_id" in item:  # a recording, found by a visit of its conversation
            return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                              call_id=item["conversation_id"], start=item["start"], duration=item["duration"],
                              raw=dict(item))]
        started = parse_iso(item["started"])
        return [Revisit(item["id"], {"id": item["id"]}, deadline=started + CHILDREN_WITHIN)]

    async def children(self, parent: Revisit) -> Children:
        try:
            body = await self.http.json("GET", f"/v1/conversations/{path_segment(parent.payload['id'])}/recordings")
        except BadStatus as exc:
            if exc.status == 404:  # "a conversation deleted by its owner answers 404"
                raise ItemUnavailable(f"The conversation is gone: {exc.reason}") from None
            raise
        return Children(body["recordings"], complete=body["state"] == "closed")

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        return self.http.stream("GET", f"/v1/recordings/{path_segment(recording.vendor_id)}/audio")


class OnceOnlySource(ChatterSource):
    """Chatter as plugins were written before `Revisit`: each conversation's recordings fetched
    while it is listed, never again (the conformance suite must fail it)."""

    name = "chatter_once"

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        async for page in super().sync(state):
            children: list[Any] = []
            for conversation in page.items:
                if isinstance(conversation, Mapping) and "id" in conversation:
                    found = await super().children(Revisit(conversation["id"], {"id": conversation["id"]}, now_utc()))
                    children += found.items
            yield Page(children, page.state)


@hookimpl
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Provide the `chatter` source (and `chatter_once`, the way not to do it)."""
    register(ChatterSource)
    register(OnceOnlySource)


# -- the emulator -------------------------------------------------------------------------------------------

@dataclass
class Conversation:
    """One conversation and the recordings attached to it so far."""

    id: str
    started: datetime
    state: str = "closed"
    recordings: list[Any] = field(default_factory=list)

    def item(self) -> dict[str, Any]:
        return {"id": self.id, "started": iso(self.started), "state": self.state}


@dataclass
class Account:
    """An emulated account: its token, its conversations (and malformed listing items)."""

    name: str
    token: str = field(default_factory=lambda: os.urandom(12).hex())
    listed: list[Any] = field(default_factory=list)
    """What the listing serves, in order: `Conversation`s, and raw malformed items."""
    audio_faults: dict[str, str] = field(default_factory=dict)

    def conversations(self) -> list[Conversation]:
        return [entry for entry in self.listed if isinstance(entry, Conversation)]

    def start(self, started: datetime, recordings: int = 1, *, state: str = "closed",
              ids: Iterable[str] = ()) -> Conversation:
        """A new conversation with `recordings` recordings attached (more with `ids` as their ids)."""
        conversation = Conversation(f"{self.name}-c{len(self.listed):05d}", started, state)
        self.listed.append(conversation)
        for _ in range(recordings):
            self.attach(conversation)
        for vendor_id in ids:
            self.attach(conversation, vendor_id)
        return conversation

    def attach(self, conversation: Conversation, vendor_id: str | None = None) -> dict[str, Any]:
        """Attach a recording to a conversation (dated within it)."""
        number = len(conversation.recordings)
        recording = {"id": vendor_id or f"{conversation.id}-r{number}", "conversation_id": conversation.id,
                     "start": iso(conversation.started + timedelta(seconds=30 * number)),
                     "duration": 1.0 + number % 2}
        conversation.recordings.append(recording)
        return recording

    def find(self, vendor_id: str) -> dict[str, Any] | None:
        return next((r for c in self.conversations() for r in c.recordings
                     if isinstance(r, dict) and r.get("id") == vendor_id and "start" in r), None)


class ChatterEmulator(EmulatorServer):
    """Chatter's API host, serving every account (told apart by their tokens)."""

    def __init__(self, *, page_size_cap: int = 4, **options: Any) -> None:
        super().__init__(**options)
        self.page_size_cap = page_size_cap
        self.accounts: dict[str, Account] = {}
        self._data = threading.Lock()
        self.add_route("GET", "/v1/conversations", "metadata", self.list_conversations)
        self.add_route("GET", r"/v1/conversations/(?P<cid>.+)/recordings", "children", self.recordings)
        self.add_route("GET", r"/v1/recordings/(?P<rid>.+)/audio", "audio", self.audio)

    def add_account(self, account: Account) -> Account:
        self.accounts[account.name] = account
        return account

    def rate_limit_key(self, request: Request) -> str:
        return request.bearer or "none"

    def _account(self, request: Request) -> Account:
        account = next((a for a in self.accounts.values() if a.token == request.bearer), None)
        if account is None:
            raise EmulatorError(401, "The token is not valid.")
        return account

    def list_conversations(self, request: Request) -> Response:
        account = self._account(request)
        position = int(read_cursor(request.query["cursor"])) if "cursor" in request.query else 0
        limit = min(int(request.query.get("limit", "50")), self.page_size_cap)
        with self._data:
            page = account.listed[position:position + limit]
            more = position + len(page) < len(account.listed)
        items = [entry.item() if isinstance(entry, Conversation) else entry for entry in page]
        return Response.json({"conversations": items, "cursor": opaque_cursor(str(position + len(page))),
                              "more": more})

    def recordings(self, request: Request, cid: str) -> Response:
        account = self._account(request)
        conversation = next((c for c in account.conversations() if c.id == cid), None)
        if conversation is None:
            raise EmulatorError(404, "No such conversation.")
        with self._data:
            return Response.json({"recordings": list(conversation.recordings), "state": conversation.state})

    def audio(self, request: Request, rid: str) -> Response:
        account = self._account(request)
        recording = account.find(rid)
        if recording is None:
            raise EmulatorError(404, "No such recording.")
        return audio_answer(f"{account.name}/{rid}", recording["duration"], fault=account.audio_faults.get(rid))


# -- the conformance emulation ----------------------------------------------------------------------------

BAD_AUDIO = ("html", "truncated")


class ChatterEmulation(Emulation):
    """Two Chatter accounts on one host, `conversations` closed conversations each to begin with."""

    late_children = True

    def __init__(self, *, bad_data: bool = False, conversations: int = 4) -> None:
        self.api = ChatterEmulator(seed=5, rate_limit=(100, 1.0)).start()
        self.accounts = [self.api.add_account(Account(name)) for name in ("north", "south")]
        self.tokens = [account.token for account in self.accounts]
        self.open: dict[str, list[Conversation]] = {account.name: [] for account in self.accounts}
        self.bad_audio: dict[str, set[str]] = {account.name: set() for account in self.accounts}
        self.rejected = {account.name: 0 for account in self.accounts}
        now = now_utc()
        for account in self.accounts:
            for number in range(conversations):
                account.start(now - timedelta(hours=2, minutes=10 * number), recordings=1 + number % 2)
            if bad_data:
                self._add_bad_data(account, now - timedelta(hours=1))

    def _add_bad_data(self, account: Account, started: datetime) -> None:
        account.start(started, recordings=0, ids=[f"{hostile}" for hostile in HOSTILE_IDS])
        for fault in BAD_AUDIO:
            recording = account.attach(account.start(started, recordings=0))
            account.audio_faults[recording["id"]] = fault
            self.bad_audio[account.name].add(recording["id"])
        account.listed += [{"started": iso(started)}, "not an object", {"id": "c-bad-date", "started": "yesterday"}]
        broken = account.start(started, recordings=0)  # a child without a start: rejected when visited
        broken.recordings.append({"id": f"{broken.id}-broken", "conversation_id": broken.id, "duration": 1.0})
        self.rejected[account.name] += 4

    def servers(self) -> list[EmulatorServer]:
        return [self.api]

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": "chatter", "tenant": account.name, "base_url": self.api.url,
                 "token": self.secret(account.token), "rate_limit": {"requests": 80, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}} for account in self.accounts]

    def expected(self) -> Expectations:
        recordings = {account.name: {r["id"] for c in account.conversations() for r in c.recordings if "start" in r}
                      for account in self.accounts}
        audio = {name: ids - self.bad_audio[name] for name, ids in recordings.items()}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for account in self.accounts:
            account.start(now_utc(), recordings=count)

    def add_history(self, count: int) -> None:
        for account in self.accounts:
            for number in range(count):
                account.start(now_utc() - timedelta(days=3, minutes=number))

    def add_open_parents(self, count: int) -> None:
        for account in self.accounts:
            for _ in range(count):
                self.open[account.name].append(account.start(now_utc() - timedelta(hours=5), recordings=0,
                                                             state="open"))

    def attach_children_later(self, count: int) -> None:
        for account in self.accounts:
            parents = self.open[account.name]
            with self.api._data:  # the emulator's own lock, held while its data changes
                for number in range(count):
                    account.attach(parents[number % len(parents)])
                for parent in parents:
                    parent.state = "closed"
            parents.clear()

    def revoke(self, tenant: str) -> None:
        account = next(account for account in self.accounts if account.name == tenant)
        account.token = os.urandom(12).hex()
        self.tokens.append(account.token)

    def secrets(self) -> list[str]:
        return list(self.tokens)


class OnceOnlyEmulation(ChatterEmulation):
    """The same accounts, collected by `chatter_once`."""

    def sources(self) -> list[dict[str, Any]]:
        return [{**table, "plugin": "chatter_once"} for table in super().sources()]
