"""An emulator of Imagicle Voice Analytics ("Recordings.v1"), built from the vendor's page, for tests and the demo.

What it follows (v1-recordings-list.txt, NOTES.md), under `/voice-analytics` like the real host:
- `GET /v1/recordings`: `quantity` (>= 1) and `from` (>= 0) required; `startdate`/`enddate` (ISO
  8601; `enddate` needs `startdate` and must be after it); `tel`, `sentiment`, `tagids` as
  comma-separated lists (an unknown sentiment is a 400); `users` as `include:` / `exclude:` (or
  bare) comma-separated owner GUIDs; `words` / `noteswords`: every word must occur in the call's
  (emulated) transcript / notes text. Newest first; `total` counts the filtered set. Whether the
  date bounds are inclusive is a switch (`start_inclusive`, `end_inclusive`), as the docs do not say.
- `GET /v1/recordings/{id}/transcription`: 200 speakers + sentences, 204 while in progress (until
  `make_transcripts_ready()`), 404 for a recording without one.
- `GET /v1/recordings/{id}/audio`: undocumented; served only with `serve_audio=True`, to test the
  plugin's `audio_url_template` (WAV with the recording's channels and duration).
- `POST /oauth2/token`: client credentials (HTTP Basic or form), `expires_in` from the account's
  `token_lifetime`; static bearer tokens with a role; unknown or expired tokens answer 401, a
  "standard" user's token 403 on the list.
- `expire_tokens()` / `revoke_tokens_after(n)`: OAuth tokens stop working now / after n list requests.
- Arrivals during a run: `arrive_while_listing(...)` inserts a new recording before every N-th list
  request is answered, dated inside the window being listed (at its newest end: the front of the list) or
  just now; `add_phantoms` makes `total` count recordings the list never returns.
- A per-account rate limit (429 with Retry-After) and every fault of `collector.emulator.FaultPlan`.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from collector.emulator import EmulatorError, EmulatorServer, Request, Response, synth_audio, truncated

from ._emudata import SENTIMENTS, Account, Entry, transcription

API = "/voice-analytics"
TOKEN_ROUTE = "/oauth2/token"
DEMO_BASE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _date(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EmulatorError(400, f"{name} must be an ISO date string") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _integer(request: Request, name: str, minimum: int) -> int:
    if name not in request.query:
        raise EmulatorError(400, f"{name} is required")
    try:
        value = int(request.query[name])
    except ValueError:
        raise EmulatorError(400, f"{name} must be a number") from None
    if value < minimum:
        raise EmulatorError(400, f"{name} must be at least {minimum}")
    return value


def _listed(request: Request, name: str) -> set[str] | None:
    value = request.query.get(name)
    return None if value is None else {part.strip() for part in value.split(",") if part.strip()}


class ImagicleEmulator(EmulatorServer):
    """An Imagicle Voice Analytics host serving several accounts."""

    def __init__(self, accounts: list[Account], *, rate_limit: tuple[int, float] | None = (20, 1.0),
                 serve_audio: bool = False, start_inclusive: bool = True, end_inclusive: bool = True,
                 max_quantity: int | None = None, seed: int = 0) -> None:
        super().__init__(rate_limit=rate_limit, seed=seed)
        self.accounts = {a.name: a for a in accounts}
        self.start_inclusive, self.end_inclusive = start_inclusive, end_inclusive
        self.max_quantity = max_quantity
        self.tokens: dict[str, tuple[str, float]] = {}
        self.issued: list[str] = []
        self.front_age = timedelta(seconds=90)
        self.revoke_after: int | None = None
        self.queries: list[dict[str, str]] = []
        """The query of every list request, in order."""
        self._data = threading.Lock()
        self.add_route("POST", TOKEN_ROUTE, "auth", self.token)
        self.add_route("GET", f"{API}/v1/recordings", "metadata", self.recordings)
        self.add_route("GET", f"{API}/v1/recordings/(?P<rid>.+)/transcription", "transcript", self.transcription)
        if serve_audio:
            self.add_route("GET", f"{API}/v1/recordings/(?P<rid>.+)/audio", "audio", self.audio)

    @property
    def api_url(self) -> str:
        """The base URL to configure (`base_url`)."""
        return self.url + API

    @property
    def token_url(self) -> str:
        """The token URL to configure (`oauth.token_url`)."""
        return self.url + TOKEN_ROUTE

    # -- test controls -----------------------------------------------------------------------------

    def add_recordings(self, name: str, count: int, *, at: datetime | None = None,
                       transcript: str | None = None) -> list[Entry]:
        """New recordings arrive on an account, dated `at` (default: just now, one second apart);
        `transcript`: "ready", "later" (in progress until `make_transcripts_ready`) or "never"."""
        newest = at or datetime.now(UTC) - self.front_age
        with self._data:
            return [self.accounts[name].add(newest - timedelta(seconds=i), transcript=transcript)
                    for i in range(count)]

    def add_item(self, name: str, at: datetime, payload: Any, *, transcript: str | None = None) -> Entry:
        """Add an explicit (possibly malformed) item to an account, listed as if dated `at`."""
        with self._data:
            return self.accounts[name].add(at, payload, transcript=transcript)

    def arrive_while_listing(self, name: str, *, every: int, where: str = "inside", limit: int | None = None) -> None:
        """Before every `every`-th list request is answered, a new recording arrives: dated at the newest
        end of the window being listed ("inside": the front of that window) or just now ("front")."""
        account = self.accounts[name]
        with self._data:
            account.insert_every, account.insert_where, account.insert_left = every, where, limit

    def add_phantoms(self, name: str, *dates: datetime) -> None:
        """Make `total` count recordings at these dates that the list never returns."""
        with self._data:
            self.accounts[name].phantoms.extend(dates)

    def expire_tokens(self) -> None:
        """Invalidate every OAuth token issued so far (static tokens stay valid)."""
        with self._data:
            self.tokens.clear()

    def revoke_tokens_after(self, list_requests: int) -> None:
        """Invalidate every OAuth token once, after this many more list requests (a mid-run 401)."""
        self.revoke_after = list_requests

    def make_transcripts_ready(self) -> None:
        """Transcriptions in progress (204) so far are done (recordings added later may be in progress again)."""
        with self._data:
            for account in self.accounts.values():
                for entry in account.entries:
                    if entry.transcript == "later":
                        entry.transcript = "ready"

    def find(self, name: str, recording_id: str) -> Entry | None:
        """An account's recording by id."""
        with self._data:
            return next((e for e in self.accounts[name].entries if e.id == recording_id), None)

    # -- routes ------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """OAuth2 client credentials: Basic or form-encoded client id and secret."""
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type"}, 400)
        client_id, secret = self._client_credentials(request, form)
        account = next((a for a in self.accounts.values() if client_id in a.clients), None)
        if account is None or account.clients[client_id] != secret:
            return Response.json({"error": "invalid_client"}, 401)
        scope = form.get("scope")
        if scope is not None and not all(s.startswith("voice-analytics/") for s in scope.split()):
            return Response.json({"error": "invalid_scope"}, 400)
        token = os.urandom(18).hex()
        with self._data:
            self.tokens[token] = (account.name, time.time() + account.token_lifetime)
            self.issued.append(token)
        return Response.json({"access_token": token, "token_type": "Bearer", "expires_in": account.token_lifetime})

    def recordings(self, request: Request) -> Response:
        """A page of an account's recordings, newest first, with the documented parameters and 400s."""
        account, role = self._account(request)
        if role == "standard":
            raise EmulatorError(403, "Forbidden: a standard user can only access their own recordings")
        quantity, offset = _integer(request, "quantity", 1), _integer(request, "from", 0)
        start = _date(request.query["startdate"], "startdate") if "startdate" in request.query else None
        end = _date(request.query["enddate"], "enddate") if "enddate" in request.query else None
        if end is not None and start is None:
            raise EmulatorError(400, "startdate is required if enddate is provided")
        if end is not None and start is not None and end <= start:
            raise EmulatorError(400, "enddate must be after startdate")
        sentiments = _listed(request, "sentiment")
        if sentiments and sentiments - set(SENTIMENTS):
            raise EmulatorError(400, f"unknown sentiment {sorted(sentiments - set(SENTIMENTS))[0]}")
        with self._data:
            self.queries.append(dict(request.query))
            self._arrival(account, start, end)
            matching = [e for e in account.entries if self._in_range(e.at, start, end) and self._matches(e, request)]
            phantoms = sum(1 for at in account.phantoms if self._in_range(at, start, end))
            matching.sort(key=lambda e: (e.at, e.seq), reverse=True)
            count = min(quantity, self.max_quantity or quantity)
            body = {"total": len(matching) + phantoms,
                    "recordings": [e.payload for e in matching[offset:offset + count]]}
        return Response.json(body)

    def transcription(self, request: Request, rid: str) -> Response:
        """200 with the transcription, 204 while in progress, 404 when there is none."""
        account, _ = self._account(request)
        entry = self.find(account.name, rid)
        if entry is None or entry.transcript == "never":
            raise EmulatorError(404, "Not found: no transcription for this recording")
        if entry.transcript == "later":
            return Response(204, b"", "application/json")
        return Response.json(transcription(entry))

    def audio(self, request: Request, rid: str) -> Response:
        """The recording's audio as WAV (an undocumented route, for the plugin's audio_url_template)."""
        account, _ = self._account(request)
        entry = self.find(account.name, rid)
        fault = account.audio_faults.get(rid)
        if entry is None or not isinstance(entry.payload, dict) or fault == "missing":
            raise EmulatorError(404, "Not found: no audio for this recording")
        if fault == "html":
            return Response(200, b"<!DOCTYPE html><html><body>Please sign in.</body></html>", "text/html")
        duration = float(entry.payload.get("duration") or 1) * (3 if fault == "duration" else 1)
        channels = int(entry.payload.get("channels") or 1)
        data = _audio(rid, duration, 3 - channels if fault == "channels" else channels)
        return Response(200, truncated(data) if fault == "truncated" else data, "audio/wav")

    # -- helpers -----------------------------------------------------------------------------------

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per account: by bearer token, or by client id on the token route."""
        token = request.bearer or ""
        for account in self.accounts.values():
            if token in account.static_tokens:
                return account.name
        if token in self.tokens:
            return self.tokens[token][0]
        if request.path == TOKEN_ROUTE:
            client_id, _ = self._client_credentials(request, dict(parse_qsl(request.body.decode("utf-8", "replace"))))
            return next((a.name for a in self.accounts.values() if client_id in a.clients), "anonymous")
        return "anonymous"

    @staticmethod
    def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return "", ""
            return unquote_plus(user), unquote_plus(password)
        return form.get("client_id", ""), form.get("client_secret", "")

    def _account(self, request: Request) -> tuple[Account, str]:
        token = request.bearer or ""
        for account in self.accounts.values():
            if token in account.static_tokens:
                return account, account.static_tokens[token]
        with self._data:
            issued = self.tokens.get(token)
        if issued is None or issued[1] <= time.time():
            raise EmulatorError(401, "Unauthorized: the bearer token is missing, unknown or expired")
        return self.accounts[issued[0]], "admin"

    def _in_range(self, at: datetime, start: datetime | None, end: datetime | None) -> bool:
        if start is not None and (at < start or (at == start and not self.start_inclusive)):
            return False
        return end is None or at < end or (at == end and self.end_inclusive)

    @staticmethod
    def _matches(entry: Entry, request: Request) -> bool:
        p = entry.payload if isinstance(entry.payload, dict) else {}
        q = request.query
        if (wanted := _listed(request, "sentiment")) and (p.get("analysisResult") or {}).get("sentiment") not in wanted:
            return False
        if (tel := _listed(request, "tel")) and not tel & {(p.get(k) or {}).get("phoneNumber") for k in ("from", "to")}:
            return False
        if (tags := _listed(request, "tagids")) and not tags & {t.get("id") for t in p.get("tags") or []}:
            return False
        if "users" in q:
            mode, _, ids = q["users"].rpartition(":")
            listed = {i.strip() for i in ids.split(",")}
            if (p.get("ownerId") in listed) == (mode == "exclude"):
                return False
        for key, text in (("words", entry.text), ("noteswords", entry.notes)):
            if key in q and not all(w.lower() in text.lower() for w in q[key].split()):
                return False
        return True

    def _arrival(self, account: Account, start: datetime | None, end: datetime | None) -> None:
        """Called under the data lock as each list request arrives: a recording may arrive just before it
        is answered (so it lands between this request and the previous one)."""
        account.list_requests += 1
        if self.revoke_after is not None:
            self.revoke_after -= 1
            if self.revoke_after <= 0:
                self.tokens.clear()
                self.revoke_after = None
        if not account.insert_every or account.list_requests % account.insert_every or account.insert_left == 0:
            return
        if account.insert_where == "inside" and end is not None:
            # The newest in the window, yet clear of any neighbouring window's query by chance.
            at = max(end - timedelta(seconds=10), start or end)
        else:
            at = datetime.now(UTC) - self.front_age
        account.add(at)
        if account.insert_left is not None:
            account.insert_left -= 1


@lru_cache(maxsize=256)
def _audio(seed: str, duration: float, channels: int) -> bytes:
    return synth_audio(seed, duration=duration, fmt="wav", channels=channels)
