"""An emulator of Kestrel's API (see the package's docstring), built on `collector.emulator`.

Every account keeps its recordings and a change log (one sequence number per change: a recording
added, changed or deleted). Tokens carry the account's token generation: `expire_tokens()` moves
it on, and every token issued before is refused as expired.

- the snapshot's page token pins the sequence number at which the snapshot began, so its last
  page's `next_sync_token` covers every change made while it was paged (nothing slips between the
  snapshot and the first incremental pass);
- an incremental pass pins the sequence number it reads up to on its first page, so its pages are
  stable while new changes arrive; the last page's `next_sync_token` is that number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from collector.emulator import (
    EmulatorServer,
    Request,
    Response,
    audio_answer,
    opaque_cursor,
    read_cursor,
)

PAGE_SIZE_CAP = 4


class Refused(Exception):
    """An error in Kestrel's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def rfc2822(moment: datetime) -> str:
    """Kestrel's time format: "Tue, 03 Dec 2026 10:00:00 +0000"."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


@dataclass
class Row:
    """One recording (or malformed item) of an account: the call's start it is listed under."""

    number: int
    started: datetime
    item: Any
    deleted: bool = False

    @property
    def id(self) -> str:
        """Its id (malformed items may have none)."""
        return str(self.item.get("id")) if isinstance(self.item, dict) else f"#malformed-{self.number}"


@dataclass
class Account:
    """One Kestrel account: its API key, recordings and change log."""

    name: str
    key: str = field(default_factory=lambda: os.urandom(12).hex())
    rows: list[Row] = field(default_factory=list)
    changes: list[tuple[int, int]] = field(default_factory=list)  # (sequence number, row number)
    generation: int = 0
    audio_faults: dict[str, str] = field(default_factory=dict)

    @property
    def seq(self) -> int:
        """The latest sequence number."""
        return self.changes[-1][0] if self.changes else 0

    def add(self, started: datetime, *, vendor_id: str | None = None, seconds: int = 1) -> str:
        """A ready recording of a call that started at `started`, attached now."""
        number = len(self.rows)
        vendor_id = vendor_id or f"rec_{self.name}_{number:05d}"
        item = {"id": vendor_id, "call_started_at": rfc2822(started), "attached_at": rfc2822(datetime.now(UTC)),
                "duration_ms": 1000 * (1 + seconds % 3), "status": "ready"}
        self._append(Row(number, started, item))
        return vendor_id

    def add_item(self, started: datetime, item: Any) -> None:
        """Any item, malformed or not."""
        self._append(Row(len(self.rows), started, item))

    def delete(self, vendor_id: str) -> None:
        """The recording is deleted: gone from listings, reported by the change feed."""
        row = next(row for row in self.rows if row.id == vendor_id)
        row.deleted = True
        self.changes.append((self.seq + 1, row.number))

    def _append(self, row: Row) -> None:
        self.rows.append(row)
        self.changes.append((self.seq + 1, row.number))

    def live(self) -> list[Row]:
        """The recordings not deleted."""
        return [row for row in self.rows if not row.deleted]


