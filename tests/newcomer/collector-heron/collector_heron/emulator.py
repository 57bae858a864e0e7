"""An emulator of Heron's API v2 (docs/heron-api.md), built on `collector.emulator`.

What the plugin uses, as documented: OAuth2 client credentials as HTTP Basic at `/oauth/token`
(a `TokenEndpoint`, short-lived tokens); the changes feed (`POST /v2/recordings/changes`: a
snapshot without a sync token, the changes since one with it, cursors in the body, pages that may
be empty while more follow, deletions as stubs, 410 `sync_token_expired` and 400 `cursor_expired`
once tokens of an older generation are refused); `GET /v2/recordings/{id}`; media batches of at
most 50 segment ids (per-item `ready` with a signed URL, `pending` with `retry_after`, errors,
202 when every item is pending) whose URLs are on another origin, the `MediaHost`, which refuses
an `Authorization` header and expired signatures and sends `X-Heron-Sha256`. Errors have Heron's
shape (`{"error": {"code", "message"}}`), except the kit's own 401s and 429s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from collector.emulator import (
    EmulatorError,
    EmulatorServer,
    Request,
    Response,
    TokenEndpoint,
    audio_answer,
    opaque_cursor,
    read_cursor,
)

from ._emudata import Workspace

BATCH_LIMIT = 50
PROCESSING_RETRY_AFTER = 300


def error(status: int, code: str, message: str, **more: Any) -> Response:
    """An error answer in Heron's shape."""
    return Response.json({"error": {"code": code, "message": message, **more}}, status)


