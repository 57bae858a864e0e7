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
  short-lived and rotating tokens are reused until near expiry, never arrive expired, and a rotated
  refresh token is never lost across runs and SIGKILL (`short_tokens`, `token_rotation`: see
  `_conformance_tokens`);
  the HTTP shapes of `HttpShapes`: "not ready" with an estimate (`not_ready_estimates`), media
  gone after listing (`gone_media`), "try again" answers (`transient_answers`), media URLs handed
  out in JSON (`handed_out_urls`), the vendor's rate-limit headers (`rate_limit_headers`), a quota
  that pauses a route (`quota_route`) and limits per route (`route_limits`).

The listing traits (`back_dated`, `change_feed`, `expiring_cursors`: arrivals no overlap catches,
deletions, tokens that expire) and their checks live in `collector.testing._listing_checks`.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector._base._exits import EXIT_OK, EXIT_PARTIAL, EXIT_WAITING
from collector._runner._plugins import Plugins
from collector._storage._store import CATALOG_NAME

from ._conformance_tokens import TokenConformance, wait_for_quiet_tokens
from ._emulation import Emulation, Expectations
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
from ._http_checks import HttpShapeChecks
from ._listing_checks import ListingChecks
from ._work_checks import WorkShapeChecks


class SourceConformance(ListingChecks, TokenConformance, WorkShapeChecks, HttpShapeChecks):
    """Inherit this in a plugin's tests and implement `start_emulation`; the tests come for free."""

    source_name: ClassVar[str]
    """The `plugin = "..."` name the plugin's source registers."""

    backends: ClassVar[tuple[str, ...]] = ("embedded", "postgresql+s3")
    """The stores every check runs on. Keep both for a plugin: its sync state, revisits and
    files take other paths on PostgreSQL + S3. (The project's own suite narrows it for emulated
    shapes whose store paths another suite already covers on both.)"""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Runs each check once per store in `backends` (pytest calls this while collecting)."""
        if "backend" in metafunc.fixturenames:
            metafunc.parametrize("backend", self.backends, indirect=True)

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        """Start the plugin's emulator with a few tenants; with `bad_data`, include malformed items,
        hostile ids and bad audio as described by `Emulation.expected`."""
        raise NotImplementedError

    # -- fixtures and helpers ------------------------------------------------------------------

    @pytest.fixture(autouse=True)
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
        assert first.exit_code == EXIT_PARTIAL, (first.exit_code, first.store_failure,
                                                 [s.messages for s in first.summaries])
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
                wait_for_quiet_tokens(emulation)  # never inside a token rotation (see `_conformance_tokens`)
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
        self.check_expired_urls_renewed_without_credentials(tmp_path, emulation)

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
