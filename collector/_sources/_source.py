"""What a plugin implements: a `Source` class and its settings model.

The core builds one `Source` per `[[sources]]` entry, with its validated settings and a
`SourceContext` (the tenant's HTTP client factory, logger and audit trail), and owns everything
else: concurrency, the catalog, files, retries across runs, summaries. A source only talks to its
vendor and maps what the vendor says:

- `sync(state)` yields pages of raw vendor items, each with the sync state to store once the page
  is committed (the core commits items and state in one transaction, so a run killed at any
  point resumes from the last committed page);
- `parse(item)` maps one raw item to recordings (pure; raising quarantines the item);
- `fetch_transcripts(recordings)` and `open_audio(recording)` fetch the content;
- `vendor_count(start, end)` (optional) states the vendor's own count of a period, so that
  `collector report` can reconcile each settled day (see `collector._runner._job._reconcile`);
- `children(parent)` (optional) visits a parent `parse` said has children still to come (a
  `Revisit`), until it settles (see `collector._runner._job._revisits`);
- `open_audio_batch(recordings)` (optional) opens up to `audio_batch_size` downloads at once, for
  vendors whose recommended path is a batch job (see `collector._runner._job._batches`).

All I/O methods are `async`; hooks stay synchronous (pluggy cannot await).
"""

from __future__ import annotations

import abc
import logging
import re
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from collector._base._durations import Duration
from collector._base._model import Recording, RecordingKey, TranscriptResult
from collector._base._revisit import Children, Revisit
from collector._base._secret import Secret
from collector._http._auth import Auth
from collector._http._client import HttpClient, RetrySettings
from collector._http._ledger import account_key
from collector._http._quotas import check_route
from collector._http._ratelimit import RateLimit

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class EgressBudget(BaseModel):
    """Stop downloading from a tenant before it has downloaded `bytes` within the last `days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bytes: int = Field(gt=0, description="bytes allowed in the rolling window")
    days: float = Field(default=5.0, gt=0, le=366, description="length of the rolling window")


class SourceSettings(BaseModel):
    """Settings every `[[sources]]` entry accepts; a plugin subclasses this to add its own.

    Unknown keys are errors (a misspelt key would otherwise be silently ignored).
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    plugin: str = Field(description="which source type collects this entry")
    tenant: str = Field(description="this entry's name: letters, digits, . _ -")
    enabled: bool = Field(default=True, description="false keeps the entry but skips it in runs")
    audio: bool = Field(default=True, description="download audio")
    transcripts: bool = Field(default=True, description="fetch transcripts")
    rate_limit: RateLimit | None = Field(default=None, description="the plugin's default when absent")
    rate_limits: dict[Annotated[str, AfterValidator(check_route)], RateLimit] = Field(
        default_factory=dict,
        description="a limit per route category the plugin names (e.g. downloads = { requests = 5, "
                    "per_seconds = 1 }), spent besides `rate_limit`; over the plugin's defaults")
    max_in_flight: int | None = Field(default=None, ge=1, le=64,
                                      description="concurrent requests to this tenant "
                                                  "(the plugin's default when absent)")
    download_workers: int = Field(default=2, ge=1, le=32, description="concurrent audio downloads")
    timeout: float = Field(default=60.0, gt=0, le=3600, description="seconds per request phase")
    download_min_rate: int = Field(
        default=4096, ge=0, le=10**10,
        description="bytes per second a download must average over download_rate_interval; 0 turns the check off")
    download_rate_interval: float = Field(
        default=30.0, gt=0, le=3600, description="seconds the download rate is averaged over (sliding)")
    download_idle_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="seconds a download may go without receiving a byte")
    retry: RetrySettings = RetrySettings()
    max_attempts: int = Field(default=5, ge=1, le=100, description="runs an item is tried before giving up")
    transcript_wait_days: float = Field(
        default=7.0, ge=0, le=365,
        description="how long a transcript the vendor is still preparing is waited for, from the call's end")
    media_wait_days: float = Field(
        default=7.0, ge=0, le=365,
        description="how long audio the vendor is still processing is waited for, from the call's end (audio "
                    "first listed later than that still gets up to a day from its listing)")
    egress_budget: EgressBudget | None = None
    object_lock_days: float | None = Field(
        default=None, gt=0, le=36_500,
        description="keep this source's audio under an S3 Object Lock (compliance mode) this many days")
    timezone: str = Field(default="UTC", description="the tenant's zone: its days (vendor counts, report) run "
                                                     "from midnight to midnight there")
    count_after_hours: float | None = Field(
        default=None, ge=0, le=24 * 60,
        description="a day is settled, and the vendor's count of it asked for, this long after it ends "
                    "(default: the plugin's)")
    counts_per_run: int = Field(default=31, ge=0, le=1000,
                                description="the vendor's count is asked for at most this often per run (0: never)")
    recount_days: int | None = Field(
        default=None, ge=0, le=366,
        description="the latest this many settled days are counted again on every run, after the days not "
                    "counted yet, so that a recording the vendor adds to a counted day later shows in the report "
                    "(default: the plugin's; 0: a day is counted once)")
    revisit_interval: Annotated[timedelta, Duration(maximum=timedelta(days=30))] | None = Field(
        default=None, description="least time between two visits of a parent whose children are still to "
                                  "come (seconds or ISO 8601; default: the plugin's)")

    @field_validator("tenant")
    @classmethod
    def _valid_tenant(cls, value: str) -> str:
        if not valid_name(value):
            raise ValueError("expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'UTC' or 'Europe/London'") from None
        return value

    @property
    def transcript_wait(self) -> timedelta:
        """`transcript_wait_days` as a timedelta (counted from the call's end)."""
        return timedelta(days=self.transcript_wait_days)

    @property
    def media_wait(self) -> timedelta:
        """`media_wait_days` as a timedelta (counted like `transcript_wait`, from the call's end;
        audio first listed later than that still gets up to a day from its listing)."""
        return timedelta(days=self.media_wait_days)


