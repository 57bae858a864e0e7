"""An emulator of one Xima CCaaS tenant's API, built from the vendor's pages, for tests and the demo.

Each Xima tenant has its own host, so each emulated tenant is its own server (one port each).
What it follows (xima-collecting-recordings, NOTES.md):
- `Authorization: Bearer <service user token>`; anything else answers 401. `revoke_token()` does
  what pressing Refresh in the portal does: a new token, the old one refused from then on;
- `GET /rest/api/v2/recordings` and `GET /rest/api/v2/call-recording-info` with `startTime` and
  `endTime` in ISO 8601 *with an offset* (a missing offset, or a `+` that arrived as a space because
  it was not URL-encoded, answers 400); both ends inclusive; calls are selected by the call's start,
  recordings by their own; a bare JSON array, or an object wrapping it under `wrap`;
- `GET /rest/api/v2/recordings/{tenant-name}/{recording-key}/audio`: real Ogg Opus, 8 kHz mono,
  unique per recording, `size` bytes; a `format` parameter answers 400 (CCaaS has none); a wrong
  tenant name or an unknown key 404; a recording not yet SAVED 404; `deny()`-ed ones 403;
- the sliding-window limit: more than `rate_limit[0]` requests in `rate_limit[1]` seconds answers
  429 with Retry-After (3 in 10 s documented; scale it down for tests);
- the rolling egress cap: audio that would take the bytes served within `egress_window` seconds
  past `egress_cap` answers 509 Bandwidth Limit Exceeded;
- a recording left out of listings (`hide(key, times)`: the next `times` listings that hold it leave it
  out, as a transient listing error would), so a second listing of its day finds it;
- late arrivals (`add_late_recording`: a recording saved after its window was listed), 202 "report
  timed out, cached, retry later" (`pending_reports`), a failing window (`failing_at`), bad audio
  (`audio_faults`), and every fault of `collector.emulator.FaultPlan`.
"""

from __future__ import annotations

import collections
import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.emulator import EmulatorError, EmulatorServer, Request, Response, truncated

from . import _emudata

DOCUMENTED_RATE_LIMIT = (3, 10.0)
FIVE_DAYS = 5 * 86_400.0
AUDIO_FAULTS = ("html", "truncated", "duration", "wav", "wideband", "missing")
"""Per-recording audio faults: an HTML page, a cut-off file, audio three times too long, WAV instead
of Opus, 16 kHz Opus instead of 8 kHz, and a 404."""


@dataclass
class XimaTenant:
    """One emulated Xima tenant: its name, token, data and limits."""

    name: str
    token: str
    recordings: int = 12
    anchor: datetime | None = None
    """Where the newest generated call starts (default: ten minutes before the emulator starts)."""
    span: timedelta = timedelta(hours=5)
    wrap: str | None = None
    """None: bare JSON arrays; else the key of an object wrapping the list (e.g. "data")."""
    egress_cap: int | None = None
    egress_window: float = FIVE_DAYS
    audio_faults: dict[str, str] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)


