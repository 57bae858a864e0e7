"""Heron Cloud Voice, a fictional call-recording vendor: a real HTTP server that implements
docs/heron-api.md, written from that page alone.

It is independent of recording-collector on purpose (standard library only: nothing under
`collector/` is imported or was consulted), so that a plugin written from the documentation is
tested against the vendor, not against the project's own idea of the vendor.

Two listeners on 127.0.0.1 with ephemeral ports, each served by a thread:

- the API host (`HeronServer.url`): `POST /oauth/token`, `POST /v2/recordings/changes`,
  `GET /v2/recordings/{id}`, `POST /v2/media/batch`;
- the media host (`HeronServer.media_url`), another origin as Heron's CDN is: `GET /o/{segment}.wav`
  with a signature that expires.

Use it as a context manager::

    with HeronServer(seed=1) as heron:
        north = heron.tenants["north"]           # workspace_id, client_id, client_secret, timezone
        ... httpx against heron.url ...
        heron.add_arrivals(3, back_dated_days=4)  # controls: arrivals, settle, delete, expire, ...
        assert heron.rate_limited == 0            # introspection: the log, 429s, windows, downloads

or run it by hand: `python tests/heron/heron_server.py --port 8080` (prints the credentials).

Two clocks: rate-limit windows follow the real clock (`time.time()`), because the client's limiter
does too; everything else (token, cursor, sync-token and URL lifetimes, settling, media readiness,
the data's own times) follows the *business clock*, the real clock plus what `advance()` added.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import io
import json
import math
import random
import secrets
import sys
import threading
import time
import traceback
import wave
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

DAY = 86400.0
SAMPLE_RATE = 8000
PROCESSING_RETRY_AFTER = 300          # what the batch tells for a segment still processing
MAX_LIMIT = 200                       # largest `limit` of a changes page
DEFAULT_LIMIT = 50

# The seeded workspaces: (name, display name, time zone, country calling prefix, e-mail domain).
WORKSPACES = (
    ("north", "Northwind Retail GmbH", "Europe/Berlin", "+49 30 5550", "northwind.example"),
    ("south", "Southpaw Insurance LLC", "America/Chicago", "+1 312 555", "southpaw.example"),
)
QUEUES = ("Billing", "Claims", "Sales", "Support", "Returns")
AGENTS = ("Ada Reyes", "Bo Lindqvist", "Chen Wei", "Dana Okafor", "Eli Moreau", "Femi Adeyemi", "Gus Novak")


@dataclass(frozen=True)
class Tenant:
    """One Heron workspace and the API client that collects it."""

    name: str             # the seed's short name ("north", "south")
    workspace_id: str
    display_name: str
    client_id: str
    client_secret: str
    timezone: str         # IANA name, as in each recording's `timezone`


@dataclass
class Segment:
    """One piece of a recording's audio (recording paused or transferred between pieces)."""

    id: str
    index: int
    channels: int
    audio_seconds: float          # the length of its audio
    offset_seconds: int           # from the start of the call
    will_fail: bool = False       # processing ends in `failed` (no media, ever)
    status: str = "processing"    # processing | ready | failed
    ready_at: float | None = None     # business clock: when it became ready
    media_at: float | None = None     # business clock: when its media can be downloaded
    purged: bool = False              # media removed by retention


@dataclass
class Rec:
    """A recording of one call, as Heron keeps it."""

    id: str
    tenant: str
    ordinal: int                  # storage order (the snapshot's order)
    started: datetime             # UTC
    duration: int                 # the call's length, whole seconds
    direction: str
    caller: str
    callee: str
    agent: str
    agent_email: str
    queue: str
    created: float                # business clock: when Heron stored it
    updated: float
    last_seq: int                 # the workspace's change sequence at its last change
    segments: list[Segment]       # attached (listed)
    unattached: list[Segment]     # still to be attached (not listed yet)
    settled: bool
    settle_at: float | None       # business clock: settles by itself then (None: only by settle())
    deadline: float               # business clock: settled whatever happens by then
    tags: list[str] = field(default_factory=list)
    deleted: float | None = None


@dataclass(frozen=True)
class LoggedRequest:
    """One request either host answered."""

    at: float                 # real clock
    host: str                 # "api" or "media"
    method: str
    path: str                 # without the query string
    tenant: str | None        # the tenant's short name, once the request is identified
    status: int
    code: str | None          # the error code answered (Heron's, or RFC 6749's on the token route)
    body: Any                 # the JSON request body (API routes), None otherwise


@dataclass
class _Window:
    start: int = -1       # whole epoch second the window began
    admitted: int = 0
    seen: int = 0


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    code: str | None = None
    tenant: str | None = None
    download: str | None = None   # a segment id: counted as a download once the body is sent


class _Stop(Exception):
    """A route's early answer."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _wav_size(segment: Segment) -> int:
    """What `synth_wav` makes for the segment: a 44-byte header and 16-bit samples."""
    return 44 + 2 * segment.channels * round(segment.audio_seconds * SAMPLE_RATE)


def _ms(epoch: float) -> int:
    return round(epoch * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
           extra: dict[str, Any] | None = None) -> _Answer:
    """Heron's error format: {"error": {"code", "message", ...}}."""
    body: dict[str, Any] = {"code": code, "message": message, **(extra or {})}
    return _Answer(status, _json_bytes({"error": body}), {"Content-Type": "application/json; charset=utf-8",
                                                          **(headers or {})}, code=code)


def _oauth_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> _Answer:
    """The token route answers errors as RFC 6749 5.2 says, not in Heron's format."""
    return _Answer(status, _json_bytes({"error": code, "error_description": description}),
                   {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
                    **(headers or {})}, code=code)


def _ok(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, _json_bytes(value), {"Content-Type": "application/json; charset=utf-8",
                                                **(headers or {})})


