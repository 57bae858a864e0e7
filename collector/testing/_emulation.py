"""What a plugin's emulation is: `Emulation` (its servers, tenants and data, as the conformance suite
drives them), the traits it declares about its vendor, and `Expectations` (what a complete
collection must produce).

Each trait class holds the declarations that switch on a group of checks, and the methods an
emulation implements for them; the checks themselves live beside the module that describes the
group: `ListingTraits` (`_listing_checks`), `TokenEmulation` (`_conformance_tokens`), `WorkShapes`
(`_work_checks`), `HttpShapes` (`_http_checks`). The traits are here, not there, because
`Emulation` inherits them and every check receives an `Emulation`.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.emulator import DailyQuota, EmulatorServer, FixedWindowLimit, KindRateLimit, TokenAudit


class ListingTraits:
    """What an emulated vendor's listing does beyond the ordinary (mixed into `Emulation`)."""

    back_dated: ClassVar[bool] = False
    """The vendor lists some arrivals under a time older than any overlap (a recording attached to
    a call hours later, listed under the call's start): implement `add_back_dated`."""

    change_feed: ClassVar[bool] = False
    """The vendor reports deletions (in a change feed): implement `delete`."""

    expiring_cursors: ClassVar[bool] = False
    """The vendor's page tokens, cursors and sync tokens expire: implement `expire_tokens`."""

    def add_back_dated(self, count: int) -> None:
        """Make `count` recordings arrive on every tenant now, listed under a time older than anything
        the plugin's overlap or lookback re-reads (but after its configured start)."""
        raise NotImplementedError

    def delete(self, count: int) -> dict[str, set[str]]:
        """Delete `count` recordings of every tenant that the store already holds (the suite calls it
        after a complete run), as the vendor reports it; return their vendor ids (as the plugin stores
        them) per tenant. `expected()` keeps them: the store keeps what it holds."""
        raise NotImplementedError

    def expire_tokens(self) -> None:
        """From now on, refuse every page token, cursor and sync token issued so far, as the vendor does
        with expired ones (tokens issued later work)."""
        raise NotImplementedError


class TokenEmulation:
    """The token traits an `Emulation` declares (see the module's description)."""

    short_tokens: ClassVar[bool] = False
    """The vendor's access tokens are short-lived: the emulator issues them with a lifetime of a
    few seconds during the suite; implement `token_audit`."""

    token_rotation: ClassVar[bool] = False
    """The vendor's refresh tokens are single-use and rotate: implement `token_audit`, and keep
    the plugin's token file (its `TokenFile`) in a folder of the emulation's own, outside the
    test's `tmp_path` (which the secret scan reads), removed by `close()`."""

    def token_audit(self) -> TokenAudit:
        """What the vendor's token endpoint(s) saw: `TokenEndpoint.audit()`, added up with `+`."""
        raise NotImplementedError


