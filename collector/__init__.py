"""recording-collector: collect call recordings from vendors' REST APIs into one store.

The public API for plugin authors. Everything else lives in private `_modules` and may change
without notice; code that embeds the collector (runs it, loads configurations) uses
`collector.engine`, plugin tests `collector.testing` and `collector.emulator`. A plugin needs:

- what it implements: `Source`, `SourceSettings`, `Page`, the hooks (`hookimpl`);
- the normalized model it maps vendor payloads to: `Recording`, `Party`, `Transcript`, ...;
- how it talks to its vendor: `SourceContext.http` gives an `HttpClient` sharing the tenant's
  `Traffic`; an auth strategy (`StaticBearerAuth`, `ApiKeyAuth`, `BasicAuth`, `TokenExchange`,
  `OAuth2` with a `Grant`, `RefreshTokenGrant` and a `TokenFile`, `JwtAssertion`, or a `TokenAuth`
  of its own, renewed as `Renewal` says); `Redirects` for media behind signed URLs;
  `ErrorCodes` (the vendor's own error codes onto the taxonomy) and `VendorAnswer` (what it said);
- how it lists: `paginate` with a paginator (`CursorPaginator`, `NextUrlPaginator`,
  `OffsetPaginator`, `PageNumberPaginator`; in the query or a JSON body), `ChangeFeed` (a snapshot,
  then the vendor's sync token), `Incremental` (a watermark with an overlap: only where the vendor
  bounds how late it lists), `TimeWindows` and `DateWindows` (window sweeps), `Tally` (reconciling
  against the vendor's count), `expired_on` and `PositionExpired` (tokens the vendor refuses);
- the vendor's own count of a day, for `collector report`: `Source.vendor_count` returns a `VendorCount`;
- parents whose children come later: `parse` returns a `Revisit`, `Source.children` returns `Children`;
- vendor-side batch downloads: `Source.open_audio_batch` and `Source.audio_batch_size`;
- ids and secrets: `compound_id`, `path_segment`, `register_secret`; times: `parse_time` (every format
  vendors send), `iso`, `parse_iso`, `value_shape` (a value described without revealing it);
- the error taxonomy (`ItemNotReady`, `ItemDeferred`, `AuthenticationError`, `RoutePaused`,
  `PageTokenExpired`, `TransientAnswer`, ...) to say what went wrong.
"""

import importlib

TYPE_CHECKING = False  # not typing's: importing typing costs a few ms of every start (mypy knows the name)
if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__): cold start stays fast
    from typing import Any

    from ._answers import VendorAnswer
    from ._auth import (
        ApiKeyAuth,
        Auth,
        BasicAuth,
        HeaderAuth,
        StaticBearerAuth,
        TokenChannel,
        basic_credentials,
        secret_value,
    )
    from ._changefeed import ChangeFeed
    from ._dates import parse_time, value_shape
    from ._datewindows import DateWindow, DateWindows
    from ._durations import Duration
    from ._error_codes import ErrorCodes
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
    from ._expiry import PositionExpired, expired_on
    from ._hookspecs import DemoFactory, PassEvent, PassKind, StoredEvent, TenantEvent, hookimpl, hookspec
    from ._http import HttpClient, JsonAnswer
    from ._ids import compound_id, path_segment, split_compound_id
    from ._incremental import Incremental
    from ._jwt import JwtAssertion
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
    from ._moments import parse_retry_after
    from ._oauth2 import (
        CLIENT_ASSERTION_JWT,
        JWT_BEARER,
        Grant,
        OAuth2,
        OAuth2ClientCredentials,
        RefreshTokenGrant,
    )
    from ._paginators import CursorPaginator, NextUrlPaginator, OffsetPaginator, PageNumberPaginator
    from ._paging import ListedPage, PageRequest, Paginator, Tally, paginate
    from ._plugins import ENTRY_POINT_GROUP
    from ._ratelimit import RateLimit, SlidingWindowLimiter
    from ._redact import register_secret
    from ._redirects import Redirects
    from ._revisit import Children, Revisit
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
        account_url,
        http_url,
    )
    from ._time import iso, now_utc, parse_iso
    from ._token_store import TokenFile, TokenStore
    from ._tokens import Renewal, Token, TokenAuth, TokenExchange, jwt_expiry, token_expiry
    from ._traffic import RequestStats, RetrySettings, Traffic
    from ._windows import TimeWindows, Window, WindowOutcome, WindowSweep