# ---------------------------------------------------------------------------------------------
# Audio: speech-like bursts of tones, 16-bit PCM WAV, deterministic from the segment id.

@lru_cache(maxsize=256)
def _burst(freq: int, amp: int, length: int) -> array[int]:
    """One "syllable": a tone with 10 ms ramps at both ends (no clicks)."""
    ramp = SAMPLE_RATE // 100
    out = array("h", bytes(2 * length))
    step = 2 * math.pi * freq / SAMPLE_RATE
    for i in range(length):
        gain = min(1.0, i / ramp, (length - 1 - i) / ramp)
        # a fundamental and a weaker second harmonic: closer to a voice than a pure tone
        out[i] = int(amp * gain * (0.8 * math.sin(step * i) + 0.2 * math.sin(2 * step * i)))
    return out


def _voice(rng: random.Random, samples: int, talk: float) -> array[int]:
    """A channel of `samples` samples: bursts and pauses, talking about `talk` of the time."""
    out = array("h")
    base = rng.choice((110, 130, 180, 210, 240))
    while len(out) < samples:
        length = rng.choice((400, 800, 1200, 1600))
        if rng.random() < talk:
            out.extend(_burst(base + rng.choice((0, 20, 40, 60)), rng.choice((5000, 8000, 11000)), length))
        else:
            out.extend(array("h", bytes(2 * length)))
    del out[samples:]
    return out


@lru_cache(maxsize=512)
def synth_wav(seed: str, seconds: float, channels: int) -> bytes:
    """A WAV file (RIFF, PCM 16-bit, 8000 Hz) of `seconds` seconds, the same for the same seed."""
    rng = random.Random(seed)
    samples = round(seconds * SAMPLE_RATE)
    if channels == 1:
        pcm = _voice(rng, samples, 0.7)
    else:   # caller left, agent right, mostly taking turns
        pcm = array("h", bytes(2 * samples * channels))
        for channel in range(channels):
            pcm[channel::channels] = _voice(rng, samples, 0.45)
    if sys.byteorder == "big":
        pcm.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The server.

