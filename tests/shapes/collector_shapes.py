"""A test-only vendor with the HTTP shapes of issue 14, as a plugin, its emulator and its emulation.

"Shapes" is how the toolkit's HTTP sections of the README expect a plugin to look: its API
(bearer key per account):

- `GET /v2/calls?after=N&limit=K` -> `{"calls": [...], "next": N'}` in arrival order (an empty page
  ends a pass); a call is `{"id", "started_at", "duration", "media"}` with `media` one of "ready",
  "processing" or "deleted";
- `GET /v2/calls/{id}/media` -> `{"url": ...}`: a signed storage URL valid for a minute, handed out
  in JSON (no redirect); 202 with a `Retry-After` while the media is transcoding (no Retry-After
  when the vendor cannot tell); HTTP 400 with `{"error": {"code": 404}}` once the file is deleted;
  an HTML page now and then that means "busy, try again";
- at most 5 media requests a second per account ("downloads"), and a daily quota of them.

The plugin (`ShapesSource`) is what a newcomer writes from the README: an `ErrorCodes` table and a
`transient_when` given once, `route="downloads"` with its limit, `stream_from` for the handed-out
URL and `not_ready_on=(202,)`. Registered through a dist-info the tests write (see
`tests/test_toolkit_http_conformance.py`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from collector import (
    ErrorCodes,
    ItemUnavailable,
    MediaAvailability,
    Page,
    RateLimit,
    Recording,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    TransientAnswer,
    VendorAnswer,
    hookimpl,
    iso,
    now_utc,
    path_segment,
)
from collector.emulator import (
    HOSTILE_IDS,
    EmulatorError,
    EmulatorServer,
    Request,
    Response,
    StorageServer,
    audio_answer,
)
from collector.testing import Emulation, Expectations

# -- the plugin -----------------------------------------------------------------------------------

MEDIA = {"ready": MediaAvailability.AVAILABLE, "processing": MediaAvailability.PROCESSING,
         "deleted": MediaAvailability.NONE}
CODES = ErrorCodes({404: ItemUnavailable, "BUSY": TransientAnswer}, code="error.code")


def busy_page(answer: VendorAnswer) -> bool:
    """Shapes answers an HTML page when it means "busy, try again"."""
    return answer.content_type == "text/html"


class ShapesSettings(SourceSettings):
    """One Shapes account."""

    base_url: str
    api_key: Secret


class ShapesSource(Source):
    """One Shapes account: calls listed by a cursor, media through URLs handed out in JSON."""

    name = "shapes"
    Settings = ShapesSettings
    settings: ShapesSettings
    # "5 media requests a second"
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {"downloads": RateLimit(requests=5, per_seconds=1)}

    def __init__(self, settings: ShapesSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.api_key)).with_defaults(
            errors=CODES, transient_when=busy_page)
        self.downloads = self.http.with_defaults(route="downloads")

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Every call since the last one seen (the cursor is the count listed)."""
        after = (state or {}).get("after", 0)
        while True:
            data = await self.http.json("GET", "/v2/calls", params={"after": after, "limit": 4})
            yield Page(data["calls"], {"after": data["next"]})
            if not data["calls"]:
                return
            after = data["next"]

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One call, one recording."""
        return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                          start=item["started_at"], duration=item["duration"], media=MEDIA[item["media"]],
                          raw=dict(item))]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """The media, at a URL Shapes hands out (asked again when it expired)."""
        async def fresh_url() -> str:
            answer = await self.downloads.json("GET", f"/v2/calls/{path_segment(recording.vendor_id)}/media",
                                               not_ready_on=(202,))
            return str(answer["url"])

        return self.downloads.stream_from(fresh_url)


@hookimpl
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Provide the `shapes` source."""
    register(ShapesSource)


# -- the emulator ----------------------------------------------------------------------------------

@dataclass
class Call:
    """One listed call and what its media does."""

    id: str
    started: datetime
    duration: float
    media: str = "ready"
    ready_at: float | None = None  # media transcoding until then (monotonic), with an estimate
    fault: str | None = None  # an `AUDIO_FAULTS` fault served instead of the media
    gone: bool = False  # the file was deleted after the call was listed as ready
    valid: bool = True
    item: Any = None


@dataclass
class Account:
    """One Shapes account."""

    name: str
    key: str = field(default_factory=lambda: os.urandom(12).hex())
    calls: list[Call] = field(default_factory=list)

    def add(self, count: int, *, media: str = "ready", ready_in: float | None = None,
            started: datetime | None = None) -> list[Call]:
        """`count` new calls."""
        added = []
        for _ in range(count):
            number = len(self.calls)
            moment = started or now_utc() - timedelta(minutes=30)
            call = Call(f"{self.name}-{number:04d}", moment + timedelta(seconds=number), 1.0 + number % 2, media,
                        time.monotonic() + ready_in if ready_in is not None else None)
            self.calls.append(call)
            added.append(call)
        return added