class MediaHost(EmulatorServer):
    """Heron's CDN: objects at signed URLs that expire, on an origin of their own."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.key = os.urandom(16)
        self.objects: dict[str, Response] = {}
        self.signed: list[str] = []
        self.expire_count = 0
        self.credentials_seen = 0
        self.add_route("GET", r"/o/(?P<name>[^/]+)\.wav", "audio", self.serve)

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self.key, f"{name}|{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, name: str, answer: Response, ttl: float = 30) -> str:
        """Keep an object and hand out a URL valid for `ttl` seconds (or expired already)."""
        self.objects[name] = answer
        expires = int(time.time() + ttl)
        if self.expire_count:
            self.expire_count -= 1
            expires = int(time.time()) - 60
        signature = self._signature(name, expires)
        self.signed.append(signature)
        return f"{self.url}/o/{quote(name)}.wav?X-Heron-Expires={expires}&X-Heron-Signature={signature}"

    def serve(self, request: Request, name: str) -> Response:
        """GET /o/{segment}.wav: the media, if the signature is valid and current."""
        if request.header("Authorization") is not None:
            self.credentials_seen += 1
            return error(400, "unexpected_authorization", "Send no Authorization header.")
        expires = request.query.get("X-Heron-Expires", "")
        signature = request.query.get("X-Heron-Signature", "")
        if not expires.isdigit() or not hmac.compare_digest(signature,
                                                            self._signature(name, int(expires))):
            return error(403, "signature_mismatch", "The URL is not one Heron issued.")
        if int(expires) < time.time():
            return error(403, "url_expired", "The URL has expired.")
        answer = self.objects[name]
        body = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
        return Response(answer.status, body, answer.content_type,
                        {**answer.headers, "X-Heron-Sha256": hashlib.sha256(body).hexdigest()})


class HeronEmulator(EmulatorServer):
    """Heron's API host, serving several workspaces; the media is on `media`, another origin."""

    def __init__(self, workspaces: Iterable[Workspace], media: MediaHost, *, token_lifetime: float = 60,
                 page_size_cap: int = 200, **options: Any) -> None:
        super().__init__(**options)
        self.media = media
        self.page_size_cap = page_size_cap
        self.workspaces: dict[str, Workspace] = {}
        self.tokens = TokenEndpoint(lifetime=token_lifetime, client_auth=("basic",),
                                    grants=("client_credentials",))
        self.tokens.mount(self, "/oauth/token")
        for workspace in workspaces:
            self.add_workspace(workspace)
        self.pages_served = 0
        self.largest_batch = 0
        self.fail_items: dict[str, int] = {}
        self.add_route("POST", "/v2/recordings/changes", "metadata", self.changes)
        self.add_route("GET", r"/v2/recordings/(?P<rec_id>.+)", "children", self.recording)
        self.add_route("POST", "/v2/media/batch", "batch", self.batch)

    def add_workspace(self, workspace: Workspace) -> Workspace:
        """Serve a workspace and its API client."""
        self.workspaces[workspace.name] = workspace
        self.tokens.add_client(workspace.client_id, workspace.client_secret, subject=workspace.name)
        return workspace

    def rate_limit_key(self, request: Request) -> str:
        """Limits are per API client: the workspace its token is for."""
        if request.bearer is None:
            return "token-route"
        try:
            return self.tokens.check(request)
        except EmulatorError:
            return "unknown"

    def _workspace(self, request: Request) -> Workspace:
        return self.workspaces[self.tokens.check(request)]

    def changes(self, request: Request) -> Response:
        """POST /v2/recordings/changes: the snapshot, or the changes since a sync token."""
        workspace = self._workspace(request)
        body = request.json()
        if not isinstance(body, dict):
            return error(400, "invalid_request", "The body must be a JSON object.")
        limit = body.get("limit", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            return error(400, "invalid_request", "Invalid limit: 1 to 200.")
        if body.get("cursor") is not None:
            try:
                mode, generation, after = json.loads(read_cursor(body["cursor"]))
            except (ValueError, TypeError):  # not base64, not JSON, not three values
                return error(400, "invalid_cursor", "The cursor was not issued to this workspace.")
            if generation < workspace.generation:
                return (error(410, "sync_token_expired", "The sync token expired.") if mode == "changes"
                        else error(400, "cursor_expired", "The cursor is more than one hour old."))
        elif body.get("sync_token") is not None:
            try:
                generation, after = json.loads(read_cursor(body["sync_token"]))
            except (ValueError, TypeError):
                return error(400, "invalid_sync_token", "The sync token is not valid.")
            if generation < workspace.generation:
                return error(410, "sync_token_expired", "The sync token expired.")
            mode = "changes"
        else:
            mode, after = "snapshot", 0
        rows = sorted((rec for rec in workspace.recs
                       if rec.seq > after and not (mode == "snapshot" and rec.deleted)),
                      key=lambda rec: rec.seq)
        self.pages_served += 1
        if self.pages_served % 4 == 0 and rows:  # "a page may hold none while more follow"
            page = []
            cursor: str | None = opaque_cursor(json.dumps([mode, workspace.generation, after]))
        else:
            page = rows[:min(limit, self.page_size_cap)]
            cursor = (opaque_cursor(json.dumps([mode, workspace.generation, page[-1].seq]))
                      if len(rows) > len(page) else None)
        token = None if cursor else opaque_cursor(json.dumps([workspace.generation, workspace.seq]))
        return Response.json({"recordings": [rec.item(workspace.timezone) for rec in page],
                              "next_cursor": cursor, "next_sync_token": token})

    def recording(self, request: Request, rec_id: str) -> Response:
        """GET /v2/recordings/{id}: the recording with its current segments."""
        workspace = self._workspace(request)
        rec = workspace.find(rec_id)
        if rec is None:
            return error(404, "not_found", "No such recording in this workspace.")
        if rec.deleted:
            return error(404, "recording_deleted", "The recording was deleted.")
        return Response.json(rec.item(workspace.timezone))

    def batch(self, request: Request) -> Response:
        """POST /v2/media/batch: one item per segment id, each on its own."""
        workspace = self._workspace(request)
        body = request.json()
        ids = list(dict.fromkeys(body.get("ids") or [])) if isinstance(body, dict) else []
        if not ids or not all(isinstance(one, str) for one in ids):
            return error(400, "invalid_request", "ids: 1 to 50 segment ids.")
        if len(ids) > BATCH_LIMIT:
            return error(400, "too_many_ids", "At most 50 ids.", max_ids=BATCH_LIMIT)
        self.largest_batch = max(self.largest_batch, len(ids))
        items = [self._item(workspace, segment_id) for segment_id in ids]
        waits = [item["retry_after"] for item in items if item.get("status") == "pending"]
        if len(waits) == len(items):
            return Response.json({"items": items}, 202, {"Retry-After": str(min(waits))})
        return Response.json({"items": items})

    def _item(self, workspace: Workspace, segment_id: str) -> dict[str, Any]:
        found = workspace.find_segment(segment_id)
        if found is None:
            return {"id": segment_id, "error": "not_found"}
        rec, segment = found
        if rec.deleted:
            return {"id": segment_id, "error": "recording_deleted"}
        if segment.purged:
            return {"id": segment_id, "error": "media_purged"}
        if segment.status == "failed":
            return {"id": segment_id, "error": "segment_failed"}
        if segment.status == "processing":
            return {"id": segment_id, "status": "pending", "retry_after": PROCESSING_RETRY_AFTER}
        if segment.ready_at > time.time():
            wait = max(1, math.ceil(segment.ready_at - time.time()))
            return {"id": segment_id, "status": "pending", "retry_after": wait}
        if self.fail_items.get(workspace.name, 0) > 0:
            self.fail_items[workspace.name] -= 1
            return {"id": segment_id, "error": "temporarily_unavailable"}
        answer = audio_answer(f"{workspace.name}/{segment_id}", segment.seconds, fmt="wav",
                              fault=segment.fault, channels=segment.channels)
        name = hashlib.sha256(f"{workspace.name}\n{segment_id}".encode()).hexdigest()[:24]
        url = self.media.sign(name, answer)
        size = answer.content_length()
        return {"id": segment_id, "status": "ready", "url": url,
                "expires_ms": int((time.time() + 30) * 1000), "size_bytes": size}