@dataclass(frozen=True)
class ListingCount:
    """What the vendor said one listing window holds, kept as evidence beside our own count.

    `vendor_count` is the vendor's own number for [start, end) (a `total`, or the length of a
    window's complete answer); None when it gives none. `listed` is how many distinct items we
    received for it. `collector report --json` lists every window with both; a day's own count
    comes from `Source.vendor_count`.
    """

    start: datetime
    end: datetime
    vendor_count: int | None
    listed: int


@dataclass(frozen=True)
class VendorCount:
    """The vendor's own count of the recordings in one period, as `Source.vendor_count` states it.

    `count` is how many recordings the vendor says it holds in the period (its own `total`, say).
    `ids`, when the vendor named them, are the vendor ids counted (all of them, as the plugin stores
    recordings under them): the report then names any it never listed to us. `method` says how
    the count was made ("search total", "second listing"); it is kept beside the count as evidence.
    """

    count: int
    ids: frozenset[str] | None = None
    method: str = "vendor total"

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"a vendor count must be a whole number of at least 0, not {self.count!r}")
        if self.ids is not None and len(self.ids) != self.count:
            raise ValueError(f"a vendor count of {self.count} names {len(self.ids)} ids: give every id counted")


@dataclass
class Page:
    """A page of raw vendor items and the sync state that holds once they are committed.

    `state` None keeps the previous state. An empty `items` with a new state is normal: it
    records progress (a cursor that moved, a time window that closed with nothing in it). The
    core copies `state` (as JSON) the moment the page is yielded, so the source may go on
    changing its own dicts; a state that is not plain JSON stops the tenant with a message.
    """

    items: Sequence[Mapping[str, Any]]
    state: dict[str, Any] | None = None
    listing: ListingCount | None = None
    """The vendor's count for the window this page completes, if the source knows one."""


@dataclass(frozen=True)
class AudioExpectation:
    """What a downloaded file must be for this recording, as the vendor states it; None means "don't check".

    The vendor's own statements are independent evidence that the file arrived intact (see
    `collector._storage._proof`): `size` (the announced bytes, e.g. a listing's `size`: the file must have
    exactly as many), `checksum` (the vendor's hash of the file as `"<algorithm>:<hex>"`, any
    algorithm `hashlib` knows, e.g. `"sha256:9f86..."` or `"md5:..."`: it must match), and
    `duration` (seconds, compared within `duration_tolerance` plus one frame of the format: a
    vendor that states milliseconds can say so with a smaller tolerance; `duration_is_upper_bound`
    when it is the call's length and the recording may be shorter). A file that fails any of them is
    quarantined with the reason.

    A checksum the vendor states only with the download itself is read from its answer: the
    standard `Repr-Digest`, `Content-Digest`, `Digest` and `Content-MD5` headers always, and the
    vendor's own header named by `checksum_header` as `"<algorithm>:<Header-Name>"` (e.g.
    `"sha256:X-Vendor-Sha256"`; hex or base64). `expected_audio` is called once the download has
    been read, so a size or checksum a batch answer gave can be looked up there too.
    """

    duration: float | None = None
    channels: int | None = None
    sample_rate: int | None = None
    codec: str | None = None
    size: int | None = None
    checksum: str | None = None
    checksum_header: str | None = None
    duration_tolerance: float = 1.0
    duration_is_upper_bound: bool = False
    """The listed duration is the call's length, not the recording's (recording starts after the call
    does, or stops at a transfer): a shorter file is fine, only a longer one is rejected."""


