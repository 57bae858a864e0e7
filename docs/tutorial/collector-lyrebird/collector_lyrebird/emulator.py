"""An emulator of Lyrebird's API v3 (docs/lyrebird-api.md), built on `collector.emulator`.

What the plugin uses, as documented: HTTP Basic with an Account SID and an Auth Token; the
listing, newest first, filtered by `since`, paged by `meta.next_page_uri` (relative, and absolute
on every second page, as "the newer API nodes" send it); media by a 302 to a signed URL on a
`StorageServer` (another origin); 409 (code 21409) for the media of a `processing` recording, 410
and 403 for `deleted` and `restricted` ones; at most 3 requests in flight per account, beyond
which a 429 answers. Errors have Lyrebird's shape (`code`, `message`, `more_info`, `status`),
except the in-flight 429, which the emulator kit answers in its own.

`page_size_cap` serves pages shorter than asked for (the documentation allows it), so that tests
page through a few recordings.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from collector.emulator import (
    EmulatorServer,
    Request,
    Response,
    StorageServer,
    audio_answer,
    opaque_cursor,
    read_cursor,
)

from ._emudata import Account

MAX_IN_FLIGHT = 3
MEDIA_ROUTE = r"/v3/Accounts/(?P<account>[^/]+)/Calls/(?P<call>.+)/Recordings/(?P<leg>[^/]+)/Media"


class Refused(Exception):
    """An error answer in Lyrebird's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        """The error as Lyrebird sends it."""
        return Response.json({"code": self.code, "message": self.message, "status": self.status,
                              "more_info": f"https://docs.lyrebird.example/errors/{self.code}"},
                             self.status)


def _lyrebird_errors(handler: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(handler)
    def answer(request: Request, **params: str) -> Response:
        try:
            return handler(request, **params)
        except Refused as refused:
            return refused.response()
    return answer


class LyrebirdEmulator(EmulatorServer):
    """Lyrebird's API host; the media is on `storage`, another origin."""

    def __init__(self, storage: StorageServer, *, page_size_cap: int = 1000,
                 **options: Any) -> None:
        options.setdefault("max_in_flight", MAX_IN_FLIGHT)
        super().__init__(**options)
        self.storage = storage
        self.page_size_cap = page_size_cap
        self.accounts: dict[str, Account] = {}
        self.pages_served = 0
        self.add_route("GET", r"/v3/Accounts/(?P<account>[^/]+)/Recordings", "metadata",
                       _lyrebird_errors(self.list_recordings))
        self.add_route("GET", MEDIA_ROUTE, "audio", _lyrebird_errors(self.media))

    def add_account(self, account: Account) -> Account:
        """Serve an account."""
        self.accounts[account.sid] = account
        return account

    def rate_limit_key(self, request: Request) -> str:
        """The concurrency limit is per account: the Account SID in the path."""
        parts = request.path.split("/")
        return parts[3] if len(parts) > 3 and parts[1:3] == ["v3", "Accounts"] else "none"

    def _account(self, request: Request, account_sid: str) -> Account:
        credentials = request.basic
        account = self.accounts.get(credentials[0]) if credentials else None
        if account is None or credentials is None or credentials[1] != account.token:
            raise Refused(401, 20003, "Authenticate: the Account SID or the Auth Token is wrong.")
        if account.sid != account_sid:
            raise Refused(403, 20004, "The credentials are not valid for this account.")
        return account

    def list_recordings(self, request: Request, account: str) -> Response:
        """GET /v3/Accounts/{AccountSid}/Recordings: newest first, `since`, `page_size`."""
        owner = self._account(request, account)
        query = request.query
        try:
            since = datetime.fromisoformat(query["since"]) if "since" in query else None
        except ValueError:
            raise Refused(400, 20001, "Invalid since: expected an RFC 3339 timestamp.") from None
        if since is not None and since.tzinfo is None:
            raise Refused(400, 20001, "Invalid since: the timestamp has no zone.")
        size = query.get("page_size", "50")
        if not size.isdigit() or not 1 <= int(size) <= 1000:
            raise Refused(400, 20001, "Invalid page_size: expected 1 to 1000.")
        rows = sorted((row for row in owner.rows if since is None or row.created >= since),
                      key=lambda row: (row.created, row.number), reverse=True)
        if "page_token" in query:
            created, _, number = read_cursor(query["page_token"]).partition("|")
            try:
                after = (datetime.fromisoformat(created), int(number))
            except ValueError:
                raise Refused(400, 20001, "Invalid page_token.") from None
            rows = [row for row in rows if (row.created, row.number) < after]
        page = rows[:min(int(size), self.page_size_cap)]
        meta = {"page_size": int(size), "key": "recordings", "next_page_uri": None,
                "url": f"/v3/Accounts/{owner.sid}/Recordings"}
        if len(rows) > len(page):
            token = opaque_cursor(f"{page[-1].created.isoformat()}|{page[-1].number}")
            following = {**{k: v for k, v in query.items() if k != "page_token"},
                         "page_token": token}
            meta["next_page_uri"] = f"{meta['url']}?{urlencode(following)}"
            self.pages_served += 1
            if self.pages_served % 2 == 0:  # "the newer API nodes" send absolute URLs
                meta["next_page_uri"] = f"{self.url}{meta['next_page_uri']}"
        return Response.json({"recordings": [row.item for row in page], "meta": meta})

    def media(self, request: Request, account: str, call: str, leg: str) -> Response:
        """GET .../Calls/{CallSid}/Recordings/{LegSid}/Media: a 302 to a signed storage URL."""
        owner = self._account(request, account)
        row = owner.find(call, leg)
        if row is None:
            raise Refused(404, 20404, "The requested resource was not found.")
        status = row.item["status"]
        if status == "processing":
            raise Refused(409, 21409, "The recording media is not available yet: "
                                      "the recording is still processing.")
        if status == "deleted":
            raise Refused(410, 21410, "The recording media was deleted.")
        if status == "restricted":
            raise Refused(403, 21403, "Access to the recording media is restricted.")
        answer = audio_answer(f"{owner.sid}/{call}/{leg}", float(row.item["duration"]), fmt="wav",
                              fault=owner.audio_faults.get((call, leg)),
                              channels=row.item["channels"])
        body = answer.body
        key = hashlib.sha256(f"{owner.sid}\n{call}\n{leg}".encode()).hexdigest()
        self.storage.put(key, lambda: body, answer.content_type)
        return Response.redirect(self.storage.signed_url(key, ttl=600))
