"""recording-collector: collect call recordings from vendors' REST APIs into one store.

The public API for plugin authors. Everything else lives in private `_modules` and may change
without notice; code that embeds the collector (runs it, loads configurations) uses
`collector.engine`, plugin tests `collector.testing` and `collector.emulator`. A plugin needs:

- what it implements: `Source`, `SourceSettings`, `Page`, the hooks (`hookimpl`);
- the normalized model it maps vendor payloads to: `Recording`, `Party`, `Transcript`, ...;
- how it talks to its vendor: `SourceContext.http` gives an `HttpClient` sharing the tenant's
  `Traffic`; an auth strategy (`StaticBearerAuth`, `ApiKeyAuth`, `BasicAuth`, `TokenExchange`,
  `OAuth2ClientCredentials`, or a `TokenAuth` of its own); `Redirects` for media behind signed URLs;
- how it lists: `paginate` with a paginator (`CursorPaginator`, `NextUrlPaginator`,
  `OffsetPaginator`, `PageNumberPaginator`), `Incremental` (a watermark with an overlap),
  `TimeWindows` (time-window sweeps), `Tally` (reconciling against the vendor's count);
- ids and secrets: `compound_id`, `path_segment`, `register_secret`; times: `iso`, `parse_iso`;
- the error taxonomy (`ItemNotReady`, `ItemDeferred`, `AuthenticationError`, ...) to say what went wrong.
"""

from importlib.metadata import PackageNotFoundError, version

from ._auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    StaticBearerAuth,
    Token,
    TokenAuth,
    TokenChannel,
    TokenExchange,
    basic_credentials,
    jwt_expiry,
    token_expiry,
)
from ._durations import Duration
from ._errors import (
    AuthenticationError,
    BadStatus,
    CollectorError,
    ConfigError,
    DownloadsStopped,
    ItemDeferred,
    ItemError,
    ItemNotReady,
    ItemRejected,
    ItemUnavailable,
    NoAnswer,
    RequestFailed,
    RunError,
    TenantError,
    classify_request_failure,
)
from ._hookspecs import DemoFactory, StoredEvent, hookimpl, hookspec
from ._http import HttpClient, JsonAnswer, Redirects, RequestStats, RetrySettings, Traffic, parse_retry_after
from ._ids import compound_id, path_segment, split_compound_id
from ._incremental import Incremental
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
from ._paging import (
    CursorPaginator,
    ListedPage,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    Tally,
    paginate,
)
from ._plugins import ENTRY_POINT_GROUP
from ._ratelimit import RateLimit, SlidingWindowLimiter
from ._redact import register_secret
from ._secret import Secret
from ._source import (
    AudioExpectation,
    EgressBudget,
    ListingCount,
    Page,
    Source,
    SourceContext,
    SourceSettings,
    http_url,
)
from ._time import iso, now_utc, parse_iso
from ._windows import TimeWindows, Window, WindowOutcome, WindowSweep

try:
    __version__ = version("recording-collector")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "ENTRY_POINT_GROUP",
    "ApiKeyAuth",
    "AudioExpectation",
    "Auth",
    "AuthenticationError",
    "BadStatus",
    "BasicAuth",
    "CollectorError",
    "ConfigError",
    "CursorPaginator",
    "DemoFactory",
    "Direction",
    "DownloadsStopped",
    "Duration",
    "EgressBudget",
    "HeaderAuth",
    "HttpClient",
    "Incremental",
    "ItemDeferred",
    "ItemError",
    "ItemNotReady",
    "ItemRejected",
    "ItemUnavailable",
    "JsonAnswer",
    "ListedPage",
    "ListingCount",
    "MediaAvailability",
    "NextUrlPaginator",
    "NoAnswer",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "Party",
    "RateLimit",
    "Recording",
    "RecordingKey",
    "Redirects",
    "RequestFailed",
    "RequestStats",
    "RetrySettings",
    "RunError",
    "Secret",
    "SlidingWindowLimiter",
    "Source",
    "SourceContext",
    "SourceSettings",
    "StaticBearerAuth",
    "StoredEvent",
    "Tally",
    "TenantError",
    "TimeWindows",
    "Token",
    "TokenAuth",
    "TokenChannel",
    "TokenExchange",
    "Traffic",
    "Transcript",
    "TranscriptResult",
    "TranscriptSegment",
    "TranscriptState",
    "Window",
    "WindowOutcome",
    "WindowSweep",
    "basic_credentials",
    "classify_request_failure",
    "compound_id",
    "hookimpl",
    "hookspec",
    "http_url",
    "iso",
    "jwt_expiry",
    "now_utc",
    "paginate",
    "parse_iso",
    "parse_retry_after",
    "path_segment",
    "register_secret",
    "split_compound_id",
    "token_expiry",
]
