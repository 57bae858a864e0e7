"""recording-collector: collect call recordings from vendors' REST APIs into one local store.

The public API, for plugin authors and embedding code. Everything else lives in private
`_modules` and may change without notice. A plugin needs only:

- `Source`, `SourceSettings`, `Page`: what a plugin implements (see `collector._source`);
- `Recording`, `Party`, `Transcript`, ...: the normalized model it maps vendor payloads to;
- `HttpClient`, `TokenAuth`, `Secret`, `RateLimit`: what the core gives it to talk to its vendor;
- the error taxonomy (`ItemDeferred`, `AuthenticationError`, ...) to say what went wrong;
- `hookimpl`, to implement the hooks in `collector._hookspecs`.

`collector.testing` holds the emulator toolkit and the conformance suite for plugin tests.
"""

from importlib.metadata import PackageNotFoundError, version

from ._auth import StaticBearerAuth, Token, TokenAuth, jwt_expiry
from ._config import Config, load_config
from ._errors import (
    AuthenticationError,
    CollectorError,
    ConfigError,
    DownloadsStopped,
    HTTPError,
    HTTPStatusError,
    ItemDeferred,
    ItemError,
    ItemRejected,
    ItemUnavailable,
    RunError,
    TenantError,
    TransportError,
    classify_http_error,
)
from ._hookspecs import StoredEvent, hookimpl, hookspec
from ._http import HttpClient, RequestStats, RetrySettings, parse_retry_after
from ._model import (
    Direction,
    MediaAvailability,
    Party,
    Recording,
    RecordingKey,
    Transcript,
    TranscriptResult,
    TranscriptSegment,
    TranscriptState,
)
from ._plugins import ENTRY_POINT_GROUP, Plugins
from ._ratelimit import RateLimit, SlidingWindowLimiter
from ._secret import Secret
from ._source import AudioExpectation, EgressBudget, Page, Source, SourceContext, SourceSettings, http_url
from ._store import Store

try:
    __version__ = version("recording-collector")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "ENTRY_POINT_GROUP",
    "AudioExpectation",
    "AuthenticationError",
    "CollectorError",
    "Config",
    "ConfigError",
    "Direction",
    "DownloadsStopped",
    "EgressBudget",
    "HTTPError",
    "HTTPStatusError",
    "HttpClient",
    "ItemDeferred",
    "ItemError",
    "ItemRejected",
    "ItemUnavailable",
    "MediaAvailability",
    "Page",
    "Party",
    "Plugins",
    "RateLimit",
    "Recording",
    "RecordingKey",
    "RequestStats",
    "RetrySettings",
    "RunError",
    "Secret",
    "SlidingWindowLimiter",
    "Source",
    "SourceContext",
    "SourceSettings",
    "StaticBearerAuth",
    "Store",
    "StoredEvent",
    "TenantError",
    "Token",
    "TokenAuth",
    "Transcript",
    "TranscriptResult",
    "TranscriptSegment",
    "TranscriptState",
    "TransportError",
    "classify_http_error",
    "hookimpl",
    "hookspec",
    "http_url",
    "jwt_expiry",
    "load_config",
    "parse_retry_after",
]
