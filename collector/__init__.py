"""recording-collector: collect call recordings from vendors' REST APIs into one store.

The public API for plugin authors. Everything else lives in private `_modules` and may change
without notice; code that embeds the collector (runs it, loads configurations) uses
`collector.engine`, plugin tests `collector.testing` and `collector.emulator`. A plugin needs:

- what it implements: `Source`, `SourceSettings`, `Page`, the hooks (`hookimpl`);
- the normalized model it maps vendor payloads to: `Recording`, `Party`, `Transcript`, ...;
- how it talks to its vendor: `SourceContext.http` gives an `HttpClient` sharing the tenant's
  `Traffic`; an auth strategy (`StaticBearerAuth`, `ApiKeyAuth`, `BasicAuth`, `TokenExchange`,
  `OAuth2ClientCredentials`, or a `TokenAuth` of its own); `Redirects` for media behind signed URLs;
  `ErrorCodes` (the vendor's own error codes onto the taxonomy) and `VendorAnswer` (what it said);
- how it lists: `paginate` with a paginator (`CursorPaginator`, `NextUrlPaginator`,
  `OffsetPaginator`, `PageNumberPaginator`), `Incremental` (a watermark with an overlap),
  `TimeWindows` (time-window sweeps), `Tally` (reconciling against the vendor's count);
- the vendor's own count of a day, for `collector report`: `Source.vendor_count` returns a `VendorCount`;
- ids and secrets: `compound_id`, `path_segment`, `register_secret`; times: `iso`, `parse_iso`;
- the error taxonomy (`ItemNotReady`, `ItemDeferred`, `AuthenticationError`, `RoutePaused`,
  `PageTokenExpired`, `TransientAnswer`, ...) to say what went wrong.
"""

import importlib

TYPE_CHECKING = False  # not typing's: importing typing costs a few ms of every start (mypy knows the name)
if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__): cold start stays fast
    from typing import Any

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
        PageTokenExpired,
        RequestFailed,
        RoutePaused,
        RunError,
        TenantError,
        TransientAnswer,
        classify_request_failure,
    )
    from ._hookspecs import DemoFactory, StoredEvent, hookimpl, hookspec
    from ._answers import VendorAnswer
    from ._error_codes import ErrorCodes
    from ._http import HttpClient, JsonAnswer
    from ._moments import parse_retry_after
    from ._redirects import Redirects
    from ._traffic import RequestStats, RetrySettings, Traffic
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
        VendorCount,
        http_url,
    )
    from ._time import iso, now_utc, parse_iso
    from ._windows import TimeWindows, Window, WindowOutcome, WindowSweep

_EXPORTS = {
    "ApiKeyAuth": "._auth",
    "AudioExpectation": "._source",
    "Auth": "._auth",
    "AuthenticationError": "._errors",
    "BadStatus": "._errors",
    "BasicAuth": "._auth",
    "CollectorError": "._errors",
    "ConfigError": "._errors",
    "CursorPaginator": "._paging",
    "DemoFactory": "._hookspecs",
    "Direction": "._model",
    "DownloadsStopped": "._errors",
    "Duration": "._durations",
    "ENTRY_POINT_GROUP": "._plugins",
    "EgressBudget": "._source",
    "ErrorCodes": "._error_codes",
    "HeaderAuth": "._auth",
    "HttpClient": "._http",
    "Incremental": "._incremental",
    "ItemDeferred": "._errors",
    "ItemError": "._errors",
    "ItemNotReady": "._errors",
    "ItemRejected": "._errors",
    "ItemUnavailable": "._errors",
    "JsonAnswer": "._http",
    "ListedPage": "._paging",
    "ListingCount": "._source",
    "MediaAvailability": "._model",
    "NextUrlPaginator": "._paging",
    "NoAnswer": "._errors",
    "OAuth2ClientCredentials": "._auth",
    "OffsetPaginator": "._paging",
    "Page": "._source",
    "PageNumberPaginator": "._paging",
    "PageRequest": "._paging",
    "PageTokenExpired": "._errors",
    "Paginator": "._paging",
    "Party": "._model",
    "RateLimit": "._ratelimit",
    "Recording": "._model",
    "RecordingKey": "._model",
    "Redirects": "._redirects",
    "RequestFailed": "._errors",
    "RequestStats": "._traffic",
    "RetrySettings": "._traffic",
    "RoutePaused": "._errors",
    "RunError": "._errors",
    "Secret": "._secret",
    "SlidingWindowLimiter": "._ratelimit",
    "Source": "._source",
    "SourceContext": "._source",
    "SourceSettings": "._source",
    "StaticBearerAuth": "._auth",
    "StoredEvent": "._hookspecs",
    "Tally": "._paging",
    "TenantError": "._errors",
    "TimeWindows": "._windows",
    "Token": "._auth",
    "TokenAuth": "._auth",
    "TokenChannel": "._auth",
    "TokenExchange": "._auth",
    "Traffic": "._traffic",
    "Transcript": "._model",
    "TranscriptResult": "._model",
    "TranscriptSegment": "._model",
    "TranscriptState": "._model",
    "TransientAnswer": "._errors",
    "VendorAnswer": "._answers",
    "VendorCount": "._source",
    "Window": "._windows",
    "WindowOutcome": "._windows",
    "WindowSweep": "._windows",
    "basic_credentials": "._auth",
    "classify_request_failure": "._errors",
    "compound_id": "._ids",
    "hookimpl": "._hookspecs",
    "hookspec": "._hookspecs",
    "http_url": "._source",
    "iso": "._time",
    "jwt_expiry": "._auth",
    "now_utc": "._time",
    "paginate": "._paging",
    "parse_iso": "._time",
    "parse_retry_after": "._moments",
    "path_segment": "._ids",
    "register_secret": "._redact",
    "split_compound_id": "._ids",
    "token_expiry": "._auth",
}
"""Where each public name lives; a name is imported the first time it is used, so that
`collector --help` or `collector status` do not load httpx, pydantic's models or the audio stack."""


def __getattr__(name: str) -> "Any":
    """Import a public name from its module the first time it is asked for."""
    if name == "__version__":
        return _version()
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'collector' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recording-collector")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "0+unknown"


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
    "ErrorCodes",
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
    "PageTokenExpired",
    "Paginator",
    "Party",
    "RateLimit",
    "Recording",
    "RecordingKey",
    "Redirects",
    "RequestFailed",
    "RequestStats",
    "RetrySettings",
    "RoutePaused",
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
    "TransientAnswer",
    "VendorAnswer",
    "VendorCount",
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
