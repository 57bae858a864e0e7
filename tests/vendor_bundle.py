"""Bundle, a test vendor whose recommended download path is a batch export job.

Its API (a bearer token per account):

- `GET /v2/recordings?cursor=C&limit=N` -> `{"recordings": [...], "cursor": C', "more": bool}`, in the
  order they were made; a recording is `{"id", "start", "duration", "size"}`.
- `POST /v2/exports` `{"recording_ids": [...]}` (at most `MAX_BATCH`; more answers 400 with code
  `TOO_MANY_IDS`) -> 202 `{"export_id", "status": "queued"}`.
- `GET /v2/exports/{id}` -> `{"status": "queued", "poll_after": seconds}` until it is ready, then
  `{"status": "done", "files": [...]}`: per recording `{"recording_id", "url", "expires_at"}`, or
  `{"recording_id", "error": {"code", "message"}}` (`TEMPORARILY_UNAVAILABLE`: try again later;
  `NOT_FOUND`: deleted).
- `GET <url>`: the file, for `url_ttl` seconds after the export was ready; then 403 with code
  `URL_EXPIRED`.

The plugin (`BundleSource`) lists with a cursor and downloads through `open_audio_batch`. This
module is the plugin's entry point, its emulator and its conformance emulation at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from collector import (
    HttpClient,
    ItemDeferred,
    ItemUnavailable,
    Page,
    Recording,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    hookimpl,
    iso,
    now_utc,
    path_segment,
    register_secret,
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
    synth_audio,
)
from collector.testing import Emulation, Expectations

MAX_BATCH = 4


# -- the plugin -----------------------------------------------------------------------------------------------

class BundleSettings(SourceSettings):
    """One Bundle account."""

    base_url: str
    token: Secret
    url_lifetime: float = 300.0
    """How long the export's URLs stay valid, in seconds (the vendor documents 5 minutes)."""


class BundleSource(Source):
    """Recordings listed with a cursor, downloaded in export jobs of at most `MAX_BATCH`."""

    name = "bundle"
    Settings = BundleSettings
    settings: BundleSettings
    audio_batch_size = MAX_BATCH

    def __init__(self, settings: BundleSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http: HttpClient = context.http(settings.base_url, StaticBearerAuth(settings.token))
        self.audio_batch_lifetime = timedelta(seconds=settings.url_lifetime)

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        cursor = (state or {}).get("cursor")
        while True:
            body = await self.http.json("GET", "/v2/recordings", params={"limit": 100, **({"cursor": cursor}
                                                                                          if cursor else {})})
            cursor = body["cursor"]
            yield Page(body["recordings"], {"cursor": cursor})
            if not body["more"]:
                return

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                          start=item["start"], duration=item["duration"], media_size=item["size"], raw=dict(item))]

    async def open_audio_batch(
            self, recordings: Sequence[Recording],
    ) -> Mapping[str, AbstractAsyncContextManager[httpx.Response] | Exception]:
        export = await self.http.json("POST", "/v2/exports", json={"recording_ids": [r.vendor_id for r in recordings]})
        status_url = f"/v2/exports/{path_segment(export['export_id'])}"
        while (job := await self.http.json("GET", status_url))["status"] != "done":  # noqa: ASYNC110 - polling the vendor
            await asyncio.sleep(job.get("poll_after", 1.0))
        files: dict[str, AbstractAsyncContextManager[httpx.Response] | Exception] = {}
        for file in job["files"]:
            if "url" in file:
                register_secret(httpx.URL(file["url"]).params["signature"])  # a credential, for minutes
                files[file["recording_id"]] = self.http.stream("GET", file["url"])
            elif file["error"]["code"] == "NOT_FOUND":
                files[file["recording_id"]] = ItemUnavailable(f"Deleted: {file['error']['message']}")
            else:
                files[file["recording_id"]] = ItemDeferred(f"The export failed for it: {file['error']['message']}")
        return files


