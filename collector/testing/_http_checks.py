"""The conformance suite's HTTP shapes: "not ready" with an estimate, gone media, transient answers,
URLs handed out in JSON, the vendor's rate-limit headers, route quotas and route limits.

`HttpShapes` (in `_emulation`) holds what an emulation declares (a base of `Emulation`),
`HttpShapeChecks` the checks the declarations switch on (a base of `SourceConformance`). See the
README's "Toolkit" sections.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from collector._base._exits import EXIT_OK, EXIT_WAITING

from ._emulation import Emulation, Expectations
from ._harness import (
    StoreContents,
    collect,
    inspect_store,
    query_catalog,
)

if TYPE_CHECKING:
    from collections.abc import Callable


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
        self.check_expired_urls_renewed_without_credentials(tmp_path, emulation)

    def check_expired_urls_renewed_without_credentials(self, tmp_path: Path, emulation: Emulation) -> None:
        """A second run after signed URLs expired stores everything, and the storage host never saw
        the vendor's credentials (shared by the redirect and the handed-out-URL checks)."""
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
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.2)

# == end of the HTTP shapes block
