"""The conformance suite's HTTP shapes: "not ready" with an estimate, gone media, transient answers,
URLs handed out in JSON, the vendor's rate-limit headers, route quotas and route limits.

`HttpShapes` holds what an emulation declares (a base of `Emulation`), `HttpShapeChecks` the checks
the declarations switch on (a base of `SourceConformance`). See the README's "Toolkit" sections.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from collector.emulator import DailyQuota, EmulatorServer, FixedWindowLimit, KindRateLimit
from collector._base._exits import EXIT_OK, EXIT_WAITING
from ._harness import (
    StoreContents,
    collect,
    inspect_store,
    query_catalog,
)


if TYPE_CHECKING:
    from collections.abc import Callable

    from ._conformance import Emulation, Expectations


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

    if TYPE_CHECKING:  # provided by `SourceConformance`, which inherits these checks
        config_for: Callable[..., Path]
        assert_complete: Callable[[StoreContents, Expectations], None]

    def test_not_ready_with_a_short_estimate_is_waited_within_the_run(self, tmp_path: Path,
                                                                      emulation: Emulation) -> None:
        if not emulation.not_ready_estimates:
            pytest.skip("the emulation declares no estimates with its not-ready answers")
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_ready_in(2, 1.0)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert all(s.waiting == 0 and s.retried == 0 for s in result.summaries), "a not-ready answer was a retry"
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_not_ready_with_a_long_estimate_waits_without_asking_early(self, tmp_path: Path,
                                                                       emulation: Emulation) -> None:
        if not emulation.not_ready_estimates:
            pytest.skip("the emulation declares no estimates with its not-ready answers")
        retry = {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1, "ready_wait": 0.5}
        config = self.config_for(tmp_path, emulation, retry=retry, max_attempts=1)
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
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_gone_media_is_unavailable_at_once(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.gone_media:
            pytest.skip("the emulation declares no media that is gone after being listed")
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_gone(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert all(s.retried == 0 for s in result.summaries), [s.as_dict() for s in result.summaries]
        gone = dict(query_catalog(tmp_path / "store", "SELECT tenant, COUNT(*) FROM audio WHERE status='unavailable' "
                                                      "AND attempts=1 GROUP BY tenant"))
        assert all(gone.get(s.tenant, 0) >= 2 for s in result.summaries), gone
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_transient_answers_are_retried_not_quarantined(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.transient_answers:
            pytest.skip("the emulation declares no \"try again\" answers")
        emulation.inject_transient_answers(3)
        result = collect(self.config_for(tmp_path, emulation))
        assert result.exit_code == EXIT_OK, [s.as_dict() for s in result.summaries]
        assert sum(s.retried for s in result.summaries) >= 3, "the \"try again\" answers were not retried"
        assert query_catalog(tmp_path / "store", "SELECT reason FROM quarantine") == []
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_handed_out_urls_are_renewed_without_credentials(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.handed_out_urls:
            pytest.skip("the emulation declares no media URLs handed out in JSON")
        config = self.config_for(tmp_path, emulation)
        collect(config)
        emulation.add_recordings(2)
        emulation.expire_signed_urls(2)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        assert emulation.credentials_leaked() == 0, "credentials were sent to the storage host"

    def test_the_vendors_rate_limit_headers_are_followed(self, tmp_path: Path, emulation: Emulation) -> None:
        if emulation.rate_limit_headers is None:
            pytest.skip("the emulation declares no rate-limit headers")
        emulation.add_recordings(6)
        window = emulation.limit_by_headers(6, 1.0)
        config = self.config_for(tmp_path, emulation, rate_limit={"requests": 1000, "per_seconds": 1})
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert emulation.throttled() == 0, "the vendor had to refuse: its rate-limit headers were not followed"
        assert window.peak() <= 6
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_a_route_quota_pauses_the_route_until_it_resets(self, tmp_path: Path, emulation: Emulation) -> None:
        route = emulation.quota_route
        if route is None:
            pytest.skip("the emulation declares no route with a quota")
        retry = {"attempts": 5, "initial_wait": 0.01, "max_wait": 0.1, "quota_after": 1}
        config = self.config_for(tmp_path, emulation, retry=retry)
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
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

    def test_route_limits_are_kept(self, tmp_path: Path, emulation: Emulation) -> None:
        if not emulation.route_limits:
            pytest.skip("the emulation declares no limits per route kind")
        limits = emulation.enforce_route_limits()
        emulation.add_recordings(10)
        result = collect(self.config_for(tmp_path, emulation, download_workers=8))
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        assert emulation.throttled() == 0, "a route's own limit was exceeded"
        for limit in limits:
            assert limit.max_in_window() <= limit.requests, limit.kinds
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())


def _sleep_until(moment: str) -> None:
    """Sleep until an instant the catalog holds (ISO 8601), and a little more."""
    when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    time.sleep(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()) + 0.2)

# == end of the HTTP shapes block
