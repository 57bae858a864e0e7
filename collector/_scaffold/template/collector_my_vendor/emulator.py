"""An emulator of MyVendor's API, built on `collector.emulator`; it follows `_api.py`'s description.

One host serves every tenant; a tenant is its API key. Faults (`.faults`), per-tenant limits
(a rate, requests in flight) and a request log come from `EmulatorServer`. `page_size_cap` serves
pages shorter than asked for, so that tests page through a few recordings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from collector.emulator import (
    EmulatorError,
    EmulatorServer,
    Request,
    Response,
    audio_answer,
    opaque_cursor,
    read_cursor,
)

from ._emudata import Tenant

MAX_IN_FLIGHT = 4


class MyVendorEmulator(EmulatorServer):
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
