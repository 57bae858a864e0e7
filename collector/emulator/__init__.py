"""Tools for building vendor emulators: real HTTP servers on 127.0.0.1 with limits and faults.

Plugins ship an emulator of their vendor's API, built from the vendor's documentation, for their
tests and for `collector demo`:

- `EmulatorServer`, `Request`, `Response`, `EmulatorError`: routes, parsing (bearer and Basic
  credentials), streamed answers, redirects, a server-side sliding-window rate limit, a limit on
  requests in flight, hooks after requests, and a request log;
- `FaultPlan` (each server's `.faults`): scripted or random 500, 503, 429, dropped connections,
  malformed JSON, HTML instead of audio, truncated bodies, slow answers, media bodies that drip
  or stall (to test a plugin's downloads against the pace limits);
- `StorageServer`: media at short-lived signed URLs on another origin;
- `TokenEndpoint`: an OAuth2 token endpoint as a strict vendor runs it (client authentication in
  the body or as Basic, client credentials, rotating single-use refresh tokens, JWT-bearer
  assertions, custom grants, short lifetimes, a shared clock), with `check(request)` for the API
  routes and a `TokenAudit` of what it saw (reused refresh tokens, expired tokens that arrived);
- `FixedWindowLimit` (with rate-limit headers), `KindRateLimit` (a limit per route kind) and
  `DailyQuota` (a 429 until midnight), added to a server with `add_limit`;
- `HOSTILE_IDS`, `audio_answer` (with `AUDIO_FAULTS`), `keyset_page`, `opaque_cursor`,
  `link_header`, `Readiness`: what most emulators need;
- `synth_audio`, `wav_stream`, `truncated`: real, unique, decodable audio.
"""

from ._audio import AUDIO_FORMATS, synth_audio, truncated, wav_duration_for_bytes, wav_stream
from ._kit import (
    AUDIO_FAULTS,
    HOSTILE_IDS,
    Readiness,
    audio_answer,
    keyset_page,
    link_header,
    opaque_cursor,
    read_cursor,
)
from ._limits import DailyQuota, FixedWindowLimit, KindRateLimit
from ._oauth import TokenAudit, TokenEndpoint, decode_jwt_claims
from ._server import (
    CONTENT_FAULTS,
    LOOPBACK,
    TRANSIENT_FAULTS,
    EmulatorError,
    EmulatorServer,
    FaultPlan,
    LoggedRequest,
    Request,
    Response,
)
from ._storage import StorageServer

__all__ = [
    "AUDIO_FAULTS",
    "AUDIO_FORMATS",
    "CONTENT_FAULTS",
    "HOSTILE_IDS",
    "LOOPBACK",
    "TRANSIENT_FAULTS",
    "DailyQuota",
    "EmulatorError",
    "EmulatorServer",
    "FaultPlan",
    "FixedWindowLimit",
    "KindRateLimit",
    "LoggedRequest",
    "Readiness",
    "Request",
    "Response",
    "StorageServer",
    "TokenAudit",
    "TokenEndpoint",
    "audio_answer",
    "decode_jwt_claims",
    "keyset_page",
    "link_header",
    "opaque_cursor",
    "read_cursor",
    "synth_audio",
    "truncated",
    "wav_duration_for_bytes",
    "wav_stream",
]