class ShapesEmulator(EmulatorServer):
    """The Shapes API host; media on `storage`."""

    def __init__(self, storage: StorageServer, **options: Any) -> None:
        super().__init__(**options)
        self.storage = storage
        self.accounts: dict[str, Account] = {}
        self._lock_calls = threading.Lock()
        self.add_route("GET", "/v2/calls", "metadata", self.list_calls)
        self.add_route("GET", r"/v2/calls/(?P<cid>.+)/media", "audio", self.media)

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per account (its key)."""
        account = self.accounts.get(request.bearer or "")
        return account.name if account else "none"

    def _account(self, request: Request) -> Account:
        account = self.accounts.get(request.bearer or "")
        if account is None:
            raise EmulatorError(401, "Invalid API key.")
        return account

    def list_calls(self, request: Request) -> Response:
        """GET /v2/calls?after=N&limit=K."""
        account = self._account(request)
        after, limit = int(request.query.get("after", 0)), int(request.query.get("limit", 4))
        page = account.calls[after:after + limit]
        return Response.json({"calls": [self._item(call) for call in page], "next": after + len(page)})

    @staticmethod
    def _item(call: Call) -> Any:
        if not call.valid:
            return call.item
        media = "processing" if call.ready_at is not None and call.ready_at > time.monotonic() else call.media
        return {"id": call.id, "started_at": iso(call.started), "duration": call.duration, "media": media}

    def media(self, request: Request, cid: str) -> Response:
        """GET /v2/calls/{id}/media: a URL handed out in JSON, or why not."""
        account = self._account(request)
        call = next((c for c in account.calls if c.valid and c.id == cid), None)
        if call is None:
            return _error(404, "NOT_FOUND", "No such call.")
        if call.ready_at is not None and call.ready_at > time.monotonic():
            left = max(1, int(call.ready_at - time.monotonic() + 0.999))
            return Response.json({"state": "transcoding"}, 202, {"Retry-After": str(left)})
        if call.media == "processing":
            return Response.json({"state": "transcoding"}, 202)
        if call.media == "deleted" or call.gone:
            return _error(400, 404, "File does not exist.")
        answer = audio_answer(f"{account.name}/{call.id}", call.duration, fmt="wav", fault=call.fault)
        body = answer.body
        key = f"{account.name}-{abs(hash(call.id))}"
        self.storage.put(key, lambda: body, answer.content_type)
        return Response.json({"url": self.storage.signed_url(key, ttl=60)})


def _error(status: int, code: Any, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status)


# -- the emulation -----------------------------------------------------------------------------------

BAD_AUDIO = ("truncated", "duration")


class ShapesEmulation(Emulation):
    """Two Shapes accounts with `recordings` calls each."""

    processing = True
    not_ready_estimates = True
    gone_media = True
    transient_answers = True
    handed_out_urls = True
    rate_limit_headers = "x-ratelimit"
    quota_route = "downloads"
    route_limits: ClassVar[dict[str, tuple[int, float]]] = {"audio": (5, 1.0)}

    def __init__(self, *, bad_data: bool = False, recordings: int = 6) -> None:
        self.storage = StorageServer(seed=4).start()
        self.api = ShapesEmulator(self.storage, seed=3).start()
        self.accounts = [Account("north"), Account("south")]
        self.keys = [account.key for account in self.accounts]
        self.rejected = {account.name: 0 for account in self.accounts}
        for account in self.accounts:
            self.api.accounts[account.key] = account
            account.add(recordings, started=now_utc() - timedelta(days=2))
            if bad_data:
                self._add_bad_data(account)

    def _add_bad_data(self, account: Account) -> None:
        for hostile in HOSTILE_IDS:
            (call,) = account.add(1)
            call.id = hostile
        for fault in BAD_AUDIO:
            (call,) = account.add(1)
            call.fault = fault
        for item in ({"started_at": "2026-01-01T00:00:00Z", "duration": 1, "media": "ready"},
                     {"id": "bad-start", "started_at": "yesterday", "duration": 1, "media": "ready"},
                     {"id": "bad-media", "started_at": "2026-01-01T00:00:00Z", "duration": 1, "media": "lost"},
                     "not an object"):
            account.calls.append(Call("", now_utc(), 1.0, valid=False, item=item))
            self.rejected[account.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api, self.storage]

    def sources(self) -> list[dict[str, Any]]:
        return [{"plugin": "shapes", "tenant": account.name, "base_url": self.api.url,
                 "api_key": self.secret(account.key), "rate_limit": {"requests": 200, "per_seconds": 1},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}} for account in self.accounts]

    def expected(self) -> Expectations:
        recordings = {a.name: {c.id for c in a.calls if c.valid} for a in self.accounts}
        audio = {a.name: {c.id for c in a.calls if c.valid and c.media == "ready" and c.fault is None and not c.gone}
                 for a in self.accounts}
        bad = {a.name: {c.id for c in a.calls if c.valid and c.fault is not None} for a in self.accounts}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=bad, rejected_items=self.rejected)

    def add_recordings(self, count: int) -> None:
        for account in self.accounts:
            account.add(count, started=now_utc() - timedelta(minutes=5))

    def add_history(self, count: int) -> None:
        for account in self.accounts:
            account.add(count, started=now_utc() - timedelta(days=20))

    def add_processing(self, count: int) -> None:
        for account in self.accounts:
            account.add(count, media="processing")

    def finish_processing(self) -> None:
        for account in self.accounts:
            for call in account.calls:
                if call.media == "processing":
                    call.media = "ready"

    def add_ready_in(self, count: int, seconds: float) -> None:
        for account in self.accounts:
            account.add(count, ready_in=seconds)

    def add_gone(self, count: int) -> None:
        for account in self.accounts:
            for call in account.add(count):
                call.gone = True  # listed as ready, its file deleted since

    def expire_signed_urls(self, count: int) -> None:
        self.storage.expire_next(count)

    def credentials_leaked(self) -> int:
        return self.storage.credentials_seen

    def revoke(self, tenant: str) -> None:
        account = next(a for a in self.accounts if a.name == tenant)
        del self.api.accounts[account.key]
        account.key = os.urandom(12).hex()
        self.keys.append(account.key)

    def secrets(self) -> list[str]:
        return [*self.keys, *self.storage.signed]
