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

    from ._base._dates import parse_time, value_shape
    from ._base._durations import Duration
    from ._base._errors import (
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
    from ._base._ids import compound_id, path_segment, split_compound_id
    from ._base._model import (
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
    from ._base._redact import register_secret
    from ._base._revisit import Children, Revisit
    from ._base._secret import Secret
    from ._base._time import iso, now_utc, parse_iso
    from ._base._vendor_answer import VendorAnswer
    from ._http._auth import (
        ApiKeyAuth,
        Auth,
        BasicAuth,
        HeaderAuth,
        StaticBearerAuth,
        TokenChannel,
        basic_credentials,
        secret_value,
    )
    from ._http._client import HttpClient, JsonAnswer
    from ._http._error_codes import ErrorCodes
    from ._http._jwt import JwtAssertion
    from ._http._moments import parse_retry_after
    from ._http._oauth2 import (
        CLIENT_ASSERTION_JWT,
        JWT_BEARER,
        Grant,
        OAuth2,
        OAuth2ClientCredentials,
        RefreshTokenGrant,
    )
    from ._http._ratelimit import RateLimit, SlidingWindowLimiter
    from ._http._redirects import Redirects
    from ._http._token_store import TokenFile, TokenStore
    from ._http._tokens import Renewal, Token, TokenAuth, TokenExchange, jwt_expiry, token_expiry
    from ._http._traffic import RequestStats, RetrySettings, Traffic
    from ._runner._hookspecs import DemoFactory, PassEvent, PassKind, StoredEvent, TenantEvent, hookimpl, hookspec
    from ._runner._plugins import ENTRY_POINT_GROUP
    from ._sources._changefeed import ChangeFeed
    from ._sources._datewindows import DateWindow, DateWindows
    from ._sources._expiry import PositionExpired, expired_on
    from ._sources._incremental import Incremental
    from ._sources._paginators import CursorPaginator, NextUrlPaginator, OffsetPaginator, PageNumberPaginator
    from ._sources._paging import ListedPage, PageRequest, Paginator, Tally, paginate
    from ._sources._source import (
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
    from ._sources._windows import TimeWindows, Window, WindowOutcome, WindowSweep

_EXPORTS = {
    "ApiKeyAuth": "._http._auth",
    "AudioExpectation": "._sources._source",
    "Auth": "._http._auth",
    "AuthenticationError": "._base._errors",
    "BadStatus": "._base._errors",
    "BasicAuth": "._http._auth",
    "CLIENT_ASSERTION_JWT": "._http._oauth2",
    "ChangeFeed": "._sources._changefeed",
    "Children": "._base._revisit",
    "CollectorError": "._base._errors",
    "ConfigError": "._base._errors",
    "CursorPaginator": "._sources._paginators",
    "DateWindow": "._sources._datewindows",
    "DateWindows": "._sources._datewindows",
    "DemoFactory": "._runner._hookspecs",
    "Direction": "._base._model",
    "DownloadsStopped": "._base._errors",
    "Duration": "._base._durations",
    "ENTRY_POINT_GROUP": "._runner._plugins",
    "EgressBudget": "._sources._source",
    "ErrorCodes": "._http._error_codes",
    "Grant": "._http._oauth2",
    "HeaderAuth": "._http._auth",
    "HttpClient": "._http._client",
    "Incremental": "._sources._incremental",
    "ItemDeferred": "._base._errors",
    "ItemError": "._base._errors",
    "ItemNotReady": "._base._errors",
    "ItemRejected": "._base._errors",
    "ItemUnavailable": "._base._errors",
    "JWT_BEARER": "._http._oauth2",
    "JsonAnswer": "._http._client",
    "JwtAssertion": "._http._jwt",
    "ListedPage": "._sources._paging",
    "ListingCount": "._sources._source",
    "MediaAvailability": "._base._model",
    "NextUrlPaginator": "._sources._paginators",
    "NoAnswer": "._base._errors",
    "OAuth2": "._http._oauth2",
    "OAuth2ClientCredentials": "._http._oauth2",
    "OffsetPaginator": "._sources._paginators",
    "Page": "._sources._source",
    "PageNumberPaginator": "._sources._paginators",
    "PageRequest": "._sources._paging",
    "PageTokenExpired": "._base._errors",
    "Paginator": "._sources._paging",
    "Party": "._base._model",
    "PassEvent": "._runner._hookspecs",
    "PassKind": "._runner._hookspecs",
    "PositionExpired": "._sources._expiry",
    "RateLimit": "._http._ratelimit",
    "Recording": "._base._model",
    "RecordingKey": "._base._model",
    "Redirects": "._http._redirects",
    "RefreshTokenGrant": "._http._oauth2",
    "Renewal": "._http._tokens",
    "RequestFailed": "._base._errors",
    "RequestStats": "._http._traffic",
    "RetrySettings": "._http._traffic",
    "Revisit": "._base._revisit",
    "RoutePaused": "._base._errors",
    "RunError": "._base._errors",
    "Secret": "._base._secret",
    "SlidingWindowLimiter": "._http._ratelimit",
    "Source": "._sources._source",
    "SourceContext": "._sources._source",
    "SourceSettings": "._sources._source",
    "StaticBearerAuth": "._http._auth",
    "StoredEvent": "._runner._hookspecs",
    "Tally": "._sources._paging",
    "TenantError": "._base._errors",
    "TenantEvent": "._runner._hookspecs",
    "TimeWindows": "._sources._windows",
    "Token": "._http._tokens",
    "TokenAuth": "._http._tokens",
    "TokenChannel": "._http._auth",
    "TokenExchange": "._http._tokens",
    "TokenFile": "._http._token_store",
    "TokenStore": "._http._token_store",
    "Traffic": "._http._traffic",
    "Transcript": "._base._model",
    "TranscriptResult": "._base._model",
    "TranscriptSegment": "._base._model",
    "TranscriptState": "._base._model",
    "TransientAnswer": "._base._errors",
    "VendorAnswer": "._base._vendor_answer",
    "VendorCount": "._sources._source",
    "Window": "._sources._windows",
    "WindowOutcome": "._sources._windows",
    "WindowSweep": "._sources._windows",
    "basic_credentials": "._http._auth",
    "classify_request_failure": "._base._errors",
    "compound_id": "._base._ids",
    "expired_on": "._sources._expiry",
    "hookimpl": "._runner._hookspecs",
    "hookspec": "._runner._hookspecs",
    "account_url": "._sources._source",
    "http_url": "._sources._source",
    "iso": "._base._time",
    "jwt_expiry": "._http._tokens",
    "now_utc": "._base._time",
    "paginate": "._sources._paging",
    "parse_iso": "._base._time",
    "parse_retry_after": "._http._moments",
    "parse_time": "._base._dates",
    "path_segment": "._base._ids",
    "register_secret": "._base._redact",
    "secret_value": "._http._auth",
    "split_compound_id": "._base._ids",
    "token_expiry": "._http._tokens",
    "value_shape": "._base._dates",
}
"""Where each public name lives; a name is imported the first time it is used, so that
`collector --help` or `collector status` do not load httpx, pydantic's models or the audio stack."""


def __getattr__(name: str) -> "Any":
    """Import a public name from its module the first time it is asked for."""
    if name == "__version__":
        from ._base._version import installed_version

        return installed_version()
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'collector' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
