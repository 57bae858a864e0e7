"""The conformance suite every source plugin inherits, like rclone's fstests or Airbyte's standard tests.

A plugin's test module subclasses `SourceConformance`, names its source and implements
`start_emulation`, which starts the plugin's own emulator and returns an `Emulation`. The suite
then runs the plugin for real, over HTTP, and checks the promises users rely on:

- complete: after a run the store holds every recording and every audio file the emulator has;
- no duplicates: a re-run commits nothing new; new arrivals are picked up by the next run;
- resumable: a run killed with SIGKILL mid-way, then resumed, ends complete with no partial files;
- limits respected: the emulator's own rate limit never has to answer 429;
- faults survived: with transient faults switched on (5xx, dropped connections, malformed JSON,
  injected 429s) the collection still completes;
- bad data quarantined: malformed items and bad audio are quarantined with a reason, hostile ids
  are stored safely inside the store, the rest of the run goes on;
- no secret (key or token) reaches the store, the catalog or the logs;
- incremental: a second run sends as many listing requests for a big tenant as for a small one;
- wrong credentials stop that tenant with a clear message and leave the others alone;
- arrivals while a resumed run lists, and late arrivals with old timestamps, are not lost;
- and what the emulation declares its vendor has: items still processing at first are collected
  once ready, without spending attempts (`processing`); media behind redirects to signed URLs
  arrives, no credential reaches the storage host, expired URLs are asked for again
  (`redirects`); the vendor's limit on concurrent requests is never exceeded (`concurrency_limit`);
  and the HTTP shapes of `HttpShapes`: "not ready" with an estimate (`not_ready_estimates`), media
  gone after listing (`gone_media`), "try again" answers (`transient_answers`), media URLs handed
  out in JSON (`handed_out_urls`), the vendor's rate-limit headers (`rate_limit_headers`), a quota
  that pauses a route (`quota_route`) and limits per route (`route_limits`).
"""

from __future__ import annotations

import abc
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .._plugins import Plugins
from ..emulator import DailyQuota, EmulatorServer, FixedWindowLimit, KindRateLimit
from .._store import CATALOG_NAME
from .._exits import EXIT_OK, EXIT_PARTIAL, EXIT_WAITING
from ._harness import (
    StoreContents,
    collect,
    find_secrets,
    inspect_store,
    query_catalog,
    scale_out,
    wait_until_committed,
    write_config,
)


# == HTTP shapes (issue 14): "not ready" with an estimate, gone media, transient answers, URLs handed
# == out in JSON, the vendor's rate-limit headers, route quotas and route limits. One block: the
# == declarations an emulation switches checks on with (`HttpShapes`, a base of `Emulation`) and the
# == checks (`HttpShapeChecks`, a base of `SourceConformance`). See the README's "Toolkit" sections.

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


