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
if TYPE_CHECKING:  # the public names (as many as `__all__`), imported on first use (see __getattr__)
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

_MODULES: dict[str, str] = {}
"""Where each public name lives, filled on first use from the `TYPE_CHECKING` imports above."""


def _public_modules() -> dict[str, str]:
    """The module of each name the `TYPE_CHECKING` block imports, read from this file's source.

    That block (for type checkers and readers) and `__all__` are the only lists of the public
    names; tests/test_api_surface.py checks that they agree. Each name is imported the first time
    it is used, so that `collector --help` or `collector status` do not load httpx, pydantic's
    models or the audio stack; reading the block then costs about a millisecond, once (`ast` is
    loaded by then: dataclasses and pydantic import it).
    """
    import ast

    with open(__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read(), __file__)
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name: "." * node.level + (node.module or "")
            for node in block.body if isinstance(node, ast.ImportFrom) and node.level  # ours, not typing's
            for alias in node.names}


def __getattr__(name: str) -> "Any":
    """Import a public name from its module the first time it is asked for."""
    if name == "__version__":
        from ._base._version import installed_version

        return installed_version()
    if not _MODULES:
        _MODULES.update(_public_modules())
    try:
        module = _MODULES[name]
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
