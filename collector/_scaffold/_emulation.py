"""The skeleton's emulator and its users: fake data, the emulator, the demo, the conformance
adapter and the tests.
"""

from __future__ import annotations

EMULATION: dict[str, str] = {
    "collector_{{name}}/_emudata.py": r'''"""Deterministic fake {{Name}} data: tenants and their recordings, for the emulator and its users.

The same tenant, number and creation time always give the same recording.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any


def timestamp(moment: datetime) -> str:
    """The made-up vendor's timestamps: ISO 8601 in UTC with milliseconds and a `Z`."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recording(tenant: str, number: int, created: datetime, *, status: str = "ready",
              recording_id: str | None = None) -> dict[str, Any]:
    """Recording `number` of a tenant, created (listed from) `created`: 1 to 3 seconds long."""
    seconds = 1 + number % 3
    digest = hashlib.sha256(f"{tenant}/{number}".encode()).hexdigest()
    return {
        "id": recording_id if recording_id is not None else f"rec-{digest[:12]}",
        "status": status,
        "started_at": timestamp(created - timedelta(seconds=seconds + 2)),
        "created_at": timestamp(created),
        "duration_seconds": seconds,
        "direction": ("in", "out")[number % 2],
        "caller": f"+1555010{number % 1000:03d}",
        "callee": "+15550199999",
    }


def malformed(created: datetime) -> list[Any]:
    """Items that break the documented shape, each in its own way."""
    good = recording("malformed", 1, created)
    return [
        {key: value for key, value in good.items() if key != "id"},
        {**good, "id": "bad-start", "started_at": "yesterday"},
        {**good, "id": "negative", "duration_seconds": -5},
        {**good, "id": "unknown-status", "status": "archived"},
        "not an object",
    ]


@dataclass
class Row:
    """One listed item: when it was created, its number in its tenant (which orders items
    created in the same instant), its JSON, and whether that is a well-formed recording."""

    created: datetime
    number: int
    item: Any
    valid: bool = True


@dataclass
class Tenant:
    """One emulated tenant: its name, its API key and its recordings."""

    name: str
    api_key: str = field(default_factory=lambda: os.urandom(16).hex())
    rows: list[Row] = field(default_factory=list)
    audio_faults: dict[str, str] = field(default_factory=dict)
    """Per recording id: one of `collector.emulator.AUDIO_FAULTS`, served instead of the audio."""

    def add(self, created: datetime, *, status: str = "ready",
            recording_id: str | None = None) -> dict[str, Any]:
        """A new recording, created at `created`."""
        number = len(self.rows)
        item = recording(self.name, number, created, status=status, recording_id=recording_id)
        self.rows.append(Row(created, number, item))
        return item

    def add_history(self, count: int, newest: datetime, *, every: timedelta) -> None:
        """`count` recordings, one `every` so often, the last created at `newest`."""
        for number in range(count):
            self.add(newest - every * (count - 1 - number))

    def add_item(self, created: datetime, item: Any) -> None:
        """List any item as it is, malformed or not."""
        self.rows.append(Row(created, len(self.rows), item, valid=False))

    def recordings(self) -> list[dict[str, Any]]:
        """The well-formed recordings."""
        return [row.item for row in self.rows if row.valid]

    def find(self, recording_id: str) -> dict[str, Any] | None:
        """A recording, by id."""
        return next((row.item for row in self.rows if row.valid and row.item["id"] == recording_id),
                    None)

    def finish_processing(self) -> None:
        """Every recording still processing is ready now."""
        for item in self.recordings():
            if item["status"] == "processing":
                item["status"] = "ready"

    def newest(self) -> datetime:
        """When the newest item was created."""
        return max(row.created for row in self.rows)
''',

    "collector_{{name}}/emulator.py": r'''"""An emulator of {{Name}}'s API, built on `collector.emulator`; it follows `_api.py`'s description.

One host serves every tenant; a tenant is its API key. Faults (`.faults`), per-tenant limits
(a rate, requests in flight) and a request log come from `EmulatorServer`. `page_size_cap` serves pages shorter than
asked for, so that tests page through a few recordings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from collector.emulator import (EmulatorError, EmulatorServer, Request, Response, audio_answer,
                                opaque_cursor, read_cursor)

from ._emudata import Tenant

MAX_IN_FLIGHT = 4


class {{Name}}Emulator(EmulatorServer):
    """The made-up vendor's API: a listing, newest first, with a cursor; WAV audio."""

    def __init__(self, tenants: Iterable[Tenant] = (), *, page_size_cap: int = 500,
                 **options: Any) -> None:
        options.setdefault("max_in_flight", MAX_IN_FLIGHT)
        super().__init__(**options)
        self.tenants = {tenant.api_key: tenant for tenant in tenants}
        self.page_size_cap = page_size_cap
        self.add_route("GET", "/v1/recordings", "metadata", self.list_recordings)
        self.add_route("GET", r"/v1/recordings/(?P<recording_id>.+)/audio", "audio", self.audio)

    def add_tenant(self, tenant: Tenant) -> Tenant:
        """Serve a tenant."""
        self.tenants[tenant.api_key] = tenant
        return tenant

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per tenant: per API key."""
        return request.bearer or "anonymous"

    def _tenant(self, request: Request) -> Tenant:
        tenant = self.tenants.get(request.bearer or "")
        if tenant is None:
            raise EmulatorError(401, "The API key is not valid.")
        return tenant

    def list_recordings(self, request: Request) -> Response:
        """GET /v1/recordings?since=...&limit=...&cursor=...: newest first."""
        tenant = self._tenant(request)
        try:
            since = datetime.fromisoformat(request.query["since"])
            limit = int(request.query.get("limit", "100"))
        except (KeyError, ValueError):
            raise EmulatorError(400, "Expected `since` (ISO 8601) and a number `limit`.") from None
        rows = sorted((row for row in tenant.rows if row.created >= since),
                      key=lambda row: (row.created, row.number), reverse=True)
        if "cursor" in request.query:
            created, _, number = read_cursor(request.query["cursor"]).partition("|")
            after = (datetime.fromisoformat(created), int(number))
            rows = [row for row in rows if (row.created, row.number) < after]
        page = rows[:max(1, min(limit, self.page_size_cap))]
        cursor = (opaque_cursor(f"{page[-1].created.isoformat()}|{page[-1].number}")
                  if len(rows) > len(page) else None)
        return Response.json({"recordings": [row.item for row in page], "next_cursor": cursor})

    def audio(self, request: Request, recording_id: str) -> Response:
        """GET /v1/recordings/{id}/audio: the WAV file, or 409 while processing."""
        tenant = self._tenant(request)
        item = tenant.find(recording_id)
        if item is None:
            raise EmulatorError(404, "No such recording.")
        if item["status"] == "processing":
            raise EmulatorError(409, "The recording is still processing.")
        if item["status"] != "ready":
            raise EmulatorError(410, "The recording's audio was purged.")
        return audio_answer(f"{tenant.name}/{recording_id}", float(item["duration_seconds"]),
                            fmt="wav", fault=tenant.audio_faults.get(recording_id))
''',

    "collector_{{name}}/_demo.py": r'''"""Two emulated {{Name}} tenants for `collector demo`, with the same recordings every time.

No recording is still processing, so a demo pass completes (exit code 0) and a second one finds
nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from ._emudata import Tenant
from .emulator import {{Name}}Emulator

NEWEST = datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc)
TENANTS = {"north": 12, "south": 7}


@contextmanager
def demo_tenants() -> Iterator[list[dict[str, Any]]]:
    """Start the emulator on 127.0.0.1 and yield a `[[sources]]` table per tenant."""
    variables = {name: f"COLLECTOR_DEMO_{{NAME}}_{name.upper()}" for name in TENANTS}
    saved = {variable: os.environ.get(variable) for variable in variables.values()}
    with {{Name}}Emulator(page_size_cap=5) as api:
        tables = []
        for name, count in TENANTS.items():
            tenant = api.add_tenant(Tenant(name))
            tenant.add_history(count, NEWEST, every=timedelta(minutes=11))
            os.environ[variables[name]] = tenant.api_key
            tables.append({"plugin": "{{name}}", "tenant": name, "base_url": api.url,
                           "api_key": {"env": variables[name]}, "start": "2026-03-01T00:00:00Z"})
        try:
            yield tables
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
''',

    "collector_{{name}}/testing.py": r'''"""{{Name}}'s emulator as the conformance suite drives it (imported by tests only: needs pytest).

Two tenants on one emulated host, API keys in environment variables. The host pages four
recordings at a time, so a few recordings make several pages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector import iso, now_utc
from collector.emulator import HOSTILE_IDS, EmulatorServer
from collector.testing import Emulation, Expectations

from ._emudata import Tenant, malformed
from .emulator import {{Name}}Emulator

BAD_AUDIO = ("html", "truncated", "duration")
RATE_LIMIT = (20, 0.5)  # per tenant (requests, seconds): the documented 20 a second, sped up


class {{Name}}Emulation(Emulation):
    """Two {{Name}} tenants with `recordings` recordings each, the newest an hour old."""

    processing = True  # recordings are listed while their audio is still processing
    concurrency_limit = 4  # requests in flight per API key (the emulator enforces it)
    redirects = False  # media served by a redirect to a signed URL? Then True, and implement
    # expire_signed_urls and credentials_leaked (StorageServer does the work).

    def __init__(self, *, bad_data: bool = False, recordings: int = 8) -> None:
        now = now_utc()
        self.start = now - timedelta(days=30)
        self.tenants = [Tenant("east"), Tenant("west")]
        self.keys = [tenant.api_key for tenant in self.tenants]
        self.api = {{Name}}Emulator(self.tenants, page_size_cap=4, rate_limit=RATE_LIMIT, seed=1)
        self.api.start()
        self.bad_audio: dict[str, set[str]] = {tenant.name: set() for tenant in self.tenants}
        self.rejected: dict[str, int] = {tenant.name: 0 for tenant in self.tenants}
        for tenant in self.tenants:
            tenant.add_history(recordings, now - timedelta(hours=1), every=timedelta(minutes=7))
            if bad_data:
                self._add_bad_data(tenant)

    def _add_bad_data(self, tenant: Tenant) -> None:
        created = tenant.newest() - timedelta(minutes=1)
        for hostile in HOSTILE_IDS:  # stored safely, audio and all
            tenant.add(created, recording_id=hostile)
        for fault in BAD_AUDIO:  # quarantined
            item = tenant.add(created)
            tenant.audio_faults[item["id"]] = fault
            self.bad_audio[tenant.name].add(item["id"])
        for item in malformed(created):  # rejected
            tenant.add_item(created, item)
            self.rejected[tenant.name] += 1

    def servers(self) -> list[EmulatorServer]:
        return [self.api]

    def sources(self) -> list[dict[str, Any]]:
        requests, seconds = RATE_LIMIT
        return [{"plugin": "{{name}}", "tenant": tenant.name, "base_url": self.api.url,
                 "api_key": self.secret(tenant.api_key), "start": iso(self.start),
                 "rate_limit": {"requests": requests, "per_seconds": seconds},
                 "retry": {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1}}
                for tenant in self.tenants]

    def expected(self) -> Expectations:
        recordings = {tenant.name: {item["id"] for item in tenant.recordings()}
                      for tenant in self.tenants}
        audio = {tenant.name: {item["id"] for item in tenant.recordings()
                               if item["status"] == "ready"} - self.bad_audio[tenant.name]
                 for tenant in self.tenants}
        return Expectations(recordings=recordings, audio=audio, quarantined_audio=self.bad_audio,
                            rejected_items=self.rejected)

    def add_recordings(self, count: int, *, status: str = "ready") -> None:
        now = now_utc()
        for tenant in self.tenants:
            for number in range(count):
                tenant.add(now - timedelta(milliseconds=count - number), status=status)

    def add_history(self, count: int) -> None:
        for tenant in self.tenants:
            oldest = min(row.created for row in tenant.rows)
            tenant.add_history(count, oldest - timedelta(days=1), every=timedelta(minutes=1))

    def add_late(self, count: int) -> None:
        for tenant in self.tenants:  # older than the newest recording, within the overlap
            newest = tenant.newest()
            for number in range(count):
                tenant.add(newest - timedelta(minutes=5, milliseconds=number))

    def add_processing(self, count: int) -> None:
        self.add_recordings(count, status="processing")

    def finish_processing(self) -> None:
        for tenant in self.tenants:
            tenant.finish_processing()

    def revoke(self, tenant: str) -> None:
        revoked = next(t for t in self.tenants if t.name == tenant)
        del self.api.tenants[revoked.api_key]

    def secrets(self) -> list[str]:
        return list(self.keys)
''',

    "tests/test_conformance.py": r'''"""The {{Name}} plugin keeps the collector's promises against its own emulator."""

from collector.testing import Emulation, SourceConformance

from collector_{{name}}.testing import {{Name}}Emulation


class Test{{Name}}Conformance(SourceConformance):
    """The whole conformance suite (real HTTP, faults, kills, resumes) on two emulated tenants."""

    source_name = "{{name}}"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return {{Name}}Emulation(bad_data=bad_data)
''',
}