_EXPORTS = {
    "ApiKeyAuth": "._auth",
    "AudioExpectation": "._source",
    "Auth": "._auth",
    "AuthenticationError": "._errors",
    "BadStatus": "._errors",
    "BasicAuth": "._auth",
    "CLIENT_ASSERTION_JWT": "._oauth2",
    "ChangeFeed": "._changefeed",
    "Children": "._revisit",
    "CollectorError": "._errors",
    "ConfigError": "._errors",
    "CursorPaginator": "._paginators",
    "DateWindow": "._datewindows",
    "DateWindows": "._datewindows",
    "DemoFactory": "._hookspecs",
    "Direction": "._model",
    "DownloadsStopped": "._errors",
    "Duration": "._durations",
    "ENTRY_POINT_GROUP": "._plugins",
    "EgressBudget": "._source",
    "ErrorCodes": "._error_codes",
    "Grant": "._oauth2",
    "HeaderAuth": "._auth",
    "HttpClient": "._http",
    "Incremental": "._incremental",
    "ItemDeferred": "._errors",
    "ItemError": "._errors",
    "ItemNotReady": "._errors",
    "ItemRejected": "._errors",
    "ItemUnavailable": "._errors",
    "JWT_BEARER": "._oauth2",
    "JsonAnswer": "._http",
    "JwtAssertion": "._jwt",
    "ListedPage": "._paging",
    "ListingCount": "._source",
    "MediaAvailability": "._model",
    "NextUrlPaginator": "._paginators",
    "NoAnswer": "._errors",
    "OAuth2": "._oauth2",
    "OAuth2ClientCredentials": "._oauth2",
    "OffsetPaginator": "._paginators",
    "Page": "._source",
    "PageNumberPaginator": "._paginators",
    "PageRequest": "._paging",
    "PageTokenExpired": "._errors",
    "Paginator": "._paging",
    "Party": "._model",
    "PassEvent": "._hookspecs",
    "PassKind": "._hookspecs",
    "PositionExpired": "._expiry",
    "RateLimit": "._ratelimit",
    "Recording": "._model",
    "RecordingKey": "._model",
    "Redirects": "._redirects",
    "RefreshTokenGrant": "._oauth2",
    "Renewal": "._tokens",
    "RequestFailed": "._errors",
    "RequestStats": "._traffic",
    "RetrySettings": "._traffic",
    "Revisit": "._revisit",
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
    "TenantEvent": "._hookspecs",
    "TimeWindows": "._windows",
    "Token": "._tokens",
    "TokenAuth": "._tokens",
    "TokenChannel": "._auth",
    "TokenExchange": "._tokens",
    "TokenFile": "._token_store",
    "TokenStore": "._token_store",
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
    "expired_on": "._expiry",
    "hookimpl": "._hookspecs",
    "hookspec": "._hookspecs",
    "account_url": "._source",
    "http_url": "._source",
    "iso": "._time",
    "jwt_expiry": "._tokens",
    "now_utc": "._time",
    "paginate": "._paging",
    "parse_iso": "._time",
    "parse_retry_after": "._moments",
    "parse_time": "._dates",
    "path_segment": "._ids",
    "register_secret": "._redact",
    "secret_value": "._auth",
    "split_compound_id": "._ids",
    "token_expiry": "._tokens",
    "value_shape": "._dates",
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
    "CLIENT_ASSERTION_JWT",
    "ENTRY_POINT_GROUP",
    "JWT_BEARER",
    "ApiKeyAuth",
    "AudioExpectation",
    "Auth",
    "AuthenticationError",
    "BadStatus",
    "BasicAuth",
    "ChangeFeed",
    "Children",
    "CollectorError",
    "ConfigError",
    "CursorPaginator",
    "DateWindow",
    "DateWindows",
    "DemoFactory",
    "Direction",
    "DownloadsStopped",
    "Duration",
    "EgressBudget",
    "ErrorCodes",
    "Grant",
    "HeaderAuth",
    "HttpClient",
    "Incremental",
    "ItemDeferred",
    "ItemError",
    "ItemNotReady",
    "ItemRejected",
    "ItemUnavailable",
    "JsonAnswer",
    "JwtAssertion",
    "ListedPage",
    "ListingCount",
    "MediaAvailability",
    "NextUrlPaginator",
    "NoAnswer",
    "OAuth2",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "PageTokenExpired",
    "Paginator",
    "Party",
    "PassEvent",
    "PassKind",
    "PositionExpired",
    "RateLimit",
    "Recording",
    "RecordingKey",
    "Redirects",
    "RefreshTokenGrant",
    "Renewal",
    "RequestFailed",
    "RequestStats",
    "RetrySettings",
    "Revisit",
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
    "TenantEvent",
    "TimeWindows",
    "Token",
    "TokenAuth",
    "TokenChannel",
    "TokenExchange",
    "TokenFile",
    "TokenStore",
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
    "account_url",
    "basic_credentials",
    "classify_request_failure",
    "compound_id",
    "expired_on",
    "hookimpl",
    "hookspec",
    "http_url",
    "iso",
    "jwt_expiry",
    "now_utc",
    "paginate",
    "parse_iso",
    "parse_retry_after",
    "parse_time",
    "path_segment",
    "register_secret",
    "secret_value",
    "split_compound_id",
    "token_expiry",
    "value_shape",
]
