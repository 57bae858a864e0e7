"""Bounded downloads (issue 13): a body that crawls is abandoned within its pace limits, retried,
left for a later run, and a vendor that keeps crawling stops the tenant's downloads for the run.

The toy vendor's emulator drips audio bodies ("drip": the headers with the full Content-Length,
then a byte every 0.2 s) or sends half of one and goes silent ("stall"), over real HTTP on
127.0.0.1. Small limits (1,000 bytes/s over 1 s, 1 s idle) keep each test to a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from collector import SourceSettings
from collector._base._errors import DownloadsStopped
from collector._runner._job._pace import BREAKER_TRANSFERS, PaceGuard, PaceLimits, TransferAbandoned
from collector.engine import Plugins
from collector.testing import collect, inspect_store, query_catalog, write_config

BOUNDS = {"download_min_rate": 1000, "download_rate_interval": 1.0, "download_idle_timeout": 1.0}
FAST_RETRY = {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05}
ABANDONED_FOR_RATE = re.compile(
    r"The download was abandoned: \d bytes in the last 1(\.\d+)? s, below the minimum of 1,000 bytes/s\.")


def audio_arrivals(emulator: Any) -> list[float]:
    """When each audio request reached the emulator (monotonic seconds)."""
    return [r.at for r in emulator.log if r.kind == "audio"]


def audio_rows(store: Path) -> dict[str, tuple[str, int, str | None]]:
    """vendor id -> (status, attempts, reason) of every audio item in the catalog."""
    rows = query_catalog(store, "SELECT vendor_id, status, attempts, reason FROM audio")
    return {vendor_id: (status, attempts, reason) for vendor_id, status, attempts, reason in rows}


def egress(store: Path) -> int:
    return int(query_catalog(store, "SELECT COALESCE(SUM(bytes), 0) FROM egress")[0][0])


def settle_connections(emulator: Any, timeout: float = 3.0) -> None:
    """Wait until the emulator has no request in flight: every abandoned connection was closed
    (the emulator stops dripping as soon as the client hangs up)."""
    deadline = time.monotonic() + timeout
    while any(emulator.in_flight.values()):
        assert time.monotonic() < deadline, "a connection the collector abandoned was left open"
        time.sleep(0.02)


# -- over real HTTP ----------------------------------------------------------------------------------

def test_a_dripping_download_is_abandoned_within_its_bounds_retried_then_left_pending(
        tmp_path: Path, toy_plugins: Plugins, Toy: Any, toy_source: Any) -> None:
    with Toy(4) as toy:
        toy.faults.inject("drip", kind="audio", count=2)  # both in-run attempts of the first recording
        config = write_config(tmp_path, [toy_source(toy, download_workers=1, transcripts=False, retry=FAST_RETRY,
                                                    **BOUNDS)])
        first = collect(config, toy_plugins)
        settle_connections(toy)
        summary = first.summaries[0]
        assert (summary.audio_files, summary.deferred, summary.failed) == (3, 1, 0)
        assert summary.status.value == "partial" and summary.retried >= 1
        assert not any("too slowly" in m for m in summary.messages)  # one recording alone never trips the breaker
        arrivals = audio_arrivals(toy)
        for abandoned, next_request in itertools.pairwise(arrivals[:3]):
            assert 1.0 <= next_request - abandoned < 2.0  # abandoned about 1 s after the headers, then backoff
        store = tmp_path / "store"
        status, attempts, reason = audio_rows(store)["t0000"]
        assert (status, attempts) == ("pending", 1)  # a deferred item: tried again next run
        assert reason is not None and ABANDONED_FOR_RATE.fullmatch(reason), reason
        assert not inspect_store(store).problems  # no temporary file left behind
        assert egress(store) == toy.bytes_sent["audio"]  # the dripped bytes count too

        second = collect(config, toy_plugins)  # the vendor is healthy again
        assert second.exit_code == 0 and second.summaries[0].audio_files == 1
        contents = inspect_store(store)
        assert not contents.problems and contents.audio["alpha"] == {i["id"] for i in toy.items}
        assert audio_rows(store)["t0000"][:2] == ("stored", 2)
        assert len(toy.served_audio["all"]) == 4  # each body sent whole once: nothing doubled


def test_a_download_that_goes_silent_is_abandoned_after_the_idle_timeout(
        tmp_path: Path, toy_plugins: Plugins, Toy: Any, toy_source: Any) -> None:
    with Toy(2) as toy:
        toy.faults.inject("stall", kind="audio", count=1)  # half the body, then silence
        # The rate check off (0): the idle timeout alone ends the transfer.
        config = write_config(tmp_path, [toy_source(toy, download_workers=1, transcripts=False, retry=FAST_RETRY,
                                                    **{**BOUNDS, "download_min_rate": 0})])
        result = collect(config, toy_plugins)
        settle_connections(toy)
        assert result.exit_code == 0 and result.summaries[0].audio_files == 2
        assert result.summaries[0].retried >= 1
        first, second = audio_arrivals(toy)[:2]
        assert 1.0 <= second - first < 2.0
        store = tmp_path / "store"
        assert egress(store) == toy.bytes_sent["audio"]  # the half body, then both whole ones
        assert not inspect_store(store).problems


def test_a_slow_download_that_keeps_the_minimum_rate_completes(
        tmp_path: Path, toy_plugins: Plugins, Toy: Any, toy_source: Any) -> None:
    with Toy(1) as toy:
        toy.faults.drip_bytes, toy.faults.drip_seconds = 2000, 0.25  # 8,000 bytes/s: about 2 s for 16 kB
        toy.faults.inject("drip", kind="audio", count=1)
        config = write_config(tmp_path, [toy_source(toy, transcripts=False, retry=FAST_RETRY,
                                                    **{**BOUNDS, "download_min_rate": 4000})])
        started = time.monotonic()
        result = collect(config, toy_plugins)
        assert time.monotonic() - started >= 1.5  # slow enough to be measured, fast enough to pass
        assert result.exit_code == 0 and result.summaries[0].audio_files == 1
        assert result.summaries[0].retried == 0 and len(audio_arrivals(toy)) == 1


def test_abandoned_downloads_in_a_row_stop_the_tenants_downloads_for_the_run(
        tmp_path: Path, toy_plugins: Plugins, Toy: Any, toy_source: Any) -> None:
    with Toy(8) as toy:
        toy.faults.set_rate(1.0, ["drip"], kinds=["audio"])  # every audio body drips
        config = write_config(tmp_path, [toy_source(toy, download_workers=2, retry={**FAST_RETRY, "attempts": 3},
                                                    **BOUNDS)])
        started = time.monotonic()
        first = collect(config, toy_plugins)
        elapsed = time.monotonic() - started
        settle_connections(toy)
        summary = first.summaries[0]
        # Two workers: t0000 and t0001 abandoned at ~1 s, t0000's retry at ~2 s is the third in a
        # row; neither is tried a third time, and nothing else is started.
        assert len(audio_arrivals(toy)) == BREAKER_TRANSFERS + 1
        assert elapsed < 5.0
        assert summary.status.value == "stopped" and first.exit_code == 1
        stop = next(m for m in summary.messages if "too slowly" in m)
        assert stop.startswith("Downloads stopped: The vendor is sending too slowly: 3 downloads in a row were "
                               "abandoned (the last one: ")
        assert stop.endswith("); the remaining audio waits for the next run.")
        assert summary.new_recordings == 8 and summary.transcripts == 8  # metadata and transcripts went on
        store = tmp_path / "store"
        rows = audio_rows(store)
        assert {vendor_id: rows[vendor_id][1] for vendor_id in rows} == {
            "t0000": 1, "t0001": 1, **{f"t{n:04d}": 0 for n in range(2, 8)}}  # the rest spent no attempt
        assert {status for status, _, _ in rows.values()} == {"pending"}
        assert all(reason is not None and reason.startswith("Downloads stopped: The vendor is sending too slowly")
                   for _, _, reason in rows.values())
        assert egress(store) == toy.bytes_sent["audio"]
        assert not inspect_store(store).problems

        toy.faults.clear()  # the vendor is healthy again
        second = collect(config, toy_plugins)
        assert second.exit_code == 0 and second.summaries[0].audio_files == 8
        contents = inspect_store(store)
        assert not contents.problems and contents.audio["alpha"] == {i["id"] for i in toy.items}
        assert {vendor_id: attempts for vendor_id, (_, attempts, _) in audio_rows(store).items()} == {
            "t0000": 2, "t0001": 2, **{f"t{n:04d}": 1 for n in range(2, 8)}}
        assert len(toy.served_audio["all"]) == 8  # nothing doubled


# -- the pace limits and the breaker on their own --------------------------------------------------

def guard(limits: PaceLimits, stops: list[DownloadsStopped] | None = None) -> PaceGuard:
    stopped = stops if stops is not None else []
    return PaceGuard(limits, stopped.append, lambda: not stopped)


async def instant_chunks(count: int, size: int = 65536) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def silent_after(chunks: int, silence: float, error: BaseException | None = None) -> AsyncIterator[bytes]:
    for _ in range(chunks):
        yield b"x"
    await asyncio.sleep(silence)
    if error is not None:
        raise error
    yield b"late"


def test_our_own_slow_writes_are_not_blamed_on_the_vendor() -> None:
    async def scenario() -> int:
        received = 0
        async for chunk in guard(PaceLimits(min_rate=10**9, interval=0.2, idle=0.2)).watch(instant_chunks(6), "r"):
            received += len(chunk)
            await asyncio.sleep(0.1)  # a slow disk: 0.6 s in all, beyond both limits
        return received

    assert asyncio.run(scenario()) == 6 * 65536


def test_an_idle_body_is_abandoned_on_time() -> None:
    async def scenario() -> tuple[str, float]:
        started = time.monotonic()
        with pytest.raises(TransferAbandoned) as raised:
            async for _ in guard(PaceLimits(min_rate=0, interval=1.0, idle=0.3)).watch(silent_after(2, 5.0), "r"):
                pass
        return raised.value.reason, time.monotonic() - started

    reason, elapsed = asyncio.run(scenario())
    assert 0.3 <= elapsed < 0.6
    assert re.fullmatch(r"The download was abandoned: no byte arrived for 0\.3\d* s \(the idle timeout is 0\.3 s\)\.",
                        reason), reason


def test_a_client_read_timeout_mid_body_counts_as_an_abandoned_transfer() -> None:
    stops: list[DownloadsStopped] = []
    pace = guard(PaceLimits(min_rate=0, interval=1.0, idle=60.0), stops)

    async def scenario() -> str:
        with pytest.raises(TransferAbandoned) as raised:
            async for _ in pace.watch(silent_after(1, 0.05, httpx.ReadTimeout("timed out")), "r"):
                pass
        return raised.value.reason

    reason = asyncio.run(scenario())
    assert re.fullmatch(r"The download was abandoned: no byte arrived for 0\.0\d* s \(the request timeout\)\.", reason)
    assert not stops  # one transfer: the breaker counts it, no more


def test_someone_elses_cancellation_is_not_turned_into_an_abandoned_transfer() -> None:
    async def scenario() -> None:
        async def read() -> None:
            async for _ in guard(PaceLimits(min_rate=1000, interval=0.05, idle=0.05)).watch(silent_after(1, 5.0), "r"):
                pass

        task = asyncio.create_task(read())
        await asyncio.sleep(0.02)
        task.cancel()  # e.g. the tenant's credentials were refused: the job cancels its tasks
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_the_breaker_needs_a_streak_over_two_recordings_and_a_completed_body_resets_it() -> None:
    stops: list[DownloadsStopped] = []
    pace = guard(PaceLimits(min_rate=1, interval=1.0, idle=1.0), stops)
    slow = TransferAbandoned("0 bytes in the last 1 s, below the minimum of 1 bytes/s")
    for _ in range(5):  # one recording the vendor always serves slowly only spends its own attempts
        pace.abandoned("a", slow)
    assert not stops and pace.may_retry()
    pace.completed()
    pace.abandoned("a", slow)
    pace.abandoned("b", slow)
    assert not stops
    pace.abandoned("b", slow)
    assert len(stops) == 1 and not pace.may_retry()
    assert stops[0].reason == ("The vendor is sending too slowly: 3 downloads in a row were abandoned (the last one: "
                               "0 bytes in the last 1 s, below the minimum of 1 bytes/s); the remaining audio waits "
                               "for the next run.")
    pace.abandoned("c", slow)
    assert len(stops) == 1  # stopped once


def test_the_pace_settings_defaults_and_bounds() -> None:
    defaults = SourceSettings(plugin="toy", tenant="t")
    assert (defaults.download_min_rate, defaults.download_rate_interval, defaults.download_idle_timeout) == (
        4096, 30.0, 30.0)
    assert SourceSettings(plugin="toy", tenant="t", download_min_rate=0).download_min_rate == 0  # check off
    for wrong in ({"download_min_rate": -1}, {"download_rate_interval": 0}, {"download_idle_timeout": 0},
                  {"download_idle_timeout": 7200}):
        with pytest.raises(ValidationError):
            SourceSettings.model_validate({"plugin": "toy", "tenant": "t", **wrong})