class HttpShapeChecks:
    """The checks `HttpShapes` declarations switch on (part of every `SourceConformance`)."""

    def test_not_ready_with_a_short_estimate_is_waited_within_the_run(self, tmp_path: Path,
                                                                      emulation: Emulation) -> None:
        if not emulation.not_ready_estimates:
            pytest.skip("the emulation declares no estimates with its not-ready answers")
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_ready_in(2, 1.0)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert all(s.waiting == 0 and s.retried == 0 for s in result.summaries), "a not-ready answer was a retry"
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_not_ready_with_a_long_estimate_waits_without_asking_early(self, tmp_path: Path,
                                                                       emulation: Emulation) -> None:
        if not emulation.not_ready_estimates:
            pytest.skip("the emulation declares no estimates with its not-ready answers")
        retry = {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1, "ready_wait": 0.5}
        config = SourceConformance.config_for(tmp_path, emulation, retry=retry, max_attempts=1)
        collect(config)
        emulation.add_ready_in(2, 3.0)
        waiting = collect(config)
        assert waiting.exit_code == EXIT_WAITING, [s.as_dict() for s in waiting.summaries]
        assert all(s.waiting >= 2 and s.retried == 0 and s.failed == 0 for s in waiting.summaries)
        estimates = [row[0] for row in query_catalog(tmp_path / "store",
                                                     "SELECT not_before FROM audio WHERE status='waiting'")]
        assert estimates and all(estimates), "the vendor's estimate was not kept with the waiting items"
        asked = emulation.media_requests()
        collect(config)
        assert emulation.media_requests() == asked, "a run asked for media before the vendor's estimate"
        _sleep_until(max(estimates))
        done = collect(config)
        assert done.exit_code == EXIT_OK, [s.as_dict() for s in done.summaries]
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_gone_media_is_unavailable_at_once(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.gone_media:
            pytest.skip("the emulation declares no media that is gone after being listed")
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_gone(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert all(s.retried == 0 for s in result.summaries), [s.as_dict() for s in result.summaries]
        gone = dict(query_catalog(tmp_path / "store", "SELECT tenant, COUNT(*) FROM audio WHERE status='unavailable' "
                                                      "AND attempts=1 GROUP BY tenant"))
        assert all(gone.get(s.tenant, 0) >= 2 for s in result.summaries), gone
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_transient_answers_are_retried_not_quarantined(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.transient_answers:
            pytest.skip("the emulation declares no \"try again\" answers")
        emulation.inject_transient_answers(3)
        result = collect(SourceConformance.config_for(tmp_path, emulation))
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert sum(s.retried for s in result.summaries) >= 3, "the \"try again\" answers were not retried"
        assert query_catalog(tmp_path / "store", "SELECT reason FROM quarantine") == []
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_handed_out_urls_are_renewed_without_credentials(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.handed_out_urls:
            pytest.skip("the emulation declares no media URLs handed out in JSON")
        config = SourceConformance.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(2)
        emulation.expire_signed_urls(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        assert emulation.credentials_leaked() == 0, "credentials were sent to the storage host"

    def test_the_vendors_rate_limit_headers_are_followed(self, tmp_path: Path, emulation: Emulation) -> None:
        if emulation.rate_limit_headers is None:
            pytest.skip("the emulation declares no rate-limit headers")
        emulation.add_recordings(6)
        window = emulation.limit_by_headers(6, 1.0)
        config = SourceConformance.config_for(tmp_path, emulation, rate_limit={"requests": 1000, "per_seconds": 1})
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert emulation.throttled() == 0, "the vendor had to refuse: its rate-limit headers were not followed"
        assert window.peak() <= 6
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_a_route_quota_pauses_the_route_until_it_resets(self, tmp_path: Path, emulation: Emulation) -> None:
        route = emulation.quota_route
        if route is None:
            pytest.skip("the emulation declares no route with a quota")
        retry = {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1, "quota_after": 1}
        config = SourceConformance.config_for(tmp_path, emulation, retry=retry)
        emulation.exhaust_quota(3.0)
        first = collect(config)
        paused = f"{route} paused by the vendor's quota until"
        for summary in first.summaries:
            assert summary.new_recordings > 0, "the listing stopped with the quota of another route"
            assert any(note.startswith(paused) for note in summary.notes), summary.as_dict()
        attempts = [row[0] for row in query_catalog(tmp_path / "store", "SELECT attempts FROM audio "
                                                    "WHERE status IN ('pending', 'waiting')")]
        assert attempts and not any(attempts), "items of the paused route spent attempts"
        pauses = query_catalog(tmp_path / "store", "SELECT route, until FROM route_pauses")
        assert {row[0] for row in pauses} == {route}
        asked = emulation.media_requests()
        second = collect(config)
        assert emulation.media_requests() == asked, "a run before the quota's reset called the paused route"
        assert all(any(note.startswith(paused) for note in s.notes) for s in second.summaries)
        _sleep_until(max(row[1] for row in pauses))
        emulation.lift_quota()
        final = collect(config)
        assert final.exit_code == EXIT_OK, [s.as_dict() for s in final.summaries]
        assert query_catalog(tmp_path / "store", "SELECT route FROM route_pauses") == []
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_route_limits_are_kept(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.route_limits:
            pytest.skip("the emulation declares no limits per route kind")
        limits = emulation.enforce_route_limits()
        emulation.add_recordings(10)
        result = collect(SourceConformance.config_for(tmp_path, emulation, download_workers=8))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert emulation.throttled() == 0, "a route's own limit was exceeded"
        for limit in limits:
            assert limit.max_in_window() <= limit.requests, limit.kinds
        SourceConformance.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())


def _sleep_until(moment: str) -> None:
    """Sleep until an instant the catalog holds (ISO 8601), and a little more."""
    when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    time.sleep(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()) + 0.2)

# == end of the HTTP shapes block


@dataclass
class Expectations:
    """What a complete collection from an emulation must produce, per tenant name."""

    recordings: dict[str, set[str]]
    audio: dict[str, set[str]]
    quarantined_audio: dict[str, set[str]] = field(default_factory=dict)
    rejected_items: dict[str, int] = field(default_factory=dict)


class Emulation(HttpShapes, abc.ABC):
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


class SourceConformance(HttpShapeChecks):
    """Inherit this in a plugin's tests and implement `start_emulation`; the tests come for free."""

    source_name: ClassVar[str]
    """The `plugin = "..."` name the plugin's source registers."""

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        """Start the plugin's emulator with a few tenants; with `bad_data`, include malformed items,
        hostile ids and bad audio as described by `Emulation.expected`."""
        raise NotImplementedError

    # -- fixtures and helpers ------------------------------------------------------------------

    @pytest.fixture(autouse=True, params=["embedded", "postgresql+s3"])
    def backend(self, request: pytest.FixtureRequest) -> Iterator[str]:
        """Every promise is checked on both stores: SQLite + a folder, and PostgreSQL + S3. The
        second needs the `postgres` and `s3` fixtures (`PostgresServer`, `S3Server`; see this
        repository's conftest.py): without them, or without the servers, it is skipped."""
        if request.param == "embedded":
            yield request.param
            return
        try:
            postgres, s3 = request.getfixturevalue("postgres"), request.getfixturevalue("s3")
        except pytest.FixtureLookupError:
            pytest.skip("no `postgres` and `s3` fixtures: the PostgreSQL + S3 store is not tested")
        with scale_out(postgres=postgres, s3=s3):
            yield request.param

    @pytest.fixture
    def emulation(self) -> Iterator[Emulation]:
        emulation = self.start_emulation()
        try:
            yield emulation
        finally:
            emulation.close()

    @pytest.fixture
    def bad_emulation(self) -> Iterator[Emulation]:
        emulation = self.start_emulation(bad_data=True)
        try:
            yield emulation
        finally:
            emulation.close()

    @staticmethod
    def config_for(tmp_path: Path, emulation: Emulation, **settings: Any) -> Path:
        """A config collecting the emulation into `tmp_path/store`, with `settings` on every source."""
        sources = [{**table, **settings} for table in emulation.sources()]
        return write_config(tmp_path, sources)

    @staticmethod
    def assert_complete(contents: StoreContents, expected: Expectations) -> None:
        """The store holds exactly the expected recordings and audio, and is consistent."""
        assert not contents.problems, contents.problems
        for tenant, ids in expected.recordings.items():
            assert contents.recordings[tenant] == ids, f"{tenant}: recordings differ"
        for tenant, ids in expected.audio.items():
            assert contents.audio[tenant] == ids, f"{tenant}: audio differs"

    # -- the promises --------------------------------------------------------------------------

    def test_plugin_is_installed(self) -> None:
        plugins = Plugins()
        assert self.source_name in plugins.sources
        info = plugins.infos[plugins.source_plugin[self.source_name]]
        assert info.distribution, "the plugin must be registered through an entry point"
        assert info.error is None

    def test_full_sync_is_complete(self, tmp_path: Path, emulation: Emulation) -> None:
        result = collect(self.config_for(tmp_path, emulation))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_rerun_collects_nothing_new(self, tmp_path: Path, emulation: Emulation) -> None:
        config = self.config_for(tmp_path, emulation)
        collect(config)
        before = inspect_store(tmp_path / "store")
        again = collect(config)
        assert again.exit_code == EXIT_OK
        assert all(s.nothing_new for s in again.summaries), [s.as_dict() for s in again.summaries]
        after = inspect_store(tmp_path / "store")
        assert after.recordings == before.recordings and after.audio == before.audio

    def test_new_arrivals_are_collected(self, tmp_path: Path, emulation: Emulation) -> None:
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(3)
        result = collect(config)
        assert result.exit_code == EXIT_OK
        assert all(s.new_recordings >= 3 for s in result.summaries)
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_rate_limit_is_respected(self, tmp_path: Path, emulation: Emulation) -> None:
        result = collect(self.config_for(tmp_path, emulation))
        assert result.exit_code == EXIT_OK
        assert emulation.throttled() == 0, "the emulator had to answer 429: the client exceeded its limit"

    def test_transient_faults_are_survived(self, tmp_path: Path, emulation: Emulation) -> None:
        emulation.set_transient_faults(0.15)
        config = self.config_for(tmp_path, emulation, retry={"attempts": 6, "initial_wait": 0.01, "max_wait": 0.1})
        results = [collect(config) for _ in range(3)]
        assert any(s.retried for r in results for s in r.summaries), "no fault was retried: faults are not on"
        emulation.set_transient_faults(0.0)
        final = collect(config)
        assert final.exit_code == EXIT_OK
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_bad_data_is_quarantined(self, tmp_path: Path, bad_emulation: Emulation) -> None:
        config = self.config_for(tmp_path, bad_emulation, max_attempts=2)
        first = collect(config)
        assert first.exit_code == EXIT_PARTIAL, (first.exit_code, first.store_failure, [s.messages for s in first.summaries])
        collect(config)
        contents = inspect_store(tmp_path / "store")
        expected = bad_emulation.expected()
        self.assert_complete(contents, expected)
        for tenant, ids in expected.quarantined_audio.items():
            for vendor_id in ids:
                assert contents.audio_status[tenant].get(vendor_id) == "quarantined", (tenant, vendor_id)
        for tenant, count in expected.rejected_items.items():
            assert contents.quarantined_items[tenant] == count, tenant
        reasons = [row[0] for row in query_catalog(tmp_path / "store", "SELECT reason FROM quarantine")]
        assert reasons and all(reason and reason.endswith(".") for reason in reasons), reasons

    def test_killed_run_resumes(self, tmp_path: Path, emulation: Emulation) -> None:
        emulation.add_recordings(20)
        emulation.set_latency(0.02)
        config = self.config_for(tmp_path, emulation)
        self._kill_mid_run(tmp_path, emulation, config)
        emulation.set_latency(0.0)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    @staticmethod
    def _kill_mid_run(tmp_path: Path, emulation: Emulation, config: Path) -> None:
        """Run `collector run` in a subprocess and SIGKILL it once it has committed some work."""
        log_file = tmp_path / "killed-run.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                       stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
            try:
                has_audio = any(emulation.expected().audio.values())
                wait_until_committed(tmp_path / "store" / CATALOG_NAME, process, recordings=3,
                                     audio=3 if has_audio else 0)
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait()
        assert process.returncode == -signal.SIGKILL, log_file.read_text()

    def test_second_run_is_incremental(self, tmp_path: Path, emulation: Emulation) -> None:
        small = self.config_for(tmp_path / "small", emulation)
        collect(small)
        before = emulation.listing_requests()
        collect(small)
        for_small = emulation.listing_requests() - before
        emulation.add_history(40)
        big = self.config_for(tmp_path / "big", emulation)
        collect(big)
        before = emulation.listing_requests()
        again = collect(big)
        for_big = emulation.listing_requests() - before
        assert again.exit_code == EXIT_OK and all(s.nothing_new for s in again.summaries)
        assert for_big <= for_small + emulation.listing_tolerance, (
            f"a second run sent {for_big} listing requests for a tenant 40 recordings bigger, {for_small} before: "
            "it lists everything again instead of what is new")

    def test_wrong_credentials_stop_only_that_tenant(self, tmp_path: Path, emulation: Emulation) -> None:
        config = self.config_for(tmp_path, emulation)
        names = [table["tenant"] for table in emulation.sources()]
        emulation.revoke(names[0])
        result = collect(config)
        by_tenant = {s.tenant: s for s in result.summaries}
        assert result.exit_code == EXIT_PARTIAL
        refused = by_tenant[names[0]]
        assert refused.status.value == "stopped", refused.as_dict()
        assert any(re.search(r"credential|refused|token|key|password", m, re.IGNORECASE) for m in refused.messages), \
            refused.messages
        for name in names[1:]:
            assert by_tenant[name].status.value == "ok", by_tenant[name].as_dict()

    def test_arrivals_during_a_resumed_run_are_not_lost(self, tmp_path: Path, emulation: Emulation) -> None:
        emulation.add_recordings(12)
        emulation.set_latency(0.02)
        config = self.config_for(tmp_path, emulation)
        self._kill_mid_run(tmp_path, emulation, config)
        emulation.set_latency(0.0)
        emulation.arrive_during_listing(3)
        collect(config)
        final = collect(config)
        assert final.exit_code == EXIT_OK, [s.messages for s in final.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_late_arrivals_are_found(self, tmp_path: Path, emulation: Emulation) -> None:
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_late(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert all(s.new_recordings >= 2 for s in result.summaries), [s.as_dict() for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_processing_items_are_collected_once_ready(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.processing:
            pytest.skip("the emulation declares no recordings that are still processing")
        config = self.config_for(tmp_path, emulation, max_attempts=1)
        collect(config)
        emulation.add_processing(2)
        for _ in range(2):  # waiting spends no attempts: max_attempts = 1 would otherwise give up
            waiting = collect(config)
            assert waiting.exit_code == EXIT_WAITING, [s.as_dict() for s in waiting.summaries]
            assert all(s.waiting >= 2 and s.failed == 0 for s in waiting.summaries)
        emulation.finish_processing()
        done = collect(config)
        assert done.exit_code == EXIT_OK, [s.as_dict() for s in done.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_media_behind_redirects_arrives_without_credentials(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.redirects:
            pytest.skip("the emulation declares no media behind redirects")
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(2)
        emulation.expire_signed_urls(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        assert emulation.credentials_leaked() == 0, "credentials were sent to the storage host"

    def test_the_concurrency_limit_is_never_exceeded(self, tmp_path: Path, emulation: Emulation) -> None:
        if emulation.concurrency_limit is None:
            pytest.skip("the emulation declares no concurrency limit")
        emulation.add_recordings(10)
        emulation.set_latency(0.02)
        result = collect(self.config_for(tmp_path, emulation, download_workers=8))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert emulation.peak_in_flight() <= emulation.concurrency_limit
        assert emulation.throttled() == 0

    def test_no_secret_leaks(self, tmp_path: Path, emulation: Emulation, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        emulation.set_transient_faults(0.1)
        config = self.config_for(tmp_path, emulation, retry={"attempts": 6, "initial_wait": 0.01, "max_wait": 0.1})
        collect(config)
        emulation.set_transient_faults(0.0)
        collect(config)
        log_file = tmp_path / "captured.log"
        log_file.write_text("\n".join(record.getMessage() for record in caplog.records) + caplog.text)
        assert emulation.secrets()
        assert find_secrets([tmp_path], emulation.secrets()) == []