@hookimpl
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Provide the `bundle` source."""
    register(BundleSource)


# -- the emulator -------------------------------------------------------------------------------------------

@dataclass
class Account:
    """An emulated account: its token, its listing (recordings and malformed items), its faults."""

    name: str
    token: str = field(default_factory=lambda: os.urandom(12).hex())
    listed: list[Any] = field(default_factory=list)
    """What the listing serves, in order: recordings, and malformed items."""
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The well-formed recordings, by id."""
    audio_faults: dict[str, str] = field(default_factory=dict)
    fail_next: int = 0
    """Recordings of the next export that fail with TEMPORARILY_UNAVAILABLE."""

    def add(self, count: int, *, ids: Iterable[str] = ()) -> list[dict[str, Any]]:
        made = []
        for vendor_id in [*(f"{self.name}-{len(self.listed) + n:05d}" for n in range(count)), *ids]:
            duration = 1.0 + len(self.listed) % 2
            item = {"id": vendor_id, "start": iso(now_utc() - timedelta(hours=1)), "duration": duration,
                    "size": len(synth_audio(f"{self.name}/{vendor_id}", duration=duration, fmt="wav"))}
            self.listed.append(item)
            self.recordings[vendor_id] = item
            made.append(item)
        return made

    def find(self, vendor_id: str) -> dict[str, Any] | None:
        return self.recordings.get(vendor_id)