class WorkShapes:
    """What an emulation declares, and implements, for a vendor whose work is not one recording at a
    time (`Emulation` inherits it); each declaration switches on checks in `WorkShapeChecks`.

    - `late_children = True`: the vendor lists a parent (a conversation, a call) before its children
      (the recordings) exist, and attaches them later; the plugin returns a `Revisit` for such a
      parent. Implement `add_open_parents` and `attach_children_later` (the emulation's other
      parents have all their children already). The checks: children attached hours after their
      parent (far outside any listing overlap) are collected by a later run, settled parents are not
      visited again, and a run killed while it visits parents resumes complete. A plugin that only
      looks at a parent when it is listed fails them.
    - `batch_downloads = N`: the vendor's batch size for download jobs (its emulator refuses a bigger
      batch). Implement `largest_batch`, `fail_in_next_batch` and `expire_batch_urls` (and
      `audio_bodies` if the media is not served by a route of kind "audio"). The checks: every audio
      file is stored and none is downloaded twice, N is never exceeded, a recording that fails in a
      batch fails alone, and URLs that expired are renewed.
    """

    late_children: ClassVar[bool] = False
    """Parents are listed before their children exist (see the class docstring)."""

    batch_downloads: ClassVar[int | None] = None
    """The most recordings the vendor takes in one batch download job (see the class docstring)."""

    def add_open_parents(self, count: int) -> None:
        """Make `count` parents arrive on every tenant now, listed with no children yet (`late_children`)."""
        raise NotImplementedError

    def attach_children_later(self, count: int) -> None:
        """Attach `count` children in all to every tenant's open parents now, as the vendor does hours
        after the parents started (each child dated within its parent, far outside any listing
        overlap), and close those parents: no more children will come (`late_children`)."""
        raise NotImplementedError

    def largest_batch(self) -> int:
        """The most recordings any tenant asked for in one batch download job (`batch_downloads`)."""
        raise NotImplementedError

    def fail_in_next_batch(self, count: int) -> None:
        """Answer `count` recordings of every tenant's next batch job with the vendor's own per-item
        error for a transient failure; the batch's other recordings succeed (`batch_downloads`)."""
        raise NotImplementedError

    def expire_batch_urls(self, count: int) -> None:
        """Hand out the next `count` download URLs of batch jobs already expired (`batch_downloads`)."""
        raise NotImplementedError

    def audio_bodies(self) -> list[str]:
        """The sha256 of every audio body the emulators sent whole: by default what the servers
        counted on their media routes, of kind "audio" or "storage" (`EmulatorServer.served_audio`)."""
        servers: list[EmulatorServer] = self.servers()  # type: ignore[attr-defined]
        return [digest for server in servers for digests in server.served_audio.values() for digest in digests]


