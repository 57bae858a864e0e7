"""An emulator of the Native Focus REST API, built from the vendor's pages, for tests and the demo.

What it follows (see focus-getting-started, focus-cursor-sync, NOTES.md):
- `POST /authWithApiKey` (and the older `/authWithAPIKey`) with clientId, apiKey and username ->
  a JWT with an `exp` claim and a refresh token; expired or unknown tokens answer 401;
- `GET /client/recording/cursor`: `numberOfResults` (default 100), `fromDate` on the first call,
  then `cursorId`; recordings in arrival order; an empty page still carries a cursor; a forged
  cursor answers 400 ValidationError; recordings that arrive later appear on later pages;
- `POST /client/recording.search` {dateTimeRange: {from, to}, page, pageSize}: the tenant's
  recordings starting from `from` to `to` (both inclusive; either may be left out), newest first,
  as {page, pageSize, total, recordings}; `hide(...)` keeps a recording out of the cursor feed but
  not out of the search (a vendor whose count holds one its listing never gave us);
- `POST /client/recording.transcription.get` {interactionIds}: transcripts for those that have
  one; a transcript can be "not ready" until `make_transcripts_ready()`;
- `POST /client/recording.playBackByThirdPartyId` {thirdPartyId, format, comment}: real audio,
  unique per recording, in mp3 / mp3-mono / wav / wav-mono (long recordings streamed); forced
  comments answer 400 ValidationError without a comment; missing rights or denied media answer
  403; unknown ids 404;
- a per-tenant rate limit (429 with Retry-After in a chosen style), and every fault of
  `collector.emulator.FaultPlan`.

Data is generated deterministically from the tenant's clientId, so two emulators with the same
tenants serve the same recordings (the demo relies on it), and a tenant of 100,000 recordings
costs almost no memory (items are built when requested).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from collector.emulator import (
    EmulatorError,
    EmulatorServer,
    Readiness,
    Request,
    Response,
    synth_audio,
    truncated,
    wav_stream,
)

from ._emudata import FocusTenant, b64, cached_recording, generated_recording, iso, segments, transcript_kind

_STREAM_ABOVE_SECONDS = 120.0
_FORMATS = {"mp3": ("mp3", 2, "audio/mpeg"), "mp3-mono": ("mp3", 1, "audio/mpeg"),
            "wav": ("wav", 2, "audio/wav"), "wav-mono": ("wav", 1, "audio/wav")}


class FocusEmulator(EmulatorServer):
    """A Focus API host serving several tenants (as a regional host does)."""

    def __init__(self, tenants: list[FocusTenant], *, rate_limit: tuple[int, float] | None = (20, 1.0),
                 retry_after_style: str = "seconds", auth_routes: tuple[str, ...] = ("/authWithApiKey",
                 "/authWithAPIKey"), seed: int = 0) -> None:
        super().__init__(rate_limit=rate_limit, retry_after_style=retry_after_style, seed=seed)
        self.tenants = {t.client_id: t for t in tenants}
        self.tokens: dict[str, tuple[int, float]] = {}
        self.issued: list[str] = []
        self.transcripts_ready = False
        self.processing = Readiness()
        """interactionIds whose transcripts are in progress, whatever `transcripts_ready` says."""
        self.expire_tokens_at: int | None = None
        """Invalidate every token when the emulator has served this many requests (a mid-run expiry)."""
        self._secret = os.urandom(16)
        self._cursor_key = b"focus-emulator-cursor"  # fixed: cursors stay valid across emulator restarts
        self._tenants_lock = threading.Lock()
        for route in auth_routes:
            self.add_route("POST", route, "auth", self.authenticate)
        self.add_route("GET", "/client/recording/cursor", "metadata", self.cursor)
        self.add_route("POST", "/client/recording.search", "count", self.search)
        self.hidden: set[int | str] = set()
        """interactionIds the cursor feed leaves out (the search still counts them)."""
        self.add_route("POST", "/client/recording.transcription.get", "transcript", self.transcription)
        self.add_route("POST", "/client/recording.playBackByThirdPartyId", "audio", self.playback)

    # -- test controls -----------------------------------------------------------------------------

    def add_recordings(self, client_id: int, count: int) -> list[int]:
        """New recordings arrive on a tenant (they appear after everything already listed)."""
        tenant = self.tenants[client_id]
        with self._tenants_lock:
            start = len(tenant.arrivals) + len(tenant.extra) + 10_000
            added = list(range(start, start + count))
            tenant.arrivals.extend(added)
        return added

    def add_item(self, client_id: int, item: dict[str, Any], key: str | None = None) -> None:
        """Append an explicit (possibly malformed) item to a tenant's cursor stream."""
        tenant = self.tenants[client_id]
        key = key or f"extra-{len(tenant.extra)}"
        with self._tenants_lock:
            tenant.extra[key] = item
            tenant.arrivals.append(key)

    def hide(self, *interaction_ids: int | str) -> None:
        """Leave these recordings out of the cursor feed from now on; `recording.search` still finds them."""
        self.hidden.update(interaction_ids)

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (as if they all expired now)."""
        self.tokens.clear()

    def make_transcripts_ready(self) -> None:
        """Transcripts that were "not ready yet" become available."""
        self.transcripts_ready = True
        self.processing.finish()

    def add_processing(self, client_id: int, count: int) -> list[int]:
        """Calls that just ended arrive, their transcripts in progress until `make_transcripts_ready`."""
        tenant = self.tenants[client_id]
        with self._tenants_lock:
            start = len(tenant.arrivals) + len(tenant.extra) + 20_000
        added = [index for index in range(start, start + 4 * count) if transcript_kind(index) == "ready"
                 and generated_recording(client_id, index)["type"] != "sms"][:count]
        now = datetime.now(UTC) - timedelta(minutes=5)
        for index in added:
            self.add_item(client_id, generated_recording(client_id, index, start=now), key=f"processing-{index}")
        self.processing.processing(client_id * 1_000_000 + index for index in added)
        return added

    def item(self, tenant: FocusTenant, entry: int | str) -> dict[str, Any]:
        """The recording at one arrival slot."""
        if isinstance(entry, str):
            return tenant.extra[entry]
        return cached_recording(tenant.client_id, entry)

    def expected_ids(self, tenant: FocusTenant) -> set[str]:
        """interactionIds of every well-formed recording of a tenant."""
        ids = {str(tenant.client_id * 1_000_000 + e) for e in tenant.arrivals if isinstance(e, int)}
        ids |= {str(item["interactionId"]) for item in tenant.extra.values()
                if isinstance(item, dict) and item.get("_valid", True) and "interactionId" in item}
        return ids

    # -- routes ------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response:
        """API key -> JWT."""
        body = request.json()
        if not isinstance(body, dict) or not all(k in body for k in ("clientId", "apiKey", "username")):
            raise EmulatorError(400, "ValidationError: clientId, apiKey and username are required")
        tenant = self.tenants.get(body["clientId"]) if isinstance(body["clientId"], int) else None
        if tenant is None or not hmac.compare_digest(str(body["apiKey"]), tenant.api_key) \
                or body["username"] != tenant.username:
            raise EmulatorError(401, "Unauthenticated: invalid API key or username")
        expires = time.time() + tenant.token_lifetime
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64(json.dumps({"sub": tenant.username, "clientId": tenant.client_id, "exp": expires,
                                   "jti": b64(os.urandom(9))}).encode())
        signature = b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self.tokens[token] = (tenant.client_id, expires)
        self.issued.append(token)
        refresh = b64(os.urandom(24))
        self.issued.append(refresh)
        return Response.json({"token": token, "refreshToken": refresh})

    def cursor(self, request: Request) -> Response:
        """A page of the tenant's recordings after the cursor."""
        tenant = self._tenant(request, "Recording.View")
        try:
            size = int(request.query.get("numberOfResults", "100"))
        except ValueError:
            raise EmulatorError(400, "ValidationError: numberOfResults must be a number") from None
        if not 1 <= size <= 5000:
            raise EmulatorError(400, "ValidationError: numberOfResults must be between 1 and 5000")
        if "cursorId" in request.query:
            position = self._decode_cursor(tenant, request.query["cursorId"])
        elif "fromDate" in request.query:
            position = self._position_of(tenant, request.query["fromDate"])
        else:
            position = 0
        with self._tenants_lock:
            slots = tenant.arrivals[position:position + size]
        items = [self.item(tenant, slot) for slot in slots]
        body = {"recordings": [item for item in items if not isinstance(item, dict) or item.get("interactionId")
                               not in self.hidden], "nextCursorId": self._encode_cursor(tenant, position + len(items))}
        return Response.json(body)

    def search(self, request: Request) -> Response:
        """A page of the tenant's recordings in a date range, newest first, with the `total` of the range."""
        tenant = self._tenant(request, "Recording.View")
        body = request.json()
        if not isinstance(body, dict):
            raise EmulatorError(400, "ValidationError: the body must be an object")
        span = body.get("dateTimeRange") or {}
        page, size = body.get("page", 1), body.get("pageSize", 100)
        if not isinstance(span, dict) or not all(isinstance(v, int) and v >= 1 for v in (page, size)):
            raise EmulatorError(400, "ValidationError: dateTimeRange must be an object, page and pageSize from 1")
        low, high = (self._search_bound(span.get(name), name) for name in ("from", "to"))
        with self._tenants_lock:
            slots = list(tenant.arrivals)
        found = []
        for slot in slots:
            item = self.item(tenant, slot)
            when = item.get("startDatetimeUTC") if isinstance(item, dict) else None
            try:
                start = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else None
            except ValueError:
                start = None
            if start is not None and (low is None or start >= low) and (high is None or start <= high):
                found.append((start, item))
        found.sort(key=lambda pair: pair[0], reverse=body.get("startTimeDirection", "DESC") != "ASC")
        chosen = [item for _, item in found[(page - 1) * size:page * size]]
        return Response.json({"page": page, "pageSize": size, "total": len(found), "recordings": chosen})

    @staticmethod
    def _search_bound(value: Any, name: str) -> datetime | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise EmulatorError(400, f"ValidationError: dateTimeRange.{name} must be an ISO 8601 date-time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def transcription(self, request: Request) -> Response:
        """Transcripts for the requested interactionIds that have one (others are left out)."""
        tenant = self._tenant(request, "Recording.Transcription.View")
        body = request.json()
        ids = body.get("interactionIds") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise EmulatorError(400, "ValidationError: interactionIds must be a list")
        answers = []
        for interaction_id in ids:
            index = self._generated_index(tenant, interaction_id)
            if index is None:
                continue
            kind = transcript_kind(index)
            if interaction_id in self.processing:
                continue
            if kind == "ready" or (kind == "later" and self.transcripts_ready):
                answers.append({"interactionId": interaction_id, "segments": segments(tenant.client_id, index)})
        return Response.json({"transcriptions": answers})

    def playback(self, request: Request) -> Response:
        """The recording's audio in the requested format."""
        tenant = self._tenant(request, "Recording.Play")
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("thirdPartyId"), str):
            raise EmulatorError(400, "ValidationError: thirdPartyId is required")
        audio_format = body.get("format", "mp3")
        if audio_format not in _FORMATS:
            raise EmulatorError(400, f"ValidationError: format {audio_format!r} is not available here")
        comment = body.get("comment")
        if isinstance(comment, str) and comment.strip():
            tenant.comments.append((body["thirdPartyId"], comment))
        elif tenant.forced_comments:
            raise EmulatorError(400, "ValidationError: a comment is required to play this recording")
        item = self._find_third_party(tenant, body["thirdPartyId"])
        if item is None or tenant.audio_faults.get(body["thirdPartyId"]) == "missing":
            raise EmulatorError(404, "Not found: no recording with this thirdPartyId")
        if item.get("mediaAccessStatus", "Permitted") != "Permitted":
            raise EmulatorError(403, "Forbidden: media access to this recording is denied")
        return self._audio(tenant, item, audio_format)

    def dispatch(self, request: Request) -> tuple[Response | None, str | None, str]:
        """Serve a request, first expiring every token if the scripted moment has come."""
        if self.expire_tokens_at is not None and len(self.log) >= self.expire_tokens_at:
            self.expire_tokens_at = None
            self.expire_tokens()
        return super().dispatch(request)

    # -- helpers -----------------------------------------------------------------------------------

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per tenant: by token, or by the clientId of an authentication request."""
        token = request.bearer
        if token in self.tokens:
            return str(self.tokens[token][0])
        try:
            return str(json.loads(request.body).get("clientId"))
        except (ValueError, AttributeError):
            return "anonymous"

    def _tenant(self, request: Request, right: str) -> FocusTenant:
        token = request.bearer
        entry = self.tokens.get(token or "")
        if entry is None or entry[1] <= time.time():
            raise EmulatorError(401, "Unauthenticated: the bearer token is missing, malformed or expired")
        tenant = self.tenants[entry[0]]
        if right not in tenant.rights:
            raise EmulatorError(403, f"Forbidden: the service user lacks the {right} right")
        return tenant

    def _encode_cursor(self, tenant: FocusTenant, position: int) -> str:
        text = f"{tenant.client_id}:{position}"
        signature = hmac.new(self._cursor_key, text.encode(), hashlib.sha256).hexdigest()[:16]
        return b64(f"{text}:{signature}".encode())

    def _decode_cursor(self, tenant: FocusTenant, cursor: str) -> int:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            client, position, signature = base64.urlsafe_b64decode(padded).decode().split(":")
            valid = int(client) == tenant.client_id and hmac.compare_digest(
                signature, hmac.new(self._cursor_key, f"{client}:{position}".encode(), hashlib.sha256).hexdigest()[:16])
        except (ValueError, UnicodeDecodeError):
            valid = False
        if not valid:
            raise EmulatorError(400, "ValidationError: cursorId is not valid")
        return int(position)

    def _position_of(self, tenant: FocusTenant, from_date: str) -> int:
        try:
            start = datetime.fromisoformat(from_date.replace("Z", "+00:00"))
        except ValueError:
            raise EmulatorError(400, "ValidationError: fromDate must be an ISO 8601 UTC date-time") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        for position, slot in enumerate(tenant.arrivals):
            item = self.item(tenant, slot)
            when = item.get("startDatetimeUTC") if isinstance(item, dict) else None
            if isinstance(when, str) and when >= iso(start):
                return position
        return len(tenant.arrivals)

    def _generated_index(self, tenant: FocusTenant, interaction_id: Any) -> int | None:
        if isinstance(interaction_id, int) and interaction_id // 1_000_000 == tenant.client_id:
            return interaction_id % 1_000_000
        return None

    def _find_third_party(self, tenant: FocusTenant, third_party_id: str) -> dict[str, Any] | None:
        for item in tenant.extra.values():
            if isinstance(item, dict) and item.get("thirdPartyId") == third_party_id:
                return item
        _, _, suffix = third_party_id.rpartition("|")
        client, _, index = suffix.partition("-")
        if client == str(tenant.client_id) and index.isdigit():
            item = cached_recording(tenant.client_id, int(index))
            position = int(index)
            listed = position < tenant.recordings or position in tenant.arrivals[tenant.recordings:]
            if item["thirdPartyId"] == third_party_id and listed:
                return item
        return None

    def _audio(self, tenant: FocusTenant, item: dict[str, Any], audio_format: str) -> Response:
        kind, channels, content_type = _FORMATS[audio_format]
        third_party_id = item["thirdPartyId"]
        duration = float(item.get("durationInSeconds") or 1.0)
        fault = tenant.audio_faults.get(third_party_id)
        if fault == "html":
            return Response(200, b"<!DOCTYPE html><html><body>Session expired. Please log in.</body></html>",
                            "text/html; charset=utf-8")
        if fault == "duration":
            duration *= 3
        if kind == "wav" and duration > _STREAM_ABOVE_SECONDS:
            length, chunks = wav_stream(third_party_id, duration=duration, channels=channels)
            return Response(200, chunks, content_type, length=length)
        data = _cached_audio(third_party_id, duration, kind, channels)
        if fault == "truncated":
            data = truncated(data)
        return Response(200, data, content_type)


@lru_cache(maxsize=256)
def _cached_audio(seed: str, duration: float, kind: str, channels: int) -> bytes:
    return synth_audio(seed, duration=duration, fmt=kind, channels=channels)