class HeronServer:
    """Heron's API host and media host, with the controls and introspection tests need.

    Parameters (seconds unless said otherwise; all lifetimes on the business clock):

    - `seed`, `recordings` (per tenant), `anchor` (the newest seeded recording's time, default
      now): the seeded data; the same seed gives the same ids, metadata and audio (an anchor more
      than 7 days ago leaves the seeded open recordings past their deadline: they settle with
      failed segments at the first request);
    - `token_ttl` (60): access token lifetime; `sync_token_ttl` (7 days); `cursor_ttl` (1 hour);
      `url_ttl` (30): signed media URLs;
    - `rate_limit` (5): API requests per client per one-second window (None: unlimited);
      `token_rate_limit` (20): token requests per client per minute;
    - `settle_after` (600): a recording that is not settled settles by itself this long after it
      arrived (None: only `settle()` or the deadline settles it); `settle_deadline` (7 days after
      arrival, then processing segments fail); `media_delay` (20): how long a segment's media
      stays "pending" after the segment became ready;
    - `batch_limit` (50): ids per media batch.
    """

    def __init__(self, *, seed: int = 1, recordings: int = 60, anchor: datetime | None = None,
                 host: str = "127.0.0.1", port: int = 0, media_port: int = 0,
                 token_ttl: float = 60, sync_token_ttl: float = 7 * DAY, cursor_ttl: float = 3600,
                 url_ttl: float = 30, rate_limit: int | None = 5, token_rate_limit: int | None = 20,
                 settle_after: float | None = 600, settle_deadline: float = 7 * DAY,
                 media_delay: float = 20, batch_limit: int = 50) -> None:
        self.seed = seed
        self.token_ttl = token_ttl
        self.sync_token_ttl = sync_token_ttl
        self.cursor_ttl = cursor_ttl
        self.url_ttl = url_ttl
        self.rate_limit = rate_limit
        self.token_rate_limit = token_rate_limit
        self.settle_after = settle_after
        self.settle_deadline = settle_deadline
        self.media_delay = media_delay
        self.batch_limit = batch_limit
        self._host, self._port, self._media_port = host, port, media_port
        self._lock = threading.RLock()
        self._offset = 0.0
        self._key = hashlib.sha256(f"heron-signing-key:{seed}".encode()).digest()
        self._rngs: dict[str, random.Random] = {}

        self.tenants: dict[str, Tenant] = {}
        self._by_client: dict[str, Tenant] = {}
        self._recs: dict[str, dict[str, Rec]] = {}        # tenant -> id -> recording, in ordinal order
        self._segments: dict[str, tuple[Rec, Segment]] = {}
        self._seq: dict[str, int] = {}
        self._sync_epoch: dict[str, int] = {}
        self._suspended: set[str] = set()
        self._feed_busy: dict[str, int] = {}
        self._tokens: dict[str, tuple[str, float, frozenset[str]]] = {}   # token -> (tenant, expires, scopes)
        self._urls: dict[str, tuple[str, float, str]] = {}    # signature -> (segment, expires, X-Heron-Expires)
        self._windows: dict[str, _Window] = {}
        self._token_times: dict[str, list[float]] = {}
        self._fail_next: list[int] = []
        self._fail_items: list[str] = []

        # introspection
        self.log: list[LoggedRequest] = []
        self.rate_limited = 0                    # 429s the API host answered (rate limit)
        self.token_requests: Counter[str] = Counter()
        self.token_refusals = 0                  # token requests refused (any reason)
        self.expired_token_requests = 0          # API requests that came with an expired token
        self.max_window: Counter[str] = Counter()   # per tenant: most requests seen in one window
        self.batch_sizes: list[int] = []         # ids in each media batch answered 200/202
        self.downloads: Counter[str] = Counter()    # segment id -> complete downloads
        self.media_with_authorization = 0        # media requests that carried an Authorization header

        now = self._now()
        anchor_ts = anchor.timestamp() if anchor is not None else now
        for name, display, zone, _prefix, _domain in WORKSPACES:
            digest = hashlib.sha256(f"heron:{seed}:{name}".encode()).hexdigest()
            tenant = Tenant(name=name, workspace_id=f"wsp_{digest[:10]}", display_name=display,
                            client_id=f"hrn_cli_{digest[10:26]}", client_secret=f"hrs_{digest[26:58]}",
                            timezone=zone)
            self.tenants[name] = tenant
            self._by_client[tenant.client_id] = tenant
            self._recs[name] = {}
            self._seq[name] = 0
            self._sync_epoch[name] = 0
            self._windows[name] = _Window()
            self._rngs[name] = random.Random(f"heron:{seed}:{name}:data")
            self._seed(name, recordings, anchor_ts, now)

        self._api: ThreadingHTTPServer | None = None
        self._media: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> HeronServer:
        self._api = _Listener((self._host, self._port), self, "api")
        self._media = _Listener((self._host, self._media_port), self, "media")
        for server in (self._api, self._media):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"heron-{server.kind}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        for server in (self._api, self._media):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> HeronServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The API host's base URL (paths start with /oauth or /v2)."""
        assert self._api is not None, "start the server first"
        return f"http://{self._host}:{self._api.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def media_url(self) -> str:
        """The media host's base URL (another origin: its port differs)."""
        assert self._media is not None, "start the server first"
        return f"http://{self._host}:{self._media.server_address[1]}"

    # --- clocks --------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime:
        """The business clock."""
        return datetime.fromtimestamp(self._now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the business clock forward: tokens, cursors, sync tokens and URLs age, recordings
        settle, media becomes ready. Rate-limit windows keep the real clock."""
        with self._lock:
            self._offset += seconds
            self._tick()

    # --- data ----------------------------------------------------------------------------------

    def _hex(self, tenant: str, digits: int = 16) -> str:
        return f"{self._rngs[tenant].getrandbits(4 * digits):0{digits}x}"

    def _seed(self, tenant: str, count: int, anchor: float, now: float) -> None:
        rng = self._rngs[tenant]
        span = 30 * DAY
        fresh = min(4, count)                 # the newest few are not settled yet
        for i in range(count):
            if i >= count - fresh:
                created = anchor - (count - i) * 240.0 - rng.uniform(0, 60)
            else:
                created = anchor - span + i * (span - 3600) / max(1, count - fresh) + rng.uniform(0, 600)
            back_dated = (i % 12 == 5) * rng.uniform(2, 20) * DAY   # imported from a PBX, days later
            stage = (count - 1 - i) % 4 if i >= count - fresh else None
            # stage 0: no segments listed yet; 1 and 3: processing; 2: the first ready, the second not
            rec = self._new_recording(tenant, created=created, back_dated=back_dated,
                                      segments=2 if stage == 2 else None)
            if stage is not None:
                if stage == 0:
                    rec.unattached, rec.segments = rec.segments, []
                if stage == 2:
                    first = rec.segments[0]
                    first.status, first.will_fail = "ready", False
                    first.ready_at, first.media_at = created + 60, created + 60 + self.media_delay
                rec.settle_at = None if self.settle_after is None else now + self.settle_after
            else:
                self._settle(rec, at=created + rng.uniform(30, 900), media_delay=self.media_delay)
            if i in (0, 1):            # the oldest two: media removed by the retention policy
                for segment in rec.segments:
                    segment.purged = True

    def _new_segment(self, tenant: str, rec: Rec, index: int) -> Segment:
        rng = self._rngs[tenant]
        channels = 2 if rng.random() < 0.25 else 1
        audio = round(rng.uniform(1.5, 4.0), 1)
        previous = rec.segments[-1] if rec.segments else None
        offset = 0 if previous is None else math.ceil(previous.offset_seconds + previous.audio_seconds
                                                      + rng.uniform(0.5, 3))
        segment = Segment(id=f"seg_{self._hex(tenant)}", index=index, channels=channels, audio_seconds=audio,
                          offset_seconds=offset, will_fail=rng.random() < 0.04)
        rec.duration = max(rec.duration, math.ceil(offset + audio + rng.choice((0, 0, 0.4, 1.5))))
        self._segments[segment.id] = (rec, segment)
        return segment

    def _new_recording(self, tenant: str, *, created: float, back_dated: float = 0.0,
                       segments: int | None = None) -> Rec:
        rng = self._rngs[tenant]
        _name, _display, _zone, prefix, domain = next(w for w in WORKSPACES if w[0] == tenant)
        direction = rng.choice(("inbound", "inbound", "outbound"))
        customer = f"{prefix.replace(' ', '')}{rng.randrange(100, 199):03d}"
        line = f"{prefix.replace(' ', '')}{rng.randrange(0, 99):03d}"
        agent = rng.choice(AGENTS)
        self._seq[tenant] += 1
        rec = Rec(id=f"rec_{self._hex(tenant)}", tenant=tenant, ordinal=len(self._recs[tenant]) + 1,
                  started=datetime.fromtimestamp(0, UTC), duration=0, direction=direction,
                  caller=customer if direction == "inbound" else line,
                  callee=line if direction == "inbound" else customer,
                  agent=agent, agent_email=f"{agent.split()[0].lower()}@{domain}", queue=rng.choice(QUEUES),
                  created=created, updated=created, last_seq=self._seq[tenant], segments=[], unattached=[],
                  settled=False, settle_at=None, deadline=created + self.settle_deadline)
        count = segments if segments is not None else rng.choices((1, 2, 3), (70, 20, 10))[0]
        for index in range(count):
            rec.segments.append(self._new_segment(tenant, rec, index))
        ended = created - rng.uniform(5, 90) - back_dated
        rec.started = datetime.fromtimestamp(round(ended - rec.duration), UTC)
        self._recs[tenant][rec.id] = rec
        return rec

    def _settle(self, rec: Rec, *, at: float, media_delay: float | None = None, expire: bool = False) -> None:
        """Attach what is left and finish every segment; `expire` (the deadline): unfinished ones fail."""
        delay = self.media_delay if media_delay is None else media_delay
        rec.segments.extend(rec.unattached)
        rec.unattached = []
        for segment in rec.segments:
            if segment.status != "processing":
                continue
            if segment.will_fail or expire:
                segment.status = "failed"
            else:
                segment.status, segment.ready_at, segment.media_at = "ready", at, at + delay
        rec.settled, rec.settle_at = True, None

    def _tick(self) -> None:
        """Settle what is due (call with the lock held)."""
        now = self._now()
        for recs in self._recs.values():
            for rec in recs.values():
                if rec.settled or rec.deleted is not None:
                    continue
                if rec.settle_at is not None and rec.settle_at <= now and rec.settle_at < rec.deadline:
                    self._settle(rec, at=rec.settle_at)
                elif rec.deadline <= now:
                    self._settle(rec, at=rec.deadline, expire=True)

    def _change(self, rec: Rec) -> None:
        self._seq[rec.tenant] += 1
        rec.last_seq = self._seq[rec.tenant]

    def _public(self, rec: Rec) -> dict[str, Any]:
        """A recording as the API shows it."""
        if rec.deleted is not None:
            return {"id": rec.id, "deleted": True, "deleted_ms": _ms(rec.deleted)}
        zone = self.tenants[rec.tenant].timezone
        segments = []
        for s in rec.segments:
            item: dict[str, Any] = {"id": s.id, "index": s.index, "status": s.status, "channels": s.channels,
                                    "offset_seconds": s.offset_seconds}
            if s.ready_at is not None:
                item["ready_ms"] = _ms(s.ready_at)
            segments.append(item)
        return {
            "id": rec.id,
            "workspace_id": self.tenants[rec.tenant].workspace_id,
            "timezone": zone,
            "started_at": format_datetime(rec.started.astimezone(ZoneInfo(zone))),
            "duration_seconds": rec.duration,
            "direction": rec.direction,
            "from": rec.caller,
            "to": rec.callee,
            "agent": {"name": rec.agent, "email": rec.agent_email},
            "queue": rec.queue,
            "tags": list(rec.tags),
            "created_ms": _ms(rec.created),
            "updated_ms": _ms(rec.updated),
            "settled": rec.settled,
            "segments": segments,
        }

    def _find(self, recording_id: str) -> Rec:
        for recs in self._recs.values():
            if recording_id in recs:
                return recs[recording_id]
        raise KeyError(f"no recording {recording_id!r}")

    # --- controls for tests --------------------------------------------------------------------

    def add_arrivals(self, count: int = 1, *, tenant: str = "north", back_dated_days: float = 0.0,
                     settled: bool = True, attached: bool = True, segments: int | None = None,
                     media_delay: float | None = None) -> list[str]:
        """New recordings, stored now. `back_dated_days`: the call happened that long ago (an
        import, a site back online). `settled=False`: segments still processing (`attached=False`:
        not even listed yet), settled by `settle()`, `settle_after` or the deadline. `media_delay`:
        this arrival's media stays pending that long (default the server's)."""
        with self._lock:
            now = self._now()
            ids = []
            for _ in range(count):
                rec = self._new_recording(tenant, created=now, back_dated=back_dated_days * DAY, segments=segments)
                if settled:
                    self._settle(rec, at=now, media_delay=media_delay)
                else:
                    if not attached:
                        rec.unattached, rec.segments = rec.segments, []
                    rec.settle_at = None if self.settle_after is None else now + self.settle_after
                ids.append(rec.id)
            return ids

    def settle(self, recording_ids: Iterable[str] | None = None, *, tenant: str | None = None,
               count: int | None = None, media_delay: float | None = None) -> list[str]:
        """Attach and finish the segments of these recordings (default: every unsettled one of
        `tenant`, or of every tenant; `count`: only the oldest that many). Not a feed change."""
        with self._lock:
            self._tick()
            if recording_ids is not None:
                chosen = [self._find(i) for i in recording_ids]
            else:
                chosen = [rec for name, recs in self._recs.items() if tenant in (None, name)
                          for rec in recs.values() if not rec.settled and rec.deleted is None]
                chosen.sort(key=lambda rec: rec.created)
                chosen = chosen[:count] if count is not None else chosen
            now = self._now()
            for rec in chosen:
                if not rec.settled:
                    self._settle(rec, at=now, media_delay=media_delay)
            return [rec.id for rec in chosen]

    def attach(self, recording_id: str) -> None:
        """List a recording's remaining segments, still processing (not a feed change)."""
        with self._lock:
            rec = self._find(recording_id)
            rec.segments.extend(rec.unattached)
            rec.unattached = []

    def delete(self, recording_id: str) -> None:
        """The workspace deletes a recording: a feed change; its media is gone (404)."""
        with self._lock:
            rec = self._find(recording_id)
            if rec.deleted is None:
                rec.deleted = self._now()
                self._change(rec)

    def touch(self, recording_id: str, tag: str = "reviewed") -> None:
        """Someone tags the recording: its metadata changes (a feed change)."""
        with self._lock:
            rec = self._find(recording_id)
            rec.tags.append(tag)
            rec.updated = self._now()
            self._change(rec)

    def purge_media(self, recording_id: str) -> None:
        """Retention removes the recording's media; it stays listed (not a feed change)."""
        with self._lock:
            for segment in self._find(recording_id).segments + self._find(recording_id).unattached:
                segment.purged = True

    def expire_sync_tokens(self, tenant: str | None = None) -> None:
        """Every sync token issued so far (and the cursors of passes started from one) answers 410."""
        with self._lock:
            for name in self._sync_epoch:
                if tenant in (None, name):
                    self._sync_epoch[name] += 1

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self._lock:
            now = self._now()
            self._tokens = {t: (name, min(exp, now), scopes) for t, (name, exp, scopes) in self._tokens.items()}

    def expire_urls(self, count: int | None = None) -> int:
        """Signed URLs issued so far expire now (only the `count` newest still valid ones); returns
        how many were expired."""
        with self._lock:
            now = self._now()
            valid = [sig for sig, (_seg, exp, _stated) in self._urls.items() if exp > now]
            chosen = valid if count is None else valid[-count:] if count > 0 else []
            for sig in chosen:
                segment, _exp, stated = self._urls[sig]
                self._urls[sig] = (segment, now, stated)
            return len(chosen)

    def suspend(self, tenant: str, suspended: bool = True) -> None:
        """A suspended workspace: every API request answers HTTP 200 with error tenant_suspended."""
        with self._lock:
            (self._suspended.add if suspended else self._suspended.discard)(tenant)

    def feed_busy(self, count: int = 1, *, tenant: str = "north") -> None:
        """The next `count` changes requests of the tenant answer HTTP 200 with error feed_busy."""
        with self._lock:
            self._feed_busy[tenant] = self._feed_busy.get(tenant, 0) + count

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next `count` authenticated API requests answer `status` (503 unavailable, 500
        internal_error) before reaching their route."""
        with self._lock:
            self._fail_next.extend([status] * count)

    def fail_batch_items(self, count: int = 1, code: str = "temporarily_unavailable") -> None:
        """The next `count` batch items that would be ready answer this per-item error instead."""
        with self._lock:
            self._fail_items.extend([code] * count)

    # --- introspection -------------------------------------------------------------------------

    def requests(self, *, host: str | None = None, path: str | None = None,
                 tenant: str | None = None) -> list[LoggedRequest]:
        """The log, filtered (`path`: a prefix)."""
        with self._lock:
            return [r for r in self.log if (host is None or r.host == host)
                    and (path is None or r.path.startswith(path)) and (tenant is None or r.tenant == tenant)]

    def max_requests_in_window(self, tenant: str | None = None) -> int:
        """The most API requests (token requests excluded, 429s included) one client sent within
        one of Heron's one-second windows."""
        with self._lock:
            return max((n for name, n in self.max_window.items() if tenant in (None, name)), default=0)

    def max_requests_in_any_second(self, tenant: str | None = None) -> int:
        """The most API requests (token requests excluded) within any sliding second, from the log."""
        with self._lock:
            times = sorted(r.at for r in self.log if r.host == "api" and r.path != "/oauth/token"
                           and r.tenant is not None and tenant in (None, r.tenant))
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    @property
    def largest_batch(self) -> int:
        return max(self.batch_sizes, default=0)

    def recording(self, recording_id: str) -> dict[str, Any]:
        """A recording as the API would show it now (a deletion stub once deleted)."""
        with self._lock:
            self._tick()
            return self._public(self._find(recording_id))

    def recording_ids(self, tenant: str = "north", *, deleted: bool = False) -> list[str]:
        """The tenant's recordings in storage order (without the deleted ones unless asked)."""
        with self._lock:
            return [r.id for r in self._recs[tenant].values() if deleted or r.deleted is None]

    def segment_ids(self, tenant: str = "north", *, downloadable: bool = False) -> list[str]:
        """The tenant's listed segments; `downloadable`: only those whose media a batch hands out now."""
        with self._lock:
            self._tick()
            now = self._now()
            return [s.id for r in self._recs[tenant].values() for s in r.segments
                    if not downloadable or (r.deleted is None and s.status == "ready" and not s.purged
                                            and s.media_at is not None and s.media_at <= now)]

    def segment(self, segment_id: str) -> tuple[str, dict[str, Any]]:
        """(recording id, the segment as listed) for a segment id."""
        with self._lock:
            rec, segment = self._segments[segment_id]
            listed = next((s for s in self._public(rec).get("segments", []) if s["id"] == segment_id), None)
            return rec.id, listed or {"id": segment_id, "status": segment.status}

    def audio(self, segment_id: str) -> bytes:
        """The segment's media, exactly as the media host serves it."""
        _rec, segment = self._segments[segment_id]
        return synth_wav(f"{self.seed}:{segment.id}", segment.audio_seconds, segment.channels)

    # --- the API host --------------------------------------------------------------------------

    def _handle_api(self, method: str, target: str, headers: Any, body: bytes) -> tuple[_Answer, Any]:
        path = urlsplit(target).path
        rest = path[len("/v2/recordings/"):] if path.startswith("/v2/recordings/") else ""
        if path == "/oauth/token":
            route, allowed = "token", "POST"
        elif path == "/v2/recordings/changes":
            route, allowed = "changes", "POST"
        elif path == "/v2/media/batch":
            route, allowed = "batch", "POST"
        elif rest and "/" not in rest:
            route, allowed = "recording", "GET"
        else:
            return _error(404, "not_found", f"No route {path}."), None
        if method != allowed:
            return _error(405, "method_not_allowed", f"Use {allowed} on {path}.", headers={"Allow": allowed}), None
        if route == "token":
            return self._token(headers, body), None
        payload: Any = None
        with self._lock:
            self._tick()
            tenant, scopes, limit_headers = self._authenticate(headers)
            try:
                if method == "POST":
                    try:
                        payload = json.loads(body or b"null")
                    except (ValueError, UnicodeDecodeError):
                        raise _Stop(_error(400, "invalid_request", "The body is not JSON.")) from None
                    if not isinstance(payload, dict):
                        raise _Stop(_error(400, "invalid_request", "The body must be a JSON object."))
                if self._fail_next:
                    status = self._fail_next.pop(0)
                    code = "unavailable" if status == 503 else "internal_error"
                    raise _Stop(_error(status, code, "Heron is having a moment; try again.",
                                       headers={"Retry-After": "1"} if status == 503 else None))
                if tenant.name in self._suspended:
                    raise _Stop(_ok({"error": {"code": "tenant_suspended",
                                               "message": "This workspace is suspended. Contact your Heron "
                                                          "account manager."}}))
                if route == "changes":
                    self._need(scopes, "recordings:read")
                    answer = self._changes(tenant, payload)
                elif route == "batch":
                    self._need(scopes, "media:read")
                    answer = self._batch(tenant, payload)
                else:
                    self._need(scopes, "recordings:read")
                    answer = self._get_recording(tenant, unquote(rest))
            except _Stop as stop:
                answer = stop.answer
            if answer.code is None and answer.status == 200 and answer.body.startswith(b'{"error"'):
                answer.code = json.loads(answer.body)["error"]["code"]
            answer.headers.update(limit_headers)
            answer.tenant = tenant.name
            return answer, payload

    def _need(self, scopes: frozenset[str], scope: str) -> None:
        if scope not in scopes:
            raise _Stop(_error(403, "insufficient_scope", f"The access token lacks the scope {scope}."))

    def _authenticate(self, headers: Any) -> tuple[Tenant, frozenset[str], dict[str, str]]:
        """The caller's tenant; the rate limit; then the token's expiry (with the lock held)."""
        auth = headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Stop(_error(401, "missing_token", "Send an access token: Authorization: Bearer <token>.",
                               headers={"WWW-Authenticate": 'Bearer realm="heron"'}))
        known = self._tokens.get(token.strip())
        if known is None:
            raise _Stop(_error(401, "invalid_token", "The access token is not valid.",
                               headers={"WWW-Authenticate": 'Bearer realm="heron", error="invalid_token"'}))
        name, expires, scopes = known
        tenant = self.tenants[name]
        limit_headers = self._admit(name)
        if limit_headers is None:
            raise _Stop(self._with_tenant(self._too_many(name), name))
        if expires <= self._now():
            self.expired_token_requests += 1
            answer = _error(401, "token_expired", "The access token expired; request a new one.",
                            headers={"WWW-Authenticate": 'Bearer realm="heron", error="invalid_token", '
                                                         'error_description="The access token expired"',
                                     **limit_headers})
            raise _Stop(self._with_tenant(answer, name))
        return tenant, scopes, limit_headers

    @staticmethod
    def _with_tenant(answer: _Answer, tenant: str) -> _Answer:
        answer.tenant = tenant
        return answer

    def _admit(self, tenant: str) -> dict[str, str] | None:
        """Fixed windows of one real second; None when the request is over the limit."""
        now = time.time()
        window = self._windows[tenant]
        second = int(now)
        if window.start != second:
            window.start, window.admitted, window.seen = second, 0, 0
        window.seen += 1
        self.max_window[tenant] = max(self.max_window[tenant], window.seen)
        if self.rate_limit is None:
            return {}
        if window.admitted >= self.rate_limit:
            return None
        window.admitted += 1
        return {"X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(self.rate_limit - window.admitted),
                "X-RateLimit-Reset": str(second + 1)}

    def _too_many(self, tenant: str) -> _Answer:
        self.rate_limited += 1
        window = self._windows[tenant]
        return _error(429, "rate_limited", f"More than {self.rate_limit} requests in one second.",
                      headers={"Retry-After": "1", "X-RateLimit-Limit": str(self.rate_limit),
                               "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(window.start + 1)})

    def _token(self, headers: Any, body: bytes) -> _Answer:
        answer, tenant = self._token_answer(headers, body)
        answer.tenant = tenant
        return answer

    def _token_answer(self, headers: Any, body: bytes) -> tuple[_Answer, str | None]:
        auth = headers.get("Authorization") or ""
        scheme, _, encoded = auth.partition(" ")
        client_id = secret = None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
                client_id, secret = unquote(user), unquote(password)
            except (binascii.Error, UnicodeDecodeError):
                pass
        with self._lock:
            tenant = self._by_client.get(client_id or "")
            if tenant is None or not hmac.compare_digest(tenant.client_secret, secret or ""):
                self.token_refusals += 1
                return _oauth_error(401, "invalid_client", "Client authentication failed (HTTP Basic only).",
                                    {"WWW-Authenticate": 'Basic realm="heron"'}), None
            self.token_requests[tenant.name] += 1
            now = time.time()
            recent = [t for t in self._token_times.get(tenant.name, []) if now - t < 60]
            if self.token_rate_limit is not None and len(recent) >= self.token_rate_limit:
                self.token_refusals += 1
                wait = str(math.ceil(60 - (now - recent[0])))
                return _oauth_error(429, "rate_limited", f"More than {self.token_rate_limit} token requests "
                                    "in one minute.", {"Retry-After": wait}), tenant.name
            self._token_times[tenant.name] = [*recent, now]
            content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                self.token_refusals += 1
                return _oauth_error(400, "invalid_request", "Send the form as application/x-www-form-urlencoded."), \
                    tenant.name
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
            if form.get("grant_type") != "client_credentials":
                self.token_refusals += 1
                return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported."), \
                    tenant.name
            every = {"recordings:read", "media:read"}
            asked = set(form["scope"].split()) if form.get("scope") else every
            if not asked <= every:
                self.token_refusals += 1
                return _oauth_error(400, "invalid_scope", f"Unknown scope(s): {' '.join(sorted(asked - every))}."), \
                    tenant.name
            token = f"hat_{secrets.token_urlsafe(24)}"
            self._tokens[token] = (tenant.name, self._now() + self.token_ttl, frozenset(asked))
            return _ok({"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl),
                        "scope": " ".join(sorted(asked))}, headers={"Cache-Control": "no-store"}), tenant.name

    # --- the changes feed ------------------------------------------------------------------------

    def _seal(self, prefix: str, state: dict[str, Any]) -> str:
        data = _json_bytes(state)
        tag = hmac.new(self._key, prefix.encode() + data, hashlib.sha256).digest()[:12]
        return f"{prefix}{_b64(data)}.{_b64(tag)}"

    def _open(self, prefix: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, str) or not value.startswith(prefix) or "." not in value:
            return None
        data_part, _, tag_part = value[len(prefix):].partition(".")
        try:
            data, tag = _unb64(data_part), _unb64(tag_part)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(tag, hmac.new(self._key, prefix.encode() + data, hashlib.sha256).digest()[:12]):
            return None
        state = json.loads(data)
        return state if isinstance(state, dict) else None

    def _sync_token(self, tenant: Tenant, seq: int) -> str:
        return self._seal("hst1_", {"w": tenant.workspace_id, "s": seq, "i": self._now(),
                                    "e": self._sync_epoch[tenant.name]})

    def _changes(self, tenant: Tenant, body: dict[str, Any]) -> _Answer:
        if self._feed_busy.get(tenant.name, 0) > 0:
            self._feed_busy[tenant.name] -= 1
            return _ok({"error": {"code": "feed_busy", "message": "The change index is catching up; retry "
                                  "in a few seconds.", "retry_after": 2}})
        limit = body.get("limit", DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            return _error(400, "invalid_request", f"limit must be an integer from 1 to {MAX_LIMIT}.")
        now = self._now()
        expired = _error(410, "sync_token_expired", "The sync token expired: list everything again "
                         "(send no sync_token) and keep the new token.")
        if body.get("cursor") is not None:
            state = self._open("hc1_", body["cursor"])
            if state is None or state.get("w") != tenant.workspace_id:
                return _error(400, "invalid_cursor", "The cursor is not one this workspace issued.")
            if state["k"] == "chg" and (state["e"] != self._sync_epoch[tenant.name]
                                        or now - state["t"] > self.sync_token_ttl):
                return expired
            if now - state["i"] > self.cursor_ttl:
                return _error(400, "cursor_expired", "The cursor expired (cursors live one hour): start "
                              "the listing again.")
        elif body.get("sync_token") is not None:
            token = self._open("hst1_", body["sync_token"])
            if token is None or token.get("w") != tenant.workspace_id:
                return _error(400, "invalid_sync_token", "The sync token is not one this workspace issued.")
            if token["e"] != self._sync_epoch[tenant.name] or now - token["i"] > self.sync_token_ttl:
                return expired
            state = {"w": tenant.workspace_id, "k": "chg", "from": token["s"], "to": self._seq[tenant.name],
                     "p": token["s"], "t": token["i"], "e": token["e"]}
        else:
            state = {"w": tenant.workspace_id, "k": "snap", "s": self._seq[tenant.name], "p": 0}
        recs = self._recs[tenant.name].values()
        if state["k"] == "snap":
            # `limit` stored rows are scanned and the deleted ones left out: a page can be short
            rows = [r for r in recs if r.ordinal > state["p"]][:limit + 1]
            position = rows[limit - 1].ordinal if len(rows) > limit else None
            listed = [r for r in rows[:limit] if r.deleted is None]
            final_seq = state["s"]
        else:
            rows = sorted((r for r in recs if max(state["from"], state["p"]) < r.last_seq <= state["to"]),
                          key=lambda r: r.last_seq)[:limit + 1]
            position = rows[limit - 1].last_seq if len(rows) > limit else None
            listed = rows[:limit]
            final_seq = state["to"]
        page: dict[str, Any] = {"recordings": [self._public(r) for r in listed]}
        if position is not None:
            page["next_cursor"] = self._seal("hc1_", {**state, "p": position, "i": now})
            page["next_sync_token"] = None
        else:
            page["next_cursor"] = None
            page["next_sync_token"] = self._sync_token(tenant, final_seq)
        return _ok(page)

    def _get_recording(self, tenant: Tenant, recording_id: str) -> _Answer:
        rec = self._recs[tenant.name].get(recording_id)
        if rec is None:
            return _error(404, "not_found", "No such recording in this workspace.")
        if rec.deleted is not None:
            return _error(404, "recording_deleted", "The recording was deleted.",
                          extra={"deleted_ms": _ms(rec.deleted)})
        return _ok(self._public(rec))

    # --- media ---------------------------------------------------------------------------------

    def _batch(self, tenant: Tenant, body: dict[str, Any]) -> _Answer:
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            return _error(400, "invalid_request", "ids must be a non-empty list of segment ids.")
        unique = list(dict.fromkeys(ids))
        if len(unique) > self.batch_limit:
            return _error(400, "too_many_ids", f"At most {self.batch_limit} ids per batch.",
                          extra={"max_ids": self.batch_limit})
        self.batch_sizes.append(len(unique))
        now = self._now()
        items: list[dict[str, Any]] = []
        for segment_id in unique:
            found = self._segments.get(segment_id)
            if found is None or found[0].tenant != tenant.name or found[1] in found[0].unattached:
                items.append({"id": segment_id, "error": "not_found"})
                continue
            rec, segment = found
            if rec.deleted is not None:
                items.append({"id": segment_id, "error": "recording_deleted"})
            elif segment.status == "failed":
                items.append({"id": segment_id, "error": "segment_failed"})
            elif segment.purged:
                items.append({"id": segment_id, "error": "media_purged"})
            elif segment.status == "processing":
                items.append({"id": segment_id, "status": "pending", "retry_after": PROCESSING_RETRY_AFTER})
            elif segment.media_at is not None and segment.media_at > now:
                items.append({"id": segment_id, "status": "pending",
                              "retry_after": max(1, math.ceil(segment.media_at - now))})
            elif self._fail_items:
                items.append({"id": segment_id, "error": self._fail_items.pop(0)})
            else:
                signature = _b64(secrets.token_bytes(24))
                expires = now + self.url_ttl
                self._urls[signature] = (segment_id, expires, str(int(expires)))
                items.append({"id": segment_id, "status": "ready",
                              "url": f"{self.media_url}/o/{segment_id}.wav?X-Heron-Expires={int(expires)}"
                                     f"&X-Heron-Signature={signature}",
                              "expires_ms": _ms(expires), "size_bytes": _wav_size(segment)})
        pending = [i["retry_after"] for i in items if i.get("status") == "pending"]
        if len(pending) == len(items):
            return _ok({"items": items}, status=202, headers={"Retry-After": str(min(pending))})
        return _ok({"items": items})

    def _handle_media(self, method: str, target: str, headers: Any) -> _Answer:
        parts = urlsplit(target)
        if method != "GET":
            return _error(405, "method_not_allowed", "Use GET.", headers={"Allow": "GET"})
        if not (parts.path.startswith("/o/") and parts.path.endswith(".wav")):
            return _error(404, "not_found", "No such object.")
        segment_id = parts.path[len("/o/"):-len(".wav")]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            if headers.get("Authorization"):
                self.media_with_authorization += 1
                return _error(400, "unexpected_authorization", "Media URLs are signed: send no Authorization "
                              "header.")
            issued = self._urls.get(query.get("X-Heron-Signature", ""))
            if issued is None or issued[0] != segment_id or query.get("X-Heron-Expires") != issued[2]:
                return _error(403, "signature_mismatch", "The URL's signature does not match.")
            if issued[1] <= self._now():
                return _error(403, "url_expired", "The URL expired; ask /v2/media/batch for a new one.")
            rec, segment = self._segments[segment_id]
            tenant = rec.tenant
            if rec.deleted is not None:
                return self._with_tenant(_error(404, "recording_deleted", "The recording was deleted."), tenant)
            if segment.purged:
                return self._with_tenant(_error(410, "media_purged", "The media was removed by the "
                                                "workspace's retention policy."), tenant)
        data = self.audio(segment_id)
        answer = _Answer(200, data, {"Content-Type": "audio/wav", "X-Heron-Sha256": hashlib.sha256(data).hexdigest(),
                                     "Cache-Control": "private, max-age=0"}, tenant=tenant, download=segment_id)
        return answer

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], heron: HeronServer, kind: str) -> None:
        self.heron = heron
        self.kind = kind
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Heron/2.7"
    sys_version = ""
    timeout = 30
    server: _Listener

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 - the base class's name
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        heron = self.server.heron
        arrived = time.time()
        body = self._body()
        payload = None
        try:
            if self.server.kind == "api":
                answer, payload = heron._handle_api(self.command, self.path, self.headers, body)
            else:
                answer = heron._handle_media(self.command, self.path, self.headers)
        except _Stop as stop:
            answer = stop.answer
        except Exception:  # noqa: BLE001 - a bug of the emulator: say so, as a vendor's 500
            traceback.print_exc()
            answer = _error(500, "internal_error", "Internal error.")
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        complete = True
        if self.command != "HEAD":
            try:
                view = memoryview(answer.body)
                for start in range(0, len(view), 65536):
                    self.wfile.write(view[start:start + 65536])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                complete = False
                self.close_connection = True
        heron._record(LoggedRequest(at=arrived, host=self.server.kind, method=self.command,
                                    path=urlsplit(self.path).path, tenant=answer.tenant, status=answer.status,
                                    code=answer.code, body=payload))
        if answer.download is not None and complete:
            with heron._lock:
                heron.downloads[answer.download] += 1

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Heron Cloud Voice, a fictional vendor's API (docs/heron-api.md).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="API host port (0: any free port)")
    parser.add_argument("--media-port", type=int, default=0, help="media host port (0: any free port)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recordings", type=int, default=60, help="seeded recordings per workspace")
    parser.add_argument("--token-ttl", type=float, default=60)
    parser.add_argument("--sync-token-ttl", type=float, default=7 * DAY)
    parser.add_argument("--url-ttl", type=float, default=30)
    parser.add_argument("--rate-limit", type=int, default=5, help="requests per second per client (0: none)")
    parser.add_argument("--settle-after", type=float, default=600, help="seconds (negative: never by itself)")
    parser.add_argument("--media-delay", type=float, default=20)
    parser.add_argument("--arrivals-every", type=float, default=0,
                        help="add one recording every N seconds, every third back-dated by days (0: none)")
    args = parser.parse_args(argv)
    server = HeronServer(seed=args.seed, recordings=args.recordings, host=args.host, port=args.port,
                         media_port=args.media_port, token_ttl=args.token_ttl, sync_token_ttl=args.sync_token_ttl,
                         url_ttl=args.url_ttl, rate_limit=args.rate_limit or None,
                         settle_after=None if args.settle_after < 0 else args.settle_after,
                         media_delay=args.media_delay)
    with server:
        print(json.dumps({"url": server.url, "token_url": server.token_url, "media_url": server.media_url,
                          "tenants": {name: vars(t) for name, t in server.tenants.items()}}, indent=2), flush=True)
        try:
            count = 0
            while True:
                if args.arrivals_every > 0:
                    time.sleep(args.arrivals_every)
                    count += 1
                    tenant = ("north", "south")[count % 2]
                    server.add_arrivals(1, tenant=tenant, back_dated_days=3.5 if count % 3 == 0 else 0.0,
                                        settled=count % 2 == 0)
                else:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