class HttpShapes:
    """What an emulation declares about its vendor's HTTP shapes; each declaration switches on a check.

    The defaults of the methods use the emulator kit on the first of `servers()` (the API host):
    override one when the vendor's shape is not the kit's.
    """

    not_ready_estimates: ClassVar[bool] = False
    """The vendor answers "not ready yet" with an estimate of when (a Retry-After, a body field):
    implement `add_ready_in`. Checked: a short estimate is waited within the run (no retry, no
    waiting left); a longer one leaves the item waiting, not asked again before the estimate."""

    gone_media: ClassVar[bool] = False
    """The vendor answers media it deleted after listing it with a "gone" answer (a 404 or 410, a 400
    with its own code): implement `add_gone`. Checked: such media is unavailable at once, not retried."""

    transient_answers: ClassVar[bool] = False
    """The vendor sometimes answers "try again" in a shape that is no error status (an HTML page, an
    error code documented as temporary). Checked: those answers are retried, nothing is quarantined.
    The default `inject_transient_answers` serves the kit's HTML page instead of media answers."""

    handed_out_urls: ClassVar[bool] = False
    """Media URLs are handed out in JSON (not by a redirect) and expire: implement
    `expire_signed_urls` and `credentials_leaked`. Checked: expired URLs are asked for again, no
    credential reaches the storage host."""

    rate_limit_headers: ClassVar[str | None] = None
    """The rate-limit headers the vendor sends (a `collector.emulator.HEADER_STYLES` style, e.g.
    "x-ratelimit"). Checked: with the vendor's limit far below the configured one, the client follows
    the headers: no 429, and no window of the vendor's sees more than its limit."""

    quota_route: ClassVar[str | None] = None
    """The route category (`route=`) of the calls a daily quota limits (e.g. "downloads"), whose
    emulator route kinds are `quota_kinds`. Checked: a quota's 429 pauses that route with no attempt
    spent while the listing goes on, a later run before the reset does not call it, and once the
    quota resets the collection completes."""

    quota_kinds: ClassVar[tuple[str, ...]] = ("audio",)
    """The emulator route kinds `quota_route` covers."""

    route_limits: ClassVar[dict[str, tuple[int, float]]] = {}
    """Limits per emulator route kind the vendor documents, as (requests, per_seconds), e.g.
    `{"audio": (5, 1.0)}`: the plugin's `default_rate_limits` must keep them. Checked with many
    downloads at once: no 429, no window beyond a limit."""

    media_kinds: ClassVar[tuple[str, ...]] = ("audio",)
    """The emulator route kinds of the requests that fetch media (counted by `media_requests`)."""

    def servers(self) -> list[EmulatorServer]:
        """The running emulator servers, the API host first (see `Emulation.servers`)."""
        raise NotImplementedError

    def add_ready_in(self, count: int, seconds: float) -> None:
        """Make `count` recordings arrive on every tenant whose media answers "not ready, ask again in
        about `seconds`" until `seconds` have passed, then is ready (see `not_ready_estimates`)."""
        raise NotImplementedError

    def add_gone(self, count: int) -> None:
        """Make `count` recordings arrive on every tenant, listed with media, whose media the vendor
        answers as gone (see `gone_media`)."""
        raise NotImplementedError

    def inject_transient_answers(self, count: int) -> None:
        """Answer the next `count` media requests with the vendor's "try again" (see `transient_answers`)."""
        for kind in self.media_kinds:
            self.servers()[0].faults.inject("html", kind=kind, count=count)

    def limit_by_headers(self, requests: int, per_seconds: float) -> FixedWindowLimit:
        """Limit every tenant to `requests` per fixed window of `per_seconds`, announced in the
        `rate_limit_headers` style on every answer of the API host (see `rate_limit_headers`)."""
        return self.servers()[0].add_limit(FixedWindowLimit(requests, per_seconds, headers=self.rate_limit_headers))

    def exhaust_quota(self, reset_in: float) -> None:
        """Spend every tenant's quota of `quota_kinds`: their requests answer 429 until `reset_in`
        seconds after the first refusal (see `quota_route`)."""
        quota = self.servers()[0].add_limit(DailyQuota(0, kinds=self.quota_kinds, reset_in=reset_in))
        self.__dict__.setdefault("_quotas", []).append(quota)

    def lift_quota(self) -> None:
        """Every quota is whole again."""
        for quota in self.__dict__.pop("_quotas", []):
            self.servers()[0].remove_limit(quota)

    def enforce_route_limits(self) -> list[KindRateLimit]:
        """Have the API host enforce `route_limits` (a 429 beyond each)."""
        return [self.servers()[0].add_limit(KindRateLimit(requests, seconds, kinds=(kind,)))
                for kind, (requests, seconds) in self.route_limits.items()]

    def media_requests(self) -> int:
        """How many media requests (`media_kinds`) the emulators have answered."""
        return sum(server.count(kind=kind) for server in self.servers() for kind in self.media_kinds)


@dataclass
class Expectations:
    """What a complete collection from an emulation must produce, per tenant name."""

    recordings: dict[str, set[str]]
    audio: dict[str, set[str]]
    quarantined_audio: dict[str, set[str]] = field(default_factory=dict)
    rejected_items: dict[str, int] = field(default_factory=dict)