class KestrelEmulator(EmulatorServer):
    """Kestrel's API host, for any number of accounts (told apart by their API key)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.accounts: dict[str, Account] = {}
        self.add_route("GET", "/v1/recordings", "metadata", self._errors(self.recordings))
        self.add_route("GET", "/v1/changes", "metadata", self._errors(self.changes))
        self.add_route("GET", r"/v1/recordings/(?P<vendor_id>.+)/media", "audio", self._errors(self.media))

    def add_account(self, account: Account) -> Account:
        """Serve an account."""
        self.accounts[account.name] = account
        return account

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per account."""
        account = self._find(request)
        return account.name if account else "none"

    @staticmethod
    def _errors(handler: Any) -> Any:
        def answer(request: Request, **params: str) -> Response:
            try:
                return handler(request, **params)  # type: ignore[no-any-return]
            except Refused as refused:
                return Response.json({"error": {"code": refused.code, "message": refused.message}}, refused.status)
        return answer

    def _find(self, request: Request) -> Account | None:
        return next((a for a in self.accounts.values() if request.bearer == a.key), None)

    def _account(self, request: Request) -> Account:
        account = self._find(request)
        if account is None:
            raise Refused(401, "UNAUTHENTICATED", "The API key is not valid.")
        return account

    @staticmethod
    def _size(request: Request) -> int:
        size = request.query.get("page_size", "50")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise Refused(400, "INVALID_ARGUMENT", "page_size must be 1 to 100.")
        return min(int(size), PAGE_SIZE_CAP)

    @staticmethod
    def _token(account: Account, token: str, kind: str, status: int, code: str) -> list[str]:
        fields = read_cursor(token).split("|")
        if len(fields) < 2 or fields[1] != kind:
            raise Refused(400, "INVALID_ARGUMENT", "The token is not valid here.")
        if fields[0] != str(account.generation):
            raise Refused(status, code, "The token has expired.")
        return fields[2:]

    def recordings(self, request: Request) -> Response:
        """GET /v1/recordings: live recordings by call start, newest first."""
        account, size = self._account(request), self._size(request)
        try:
            after = datetime.fromisoformat(request.query["started_after"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise Refused(400, "INVALID_ARGUMENT", "started_after must be an ISO 8601 instant.") from None
        rows = sorted((row for row in account.live() if row.started >= after),
                      key=lambda row: (row.started, row.number), reverse=True)
        if "page_token" in request.query:
            started, number = self._token(account, request.query["page_token"], "rec", 400, "PAGE_TOKEN_EXPIRED")
            rows = [row for row in rows if (row.started, row.number) < (datetime.fromisoformat(started), int(number))]
        page = rows[:size]
        body: dict[str, Any] = {"recordings": [row.item for row in page]}
        if len(rows) > size:
            body["next_page_token"] = opaque_cursor(f"{account.generation}|rec|{page[-1].started.isoformat()}|"
                                                    f"{page[-1].number}")
        return Response.json(body)

    def changes(self, request: Request) -> Response:
        """GET /v1/changes: a snapshot, or the changes since a sync token."""
        account, size = self._account(request), self._size(request)
        if "page_token" in request.query:
            *position, mode = self._token(account, request.query["page_token"], "page", 400, "PAGE_TOKEN_EXPIRED")
            since, upto, after = (int(value) for value in position)
            snapshot = mode == "snap"
        elif "sync_token" in request.query:
            (since,) = (int(value) for value in self._token(account, request.query["sync_token"], "sync", 410,
                                                            "SYNC_TOKEN_EXPIRED"))
            upto, after, snapshot = account.seq, -1, False
        else:
            since, upto, after, snapshot = 0, account.seq, -1, True
        if snapshot:
            entries = [(row.number, row.item) for row in account.live() if row.number > after]
        else:
            latest: dict[int, int] = {}
            for seq, number in account.changes:
                if since < seq <= upto:
                    latest[number] = seq
            entries = [(seq, {"id": account.rows[number].id, "deleted": True} if account.rows[number].deleted
                        else account.rows[number].item) for number, seq in sorted(latest.items(), key=lambda e: e[1])
                       if seq > after]
        page = entries[:size]
        body: dict[str, Any] = {"changes": [item for _, item in page]}
        if len(entries) > size:
            mode = "snap" if snapshot else "chg"
            body["next_page_token"] = opaque_cursor(f"{account.generation}|page|{since}|{upto}|{page[-1][0]}|{mode}")
        else:
            body["next_sync_token"] = opaque_cursor(f"{account.generation}|sync|{upto}")
        return Response.json(body)

    def media(self, request: Request, vendor_id: str) -> Response:
        """GET /v1/recordings/{id}/media: the WAV audio."""
        account = self._account(request)
        row = next((row for row in account.live() if row.id == vendor_id), None)
        if row is None:
            raise Refused(404, "NOT_FOUND", "No such recording.")
        return audio_answer(f"{account.name}/{vendor_id}", row.item["duration_ms"] / 1000,
                            fault=account.audio_faults.get(vendor_id))