@dataclass
class SourceContext:
    """What the core gives a source: its names, an HTTP client factory, a logger, an audit trail."""

    source: str
    tenant: str
    http_factory: Callable[[str, Auth | None, dict[str, str] | None], HttpClient]
    log: logging.LoggerAdapter[logging.Logger]
    audit: Callable[[RecordingKey, str, str], Awaitable[None]]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    restart_from: datetime | None = None
    """Set when an operator ran `collector reset SOURCE/TENANT --from DATE`: the sync state is
    gone (`sync` gets None) and this run should list from DATE instead of the configured start.
    `Incremental` and `TimeWindows.sweep` take it as `restart_from=`."""

    def http(self, base_url: str, auth: Auth | None = None, *, headers: dict[str, str] | None = None) -> HttpClient:
        """An HTTP client for `base_url`: shares the tenant's rate limit, concurrency limit, retry
        policy and counters with every other client of the tenant; `auth` is put on its requests."""
        return self.http_factory(base_url, auth, headers)

    def note(self, text: str) -> None:
        """Add a sentence to this tenant's run summary (e.g. "metadata and transcripts only")."""
        if text not in self.notes:
            self.notes.append(text)

    def warn(self, text: str) -> None:
        """Report something that may leave data missing until a later run: the tenant's run ends
        "partial" (exit code 1) with this sentence, but nothing stops."""
        if text not in self.warnings:
            self.warnings.append(text)


