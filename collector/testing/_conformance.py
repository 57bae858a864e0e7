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
- no secret (key or token) reaches the store, the catalog or the logs.
"""

from __future__ import annotations

import abc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .._plugins import Plugins
from ..emulator import EmulatorServer
from .._store import CATALOG_NAME
from .._summary import EXIT_OK, EXIT_PARTIAL
from ._harness import (
    StoreContents,
    collect,
    find_secrets,
    inspect_store,
    query_catalog,
    wait_until_committed,
    write_config,
)


@dataclass
class Expectations:
    """What a complete collection from an emulation must produce, per tenant name."""

    recordings: dict[str, set[str]]
    audio: dict[str, set[str]]
    quarantined_audio: dict[str, set[str]] = field(default_factory=dict)
    rejected_items: dict[str, int] = field(default_factory=dict)


class Emulation(abc.ABC):
    """A plugin's emulator(s), running, with a few tenants, as the conformance suite drives them.

    Implement `sources`, `expected`, `add_recordings` and `secrets`, and list your running servers
    in `servers()`: faults, latency and throttling are then handled here for every server.
    """

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


class SourceConformance:
    """Inherit this in a plugin's tests and implement `start_emulation`; the tests come for free."""

    source_name: ClassVar[str]
    """The `plugin = "..."` name the plugin's source registers."""

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        """Start the plugin's emulator with a few tenants; with `bad_data`, include malformed items,
        hostile ids and bad audio as described by `Emulation.expected`."""
        raise NotImplementedError

    # -- fixtures and helpers ------------------------------------------------------------------

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
        assert first.exit_code == EXIT_PARTIAL
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
        emulation.set_latency(0.0)
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())

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