class XimaEmulator(EmulatorServer):
    """One Xima tenant's host."""

    def __init__(self, tenant: XimaTenant, *, rate_limit: tuple[int, float] | None = DOCUMENTED_RATE_LIMIT,
                 retry_after_style: str = "seconds", seed: int = 0) -> None:
        super().__init__(rate_limit=rate_limit, retry_after_style=retry_after_style, seed=seed)
        self.tenant = tenant
        self.issued = [tenant.token]
        anchor = tenant.anchor or datetime.now(UTC) - timedelta(minutes=10)
        self.calls: list[dict[str, Any]] = _emudata.generate(tenant.name, tenant.recordings, anchor, tenant.span)
        self.extras: list[tuple[int, Any]] = []
        self.seeds = {r["recordingKey"]: _emudata.audio_seed(tenant.name, i)
                      for i, r in enumerate(r for c in self.calls for r in c["recordings"])}
        self.pending_reports = 0
        self.failing_at: datetime | None = None
        self.requested: list[tuple[str, str]] = []
        self.hidden: dict[str, int] = {}
        """recordingKey -> how many more listings leave it out."""
        self.egress_served = 0
        self._egress: collections.deque[tuple[float, int]] = collections.deque()
        self._data_lock = threading.RLock()
        self.add_route("GET", "/rest/api/v2/recordings", "metadata", self.list_recordings)
        self.add_route("GET", "/rest/api/v2/call-recording-info", "metadata", self.list_calls)
        self.add_route("GET", r"/rest/api/v2/recordings/(?P<tenant_name>[^/]+)/(?P<key>.+)/audio", "audio",
                       self.audio)

    # -- test controls -----------------------------------------------------------------------------

    def recording_items(self) -> list[dict[str, Any]]:
        """Every generated or added recording (not the explicit extras), call by call."""
        with self._data_lock:
            return [dict(r) for c in self.calls for r in c["recordings"]]

    def audio_bytes(self, key: str) -> bytes:
        """The audio the emulator serves for recording `key` (for auditing a store byte for byte)."""
        item = self._find(key)
        assert item is not None, f"no recording {key}"
        return self._audio_body(key, item, self.tenant.audio_faults.get(key))[0]

    def add_recordings(self, count: int, *, at: datetime | None = None) -> list[str]:
        """New calls with one recording each, starting at `at` (default: a minute ago)."""
        moment = at or datetime.now(UTC) - timedelta(minutes=1)
        return [self.add_late_recording(moment + timedelta(seconds=i)) for i in range(count)]

    def add_late_recording(self, start: datetime, *, call_key: str | None = None) -> str:
        """A recording that starts at `start` but is only saved now (in a new call, or in `call_key`'s)."""
        with self._data_lock:
            index = len(self.seeds) + 10_000
            target = next((c for c in self.calls if c["callKey"] == call_key), None)
            if target is None:
                target = _emudata.call(self.tenant.name, len(self.calls) + 10_000, start - timedelta(seconds=1))
                self.calls.append(target)
            item = _emudata.recording(self.tenant.name, index, start, target["callKey"], agent_slot=index)
            _emudata.add_to_call(target, item)
            self.seeds[item["recordingKey"]] = _emudata.audio_seed(self.tenant.name, index)
        return str(item["recordingKey"])

    def add_item(self, item: Any, *, at: datetime | None = None) -> None:
        """List an explicit (possibly malformed) item in every window covering `at` (default: 30 min ago)."""
        when = at or (datetime.now(UTC) - timedelta(minutes=30))
        with self._data_lock:
            self.extras.append((_emudata.epoch_ms(when), item))
            for entry in _listed_recordings(item):
                if isinstance(entry.get("recordingKey"), str):
                    self.seeds.setdefault(entry["recordingKey"], f"xima:{self.tenant.name}:{entry['recordingKey']}")

    def hide(self, key: str, times: int = 1) -> None:
        """Leave recording `key` out of the next `times` listings that would hold it."""
        with self._data_lock:
            self.hidden[key] = times

    def set_status(self, key: str, status: str) -> None:
        """Change a recording's `status` (e.g. PROCESSING, then SAVED)."""
        with self._data_lock:
            for entry in self.calls:
                for item in entry["recordings"]:
                    if item["recordingKey"] == key:
                        item["status"] = status

    def revoke_token(self) -> str:
        """Issue a new token and refuse the old one (what Refresh in the portal does)."""
        self.tenant.token = f"{self.tenant.token}-refreshed-{len(self.issued)}"
        self.issued.append(self.tenant.token)
        return self.tenant.token

    def reset_egress(self) -> None:
        """Forget the rolling egress total (what Xima Support does after a review)."""
        with self._data_lock:
            self._egress.clear()

    def egress_in_window(self) -> int:
        """Audio bytes served within the rolling egress window."""
        with self._data_lock:
            self._expire_egress(time.monotonic())
            return sum(size for _, size in self._egress)

    # -- routes ------------------------------------------------------------------------------------

    def list_recordings(self, request: Request) -> Response:
        """Recordings whose own startTime lies in the window."""
        low, high = self._window(request)
        with self._data_lock:
            items: list[Any] = [dict(r) for c in self.calls for r in c["recordings"] if low <= r["startTime"] <= high]
            items += [item for at, item in self.extras if low <= at <= high]
        return self._list_answer(items)

    def list_calls(self, request: Request) -> Response:
        """Calls (with all their recordings) whose startTime lies in the window."""
        low, high = self._window(request)
        with self._data_lock:
            items: list[Any] = [{**c, "recordings": [dict(r) for r in c["recordings"]]}
                                for c in self.calls if low <= c["startTime"] <= high]
            items += [item for at, item in self.extras if low <= at <= high]
        return self._list_answer(items)

    def audio(self, request: Request, tenant_name: str, key: str) -> Response:
        """One recording's audio, within the egress cap."""
        self._authorize(request)
        if "format" in request.query:
            raise EmulatorError(400, "Bad Request: an invalid format was provided.")
        item = self._find(key) if tenant_name == self.tenant.name else None
        fault = self.tenant.audio_faults.get(key)
        if item is None or fault == "missing" or str(item.get("status", "SAVED")).upper() != "SAVED":
            raise EmulatorError(404, "Not Found: an invalid recording key was provided.")
        if key in self.tenant.denied:
            raise EmulatorError(403, "Forbidden: the user doesn't have Xima access to the recording.")
        body, content_type = self._audio_body(key, item, fault)
        self._charge(len(body))
        return Response(200, body, content_type)

    # -- helpers -----------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        token = request.bearer
        if token is None or not hmac.compare_digest(token, self.tenant.token):
            raise EmulatorError(401, "Unauthorized: the authorization header wasn't valid.")

    def _window(self, request: Request) -> tuple[int, int]:
        self._authorize(request)
        bounds = []
        for name in ("startTime", "endTime"):
            text = request.query.get(name)
            if text is None:
                raise EmulatorError(400, f"Bad Request: {name} is required.")
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise EmulatorError(400, f"Bad Request: {name} is not an ISO 8601 date-time: {text!r}.") from None
            if moment.tzinfo is None:
                raise EmulatorError(400, f"Bad Request: {name} has no offset: {text!r}.")
            bounds.append(moment)
        if bounds[1] < bounds[0]:
            raise EmulatorError(400, "Bad Request: endTime is before startTime.")
        with self._data_lock:
            self.requested.append((request.query["startTime"], request.query["endTime"]))
            if self.failing_at is not None and bounds[0] <= self.failing_at <= bounds[1]:
                raise EmulatorError(503, "Service Unavailable: the report failed.")
            if self.pending_reports > 0:
                self.pending_reports -= 1
                raise EmulatorError(202, "The report timed out; it is being cached, retry later.")
        return _emudata.epoch_ms(bounds[0]), _emudata.epoch_ms(bounds[1])

    def _list_answer(self, items: list[Any]) -> Response:
        with self._data_lock:
            left_out = {key for item in items for entry in _listed_recordings(item)
                        if self.hidden.get(key := str(entry.get("recordingKey")), 0) > 0}
            for key in left_out:
                self.hidden[key] -= 1
        if left_out:
            items = [item for item in items if not isinstance(item, dict) or item.get("recordingKey") not in left_out]
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("recordings"), list):
                    item["recordings"] = [r for r in item["recordings"] if r.get("recordingKey") not in left_out]
        return Response.json(items if self.tenant.wrap is None else {self.tenant.wrap: items, "count": len(items)})

    def _find(self, key: str) -> dict[str, Any] | None:
        with self._data_lock:
            for entry in self.calls:
                for item in entry["recordings"]:
                    if item["recordingKey"] == key:
                        return dict(item)
            for _, extra in self.extras:
                for item in _listed_recordings(extra):
                    if item.get("recordingKey") == key:
                        return dict(item)
        return None

    def _audio_body(self, key: str, item: dict[str, Any], fault: str | None) -> tuple[bytes, str]:
        seed = self.seeds.get(key, f"xima:{self.tenant.name}:{key}")
        length = int(item.get("duration") or 1000)
        if fault == "html":
            return b"<!DOCTYPE html><html><body>Your session has expired.</body></html>", "text/html; charset=utf-8"
        if fault == "wav":
            return _emudata.wav_audio(seed, length), "audio/wav"
        if fault == "wideband":
            return _emudata.opus_audio(seed, length, 16000), _emudata.OPUS_CONTENT_TYPE
        data = _emudata.opus_audio(seed, length * 3 if fault == "duration" else length)
        return (truncated(data) if fault == "truncated" else data), _emudata.OPUS_CONTENT_TYPE

    def _charge(self, size: int) -> None:
        cap = self.tenant.egress_cap
        now = time.monotonic()
        with self._data_lock:
            self._expire_egress(now)
            used = sum(n for _, n in self._egress)
            if cap is not None and used + size > cap:
                raise EmulatorError(509, "Bandwidth Limit Exceeded: the 5-day rolling allotment is used up.")
            self._egress.append((now, size))
            self.egress_served += size

    def _expire_egress(self, now: float) -> None:
        while self._egress and now - self._egress[0][0] >= self.tenant.egress_window:
            self._egress.popleft()


def _listed_recordings(item: Any) -> list[dict[str, Any]]:
    """The recording objects an explicit item lists: itself, or a call's recordings."""
    if not isinstance(item, dict):
        return []
    listed = item.get("recordings")
    entries: list[Any] = listed if isinstance(listed, list) else [item]
    return [entry for entry in entries if isinstance(entry, dict)]