class Emulation(ListingTraits, TokenEmulation, WorkShapes, HttpShapes, abc.ABC):
    """A plugin's emulator(s), running, with a few tenants, as the conformance suite drives them.

    Implement `sources`, `expected`, `add_recordings`, `add_history`, `revoke` and `secrets`, and
    list your running servers in `servers()`: faults, latency, throttling and the request counts
    are then handled here for every server. Declare what your vendor has with the class
    attributes below; the suite then checks those behaviours too.
    """

    processing: ClassVar[bool] = False
    """The vendor lists recordings whose media is still processing: implement `add_processing`
    and `finish_processing`."""

    redirects: ClassVar[bool] = False
    """Media is served by a redirect to a signed URL on another origin: implement
    `expire_signed_urls` and `credentials_leaked`."""

    concurrency_limit: ClassVar[int | None] = None
    """The vendor's documented limit on requests in flight per tenant (the emulator enforces it)."""

    listing_tolerance: ClassVar[int] = 0
    """How many more listing requests a second run may send for a bigger tenant: 0 for cursors and
    watermarks; a window planner may cross one window boundary between two runs."""

    _variables: list[tuple[str, str | None]]

    def secret(self, value: str, *, name: str | None = None) -> dict[str, str]:
        """Put a secret in an environment variable for the run and return its `{ env = ... }` reference.

        `close()` restores whatever the variable held before.
        """
        if not hasattr(self, "_variables"):
            self._variables = []
        variable = name or f"COLLECTOR_TEST_SECRET_{os.getpid()}_{id(self)}_{len(self._variables)}"
        self._variables.append((variable, os.environ.get(variable)))
        os.environ[variable] = value
        return {"env": variable}

    def servers(self) -> list[EmulatorServer]:
        """The running emulator servers (one per tenant, or one shared host)."""
        raise NotImplementedError

    @abc.abstractmethod
    def sources(self) -> list[dict[str, Any]]:
        """`[[sources]]` tables that collect every emulated tenant (secrets as `{ env = ... }`)."""

    @abc.abstractmethod
    def expected(self) -> Expectations:
        """What the store must hold after a complete collection of the current data."""

    @abc.abstractmethod
    def add_recordings(self, count: int) -> None:
        """Make `count` new recordings arrive on every tenant."""

    def add_history(self, count: int) -> None:
        """Give every tenant `count` more old recordings, dated before anything a later run re-reads
        (outside any lookback or overlap), as a bigger tenant would have."""
        raise NotImplementedError

    def add_late(self, count: int) -> None:
        """Make `count` recordings arrive on every tenant now, dated in the past but within the lateness
        the plugin is configured to catch (its lookback or overlap). Default: ordinary arrivals."""
        self.add_recordings(count)

    def arrive_during_listing(self, count: int) -> None:
        """Make `count` recordings arrive on every tenant right after the next listing request is answered."""
        self.servers()[0].after_request("metadata", lambda request: self.add_recordings(count))

    def revoke(self, tenant: str) -> None:
        """Make the vendor refuse the credentials of the tenant named `tenant` from now on."""
        raise NotImplementedError

    def add_processing(self, count: int) -> None:
        """Make `count` recordings arrive on every tenant whose media is still processing (see `processing`)."""
        raise NotImplementedError

    def finish_processing(self) -> None:
        """Every recording still processing is ready now."""
        raise NotImplementedError

    def expire_signed_urls(self, count: int) -> None:
        """Issue the next `count` signed media URLs already expired (see `redirects`)."""
        raise NotImplementedError

    def credentials_leaked(self) -> int:
        """How many requests reached the storage host carrying credentials (see `redirects`)."""
        return 0

    def listing_requests(self) -> int:
        """How many listing ("metadata") requests the emulators have answered."""
        return sum(server.count(kind="metadata") for server in self.servers())

    def peak_in_flight(self) -> int:
        """The most requests any tenant had in flight at once, at the servers that enforce a limit
        (a storage host that all tenants share, and no limit covers, is not one of them)."""
        servers = self.servers()
        limited = [server for server in servers if server.max_in_flight is not None] or servers
        return max((max(server.peak_in_flight.values(), default=0) for server in limited), default=0)

    def set_transient_faults(self, rate: float) -> None:
        """Fail a fraction `rate` of requests with transient faults (0 switches them off)."""
        for server in self.servers():
            if rate:
                server.faults.set_rate(rate)
            else:
                server.faults.clear()

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds` (to catch a run mid-way); 0 switches it off."""
        for server in self.servers():
            server.faults.slow_seconds = seconds
            if seconds:
                server.faults.set_rate(1.0, ["slow"])
            else:
                server.faults.clear()

    def throttled(self) -> int:
        """How many requests the emulators' own rate limits answered with 429 (not injected ones)."""
        return sum(1 for server in self.servers() for r in server.log if r.status == 429 and r.fault is None)

    @abc.abstractmethod
    def secrets(self) -> list[str]:
        """Every credential involved: configured keys and the tokens the emulator issued."""

    def close(self) -> None:
        """Stop the emulator(s) and undo any environment changes."""
        for server in self.servers():
            server.stop()
        for variable, previous in reversed(getattr(self, "_variables", [])):
            if previous is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = previous