class BundleEmulator(EmulatorServer):
    """Bundle's API host: listings, export jobs, and the files at signed, expiring URLs."""

    def __init__(self, *, page_size_cap: int = 5, polls: int = 1, url_ttl: float = 300.0, **options: Any) -> None:
        super().__init__(**options)
        self.page_size_cap, self.polls, self.url_ttl = page_size_cap, polls, url_ttl
        self.accounts: dict[str, Account] = {}
        self.exports: dict[str, dict[str, Any]] = {}
        self.batches: list[list[str]] = []
        """The ids of every export asked for, in order."""
        self.signed: list[str] = []
        """Every signature handed out (secrets: tests scan for them)."""
        self.expire_next = 0
        self._key = os.urandom(16)
        self._ids = itertools.count(1)
        self._data = threading.Lock()
        self.add_route("GET", "/v2/recordings", "metadata", self.list_recordings)
        self.add_route("POST", "/v2/exports", "batch", self.create_export)
        self.add_route("GET", r"/v2/exports/(?P<export>[^/]+)", "batch", self.export)
        self.add_route("GET", r"/v2/files/(?P<account>[^/]+)/(?P<rid>.+)", "audio", self.file)

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

    def list_recordings(self, request: Request) -> Response:
        account = self._account(request)
        position = int(read_cursor(request.query["cursor"])) if "cursor" in request.query else 0
        limit = min(int(request.query.get("limit", "50")), self.page_size_cap)
        page = account.listed[position:position + limit]
        return Response.json({"recordings": page, "cursor": opaque_cursor(str(position + len(page))),
                              "more": position + len(page) < len(account.listed)})

    def create_export(self, request: Request) -> Response:
        account = self._account(request)
        ids = (request.json() or {}).get("recording_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return Response.json({"code": "INVALID", "message": "recording_ids: a list of ids."}, 400)
        if len(ids) > MAX_BATCH:
            return Response.json({"code": "TOO_MANY_IDS", "message": f"At most {MAX_BATCH} ids."}, 400)
        with self._data:
            self.batches.append(list(ids))
            failing, account.fail_next = account.fail_next, 0
            export_id = f"ex-{next(self._ids)}"
            self.exports[export_id] = {"account": account.name, "ids": ids, "polls": 0, "failing": failing}
        return Response.json({"export_id": export_id, "status": "queued"}, 202)

    def export(self, request: Request, export: str) -> Response:
        account = self._account(request)
        with self._data:
            job = self.exports.get(export)
            if job is None or job["account"] != account.name:
                raise EmulatorError(404, "No such export.")
            job["polls"] += 1
            if job["polls"] <= self.polls:
                return Response.json({"status": "queued", "poll_after": 0.02})
            files = []
            for number, vendor_id in enumerate(job["ids"]):
                if number < job["failing"]:
                    files.append({"recording_id": vendor_id, "error": {"code": "TEMPORARILY_UNAVAILABLE",
                                                                      "message": "Try again later."}})
                elif account.find(vendor_id) is None:
                    files.append({"recording_id": vendor_id, "error": {"code": "NOT_FOUND", "message": "No such id."}})
                else:
                    files.append({"recording_id": vendor_id, **self._signed(account, vendor_id)})
        return Response.json({"status": "done", "files": files})

    def _signed(self, account: Account, vendor_id: str) -> dict[str, str]:
        ttl = self.url_ttl
        if self.expire_next > 0:
            self.expire_next -= 1
            ttl = -1.0
        expires = str(int((time.time() + ttl) * 1000))
        path = f"/v2/files/{path_segment(account.name)}/{path_segment(vendor_id)}"
        signature = hmac.new(self._key, f"{account.name}\n{vendor_id}\n{expires}".encode(), hashlib.sha256).hexdigest()
        self.signed.append(signature)
        return {"url": f"{self.url}{path}?expires={expires}&signature={signature}",
                "expires_at": iso(now_utc() + timedelta(seconds=ttl))}

    def file(self, request: Request, account: str, rid: str) -> Response:
        owner = self.accounts.get(account)
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        good = hmac.new(self._key, f"{account}\n{rid}\n{expires}".encode(), hashlib.sha256).hexdigest()
        if owner is None or not hmac.compare_digest(signature, good):
            return Response.json({"code": "BAD_SIGNATURE", "message": "The URL is not valid."}, 403)
        if int(expires) < time.time() * 1000:
            return Response.json({"code": "URL_EXPIRED", "message": "The URL has expired."}, 403)
        item = owner.find(rid)
        if item is None:
            raise EmulatorError(404, "No such file.")
        return audio_answer(f"{account}/{rid}", item["duration"], fault=owner.audio_faults.get(rid))


# -- the conformance emulation ----------------------------------------------------------------------------

BAD_AUDIO = ("html", "truncated")


class BundleEmulation(Emulation):
    """Two Bundle accounts on one host, `recordings` recordings each to begin with."""

    batch_downloads = MAX_BATCH

    def __init__(self, *, bad_data: bool = False, recordings: int = 6) -> None:
        self.api = BundleEmulator(seed=7, rate_limit=(100, 1.0)).start()
        self.accounts = [self.api.add_account(Account(name)) for name in ("east", "west")]
        self.tokens = [account.token for account in self.accounts]
        self.bad_audio: dict[str, set[str]] = {account.name: set() for account in self.accounts}
        self.rejected = {account.name: 0 for account in self.accounts}
        for account in self.accounts:
            account.add(recordings)
            if bad_data:
                account.add(0, ids=HOSTILE_IDS)
                for fault, item in zip(BAD_AUDIO, account.add(len(BAD_AUDIO)), strict=True):
                    account.audio_faults[item["id"]] = fault
                    self.bad_audio[account.name].add(item["id"])
                account.listed += [{"start": "2026-01-01T00:00:00Z", "duration": 1, "size": 1}, "not an object",
                                   {"id": "bad-start", "start": "yesterday", "duration": 1, "size": 1}]
                self.rejected[account.name] += 3

    def servers(self) -> list[EmulatorServer]:
        return [self.api]

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": "bundle", "tenant": account.name, "base_url": self.api.url,
                 "token": self.secret(account.token), "rate_limit": {"requests": 80, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}} for account in self.accounts]

    def expected(self) -> Expectations:
        recordings = {account.name: set(account.recordings) for account in self.accounts}
        audio = {name: ids - self.bad_audio[name] for name, ids in recordings.items()}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for account in self.accounts:
            account.add(count)

    def add_history(self, count: int) -> None:
        self.add_recordings(count)  # a cursor in the order recordings were made: history is just more of them

    def largest_batch(self) -> int:
        return max((len(batch) for batch in self.api.batches), default=0)

    def fail_in_next_batch(self, count: int) -> None:
        for account in self.accounts:
            account.fail_next = count

    def expire_batch_urls(self, count: int) -> None:
        self.api.expire_next += count

    def revoke(self, tenant: str) -> None:
        account = next(account for account in self.accounts if account.name == tenant)
        account.token = os.urandom(12).hex()
        self.tokens.append(account.token)

    def secrets(self) -> list[str]:
        return [*self.tokens, *self.api.signed]