class Source(abc.ABC):
    """One tenant of one vendor. Subclass it, set `name` and `Settings`, register it with a hook."""

    name: ClassVar[str]
    """The value of `plugin = "..."` in a `[[sources]]` entry; unique across installed plugins."""

    Settings: ClassVar[type[SourceSettings]] = SourceSettings
    """The pydantic model that validates this source's `[[sources]]` entries."""

    default_rate_limit: ClassVar[RateLimit] = RateLimit(requests=10, per_seconds=1)
    """Used when an entry sets no `rate_limit`: keep it at or below what the vendor documents."""

    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {}
    """Limits of the route categories the plugin names with `route=` (e.g. `{"downloads":
    RateLimit(requests=5, per_seconds=1)}`), each spent besides the tenant's `default_rate_limit`;
    an entry's `rate_limits` overrides them route by route."""

    default_max_in_flight: ClassVar[int] = 4
    """Requests in flight at once per tenant when an entry sets no `max_in_flight`: the vendor's
    documented concurrency limit, if it has one."""

    transcript_batch_size: int = 1
    """How many recordings `fetch_transcripts` receives at once (a class default; an instance may
    set its own, e.g. from its settings)."""

    default_count_after_hours: ClassVar[float] = 6.0
    """When an entry sets no `count_after_hours`: how long after a day ends the vendor's count of it
    is asked for. Keep it beyond how late the vendor lists a recording, so the day is complete."""

    default_recount_days: ClassVar[int] = 0
    """When an entry sets no `recount_days`: how many of the latest settled days are counted again
    on every run (a late insert into a day already counted then reads short in `report`). Worth it
    when a count is one cheap request (a `total`); 0 when counting re-lists the day."""

    def __init__(self, settings: SourceSettings, context: SourceContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def account_identity(cls, settings: SourceSettings) -> tuple[str, ...]:
        """What identifies the vendor account whose rate limit an entry spends, as the vendor counts it.

        Entries (and processes on the machine, and cluster workers) whose plugin and identity are
        equal share one set of rate-limit slots (see `collector._http._ledger`); an empty identity means
        "this entry's own". The default is every URL field of the settings (names ending in `url`)
        written in one canonical way (`account_url`: `localhost`, `127.0.0.1` and `[::1]` alike,
        default ports and trailing slashes dropped) and every secret in them. Override it to say
        what the vendor really limits: the tenant's host whatever the credential (Xima), the account
        id (Focus), an organisation across tenants. Only a hash of it is ever stored or shown.
        """
        urls = sorted(f"{name}={account_url(value)}" for name, value in settings
                      if name.endswith("url") and isinstance(value, str))
        return (*urls, *sorted(_secret_values(settings)))

    @classmethod
    def account_key(cls, settings: SourceSettings) -> str | None:
        """The name of the shared rate limit: a SHA-256 over the plugin and `account_identity`, or
        None when the identity is empty."""
        identity = cls.account_identity(settings)
        return account_key(cls.name, *identity) if identity else None

    @classmethod
    def route_limits(cls, settings: SourceSettings) -> dict[str, RateLimit]:
        """The limit of each route category: the plugin's defaults, overridden by the entry's `rate_limits`."""
        return {**cls.default_rate_limits, **settings.rate_limits}

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """This tenant's logger (messages are redacted and tagged with source and tenant)."""
        return self.context.log

    @abc.abstractmethod
    def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Yield pages of new or changed items since `state` (None on the first run)."""

    @abc.abstractmethod
    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording | Revisit]:
        """Map one raw vendor item to recordings; raise (any exception) to quarantine it.

        An item whose children the vendor attaches later may also give a `Revisit` (beside the
        recordings it already has): the core visits it again through `children` until it settles.
        """

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        """The vendor id of a raw item, for listing it in quarantine when it cannot be parsed.

        The default reads `item["id"]`; override it when the vendor names its id otherwise.
        """
        value = item.get("id") if isinstance(item, Mapping) else None
        return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None

    async def fetch_transcripts(self, recordings: Sequence[Recording]) -> Mapping[str, TranscriptResult]:
        """Transcripts by vendor id: a `Transcript`, or a `TranscriptState` saying none (yet).

        Ids missing from the answer count as not ready. The default has no transcripts at all.
        """
        from collector._base._model import TranscriptState

        return {r.vendor_id: TranscriptState.NONE for r in recordings}

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """Open the recording's audio as a streaming response (use `HttpClient.stream`).

        Raise `ItemUnavailable` when the vendor has no audio for it, `ItemNotReady` while it is
        still processing. The default has no audio.
        """
        from collector._base._errors import ItemUnavailable

        raise ItemUnavailable(f"The {self.name} plugin does not download audio.")

    def expected_audio(self, recording: Recording) -> AudioExpectation:
        """What the downloaded file must be; by default, as long as the vendor says the call was and
        exactly as large as it announced (`media_size`).

        Override it to check the codec, channels, sample rate or a checksum the vendor documents,
        or to drop `size` where the vendor's announced size is not the file's exact length.
        """
        return AudioExpectation(duration=recording.duration, size=recording.media_size)

    async def vendor_count(self, start: datetime, end: datetime) -> VendorCount | None:
        """The vendor's own count of the recordings that start in [start, end), or None when it
        cannot count (the default).

        The core asks for whole days in the tenant's `timezone` (and for a stretch of days in one
        call where the catalog holds none), once each, newest first, after a run whose listing
        completed, through the source's own HTTP client (so the tenant's rate limit covers it).
        Count what `sync` would list for the period, as `parse` dates it. Raise on an error or an
        answer that makes no sense: the core logs it and asks again next run.
        """
        return None

    def listing_period(self) -> tuple[datetime | None, datetime | None]:
        """The period this tenant's listing covers as configured, [start, end); None where open.

        Days are counted from `start` (a partial first day only from `start` on), or, when it is
        None, from the day of the oldest recording stored; nothing is counted from `end` on.
        """
        return None, None

    # -- parents whose children come later (see `collector.Revisit`) ------------------------------------

    default_revisit_interval: ClassVar[timedelta] = timedelta(minutes=15)
    """When an entry sets no `revisit_interval`: the least time between two visits of a parent
    whose children are still to come (its first visit is at once, or from its `not_before`)."""

    async def children(self, parent: Revisit) -> Children:
        """Visit a parent that `parse` returned a `Revisit` for: its children found so far.

        Called for each pending parent once it is due (when its page is committed, or from its
        `not_before`; then `revisit_interval` after each visit), through the tenant's rate limits,
        beside the listing; a run whose listing has ended visits each parent at most once. Return
        `Children(items, complete=...)`: the items are mapped by `parse` and
        committed in one transaction with the visit; `complete=True` settles the parent. Raise
        `ItemNotReady` for "nothing yet", `ItemUnavailable` if the vendor no longer has the
        parent (final); any other error is recorded and the parent is visited again later. A
        source that returns `Revisit`s must implement this.
        """
        raise NotImplementedError

    # -- vendor-side batch downloads ------------------------------------------------------------------

    audio_batch_size: int = 1
    """How many recordings `open_audio_batch` receives at most (the vendor's batch size); a class
    default an instance may change (from its settings)."""

    audio_batch_lifetime: timedelta | None = None
    """How long the downloads a batch opened stay usable (the vendor's URL lifetime), if known:
    before a batch's downloads are this old (less a tenth, at most a minute), the core asks
    `open_audio_batch` again for those not yet started."""

    audio_batch_expired_on: tuple[int, ...] = (400, 401, 403, 410)
    """Statuses with which a batch's download means "this URL has expired": the core asks
    `open_audio_batch` again for it and the batch's downloads not yet started (twice at most per
    recording in a run; then the recording is tried again on the next run, an attempt counted)."""

    async def open_audio_batch(
            self, recordings: Sequence[Recording],
    ) -> Mapping[str, AbstractAsyncContextManager[httpx.Response] | Exception]:
        """Open the audio of up to `audio_batch_size` recordings at once (a vendor's batch job).

        Implement it instead of `open_audio` when the vendor's recommended path is a batch: submit
        the ids, wait until the job is ready, and return, by vendor id, one opener per recording
        (an async context manager yielding a streaming response, as `open_audio` returns: e.g.
        `self.http.stream("GET", url, authenticate=False)` for a pre-signed URL) or the error
        that recording failed with (any taxonomy error: `ItemNotReady`, `ItemUnavailable`, ...);
        an id left out is retried next run. The core enters each opener once, in turn, and keeps
        its promises for each file as for `open_audio` (rate limits, the egress budget reserved
        before the batch is asked for, pace limits, verification and evidence, resume after a
        kill). It asks again, for fewer recordings, to retry a broken transfer and to renew
        expired URLs (`audio_batch_lifetime`, `audio_batch_expired_on`). An error raised here
        counts for every recording of the batch.
        """
        raise NotImplementedError

    async def aclose(self) -> None:  # noqa: B027 - optional: most sources hold nothing more
        """Release what the source holds beyond its HTTP clients (which the core closes)."""


def implements(source: Source, hook: str) -> bool:
    """Whether the source's class overrides `hook` (an optional hook such as `children` or
    `open_audio_batch`, whose base version only raises `NotImplementedError`)."""
    return getattr(type(source), hook) is not getattr(Source, hook)


def _secret_values(value: Any) -> Iterator[str]:
    """Every secret inside a settings value (models, mappings and sequences walked)."""
    if isinstance(value, Secret):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for _, field in value:
            yield from _secret_values(field)
    elif isinstance(value, Mapping):
        for field in value.values():
            yield from _secret_values(field)
    elif isinstance(value, (list, tuple)):
        for field in value:
            yield from _secret_values(field)


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def account_url(url: str) -> str:
    """A URL written one canonical way, for `Source.account_identity`: scheme and host in lower case,
    every loopback spelling as `loopback`, the scheme's default port and a trailing slash dropped.
    Two spellings of one server then name one account; it never resolves names (a host behind a
    CDN may answer on many addresses)."""
    try:
        parts = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        return url
    host = parts.host.lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost") or host.startswith("127."):
        host = "loopback"
    scheme = parts.scheme.lower()
    port = "" if parts.port in (None, _DEFAULT_PORTS.get(scheme)) else f":{parts.port}"
    return f"{scheme}://{host}{port}{parts.path.rstrip('/')}"


def http_url(value: str, *, example: str) -> str:
    """Check a configured base or token URL: http(s), with a host, and no `user:password@`.

    Credentials in a URL would travel into request lines, logs and error messages, which must
    never hold a secret; a plugin's settings model calls this from its URL validators. Returns
    the URL without a trailing slash.
    """
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"expected an http(s) URL without credentials, e.g. {example}")
    return value.rstrip("/")


def valid_name(name: str) -> bool:
    """True if `name` is usable as a source name or tenant (it appears in paths and keys)."""
    return bool(_NAME.match(name))
