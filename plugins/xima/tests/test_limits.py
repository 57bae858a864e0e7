"""The tenant's limits over real HTTP: the sliding-window rate limit, the egress cap, and 401."""

from __future__ import annotations

import os
from pathlib import Path

from collector.testing import collect, inspect_store, query_catalog
from collector_xima.testing import XimaEmulation, by_tenant

EXIT_OK = 0
EXIT_PARTIAL = 1


def test_the_documented_limit_shape_is_never_exceeded_across_metadata_and_audio(tmp_path: Path) -> None:
    # 3 requests per window, as documented, with the window scaled from 10 s to 0.15 s; 20 recordings
    # per tenant keep every tenant's allowance busy for the whole run.
    emulation = XimaEmulation(tenants=2, recordings=20, rate_limit=(3, 0.15))
    try:
        result = collect(emulation.config(tmp_path))
        assert result.exit_code == EXIT_OK
        assert emulation.throttled() == 0, "the emulator had to answer 429"
        for emulator in emulation.emulators.values():
            assert emulator.count(status=429) == 0
            assert emulator.max_in_window(0.15) == 3, "all three slots of a window were used"
            assert {r.kind for r in emulator.log} == {"metadata", "audio"}
    finally:
        emulation.close()


def test_a_429_anyway_is_honoured_and_the_client_slows_down(tmp_path: Path) -> None:
    # The configured window (0.25 s) is shorter than the vendor's (0.3 s): the vendor answers 429 with
    # Retry-After, the client waits it out, lengthens its window and collects everything.
    emulation = XimaEmulation(tenants=1, recordings=12, rate_limit=(3, 0.3))
    try:
        config = emulation.config(tmp_path, rate_limit={"requests": 3, "per_seconds": 0.25})
        result = collect(config)
        assert result.exit_code == EXIT_OK, [s.messages for s in result.summaries]
        throttled = emulation.throttled()
        assert 1 <= throttled <= 3, "after a 429 the client slows down instead of hitting the limit again"
        assert by_tenant(result)["reno"].retried >= throttled
        assert inspect_store(tmp_path / "store").audio["reno"] == emulation.expected().audio["reno"]
    finally:
        emulation.close()


def test_a_509_parks_that_tenant_and_the_next_run_completes_it(tmp_path: Path, xima: XimaEmulation) -> None:
    reno = xima.emulator("reno")
    sizes = [item["size"] for item in reno.recording_items()]
    # About half the audio fits: the rest gets 509 in this run, and fits once the allotment renews.
    reno.tenant.egress_cap = sum(sizes) // 2 + max(sizes)
    config = xima.config(tmp_path)
    first = collect(config)
    summaries = by_tenant(first)
    assert first.exit_code == EXIT_PARTIAL
    assert summaries["reno"].status.value == "stopped"
    assert any("Downloads stopped" in m and "HTTP 509" in m and "queued for the next run" in m
               for m in summaries["reno"].messages), summaries["reno"].messages
    assert summaries["boise"].status.value == summaries["denver"].status.value == "ok"
    assert reno.count(status=509) <= 3, "no retry loop: at most one 509 per download worker"
    contents = inspect_store(tmp_path / "store")
    assert len(contents.recordings["reno"]) == len(sizes), "metadata went on after downloads stopped"
    pending = query_catalog(tmp_path / "store", "SELECT COUNT(*), MAX(attempts) FROM audio "
                           "WHERE tenant='reno' AND status='pending'")[0]
    assert pending[0] == len(sizes) - len(contents.audio["reno"]) > 0 and pending[1] == 0
    assert contents.audio["boise"] == xima.expected().audio["boise"]
    reno.reset_egress()  # the rolling five days moved on (or Xima Support reset the limit)
    second = collect(config)
    assert second.exit_code == EXIT_OK
    assert by_tenant(second)["reno"].audio_files == pending[0]
    assert inspect_store(tmp_path / "store").audio["reno"] == xima.expected().audio["reno"]


def test_an_egress_budget_stops_downloads_before_the_vendors_cap(tmp_path: Path, xima: XimaEmulation) -> None:
    reno = xima.emulator("reno")
    sizes = [item["size"] for item in reno.recording_items()]
    reno.tenant.egress_cap = sum(sizes[:7])
    budget = sum(sizes[:4])
    config = xima.config(tmp_path, overrides={"reno": {"egress_budget": {"bytes": budget, "days": 5}}})
    first = by_tenant(collect(config))
    assert any("egress budget is used up" in m for m in first["reno"].messages), first["reno"].messages
    assert reno.count(status=509) == 0, "the budget must stop downloads before the vendor's cap answers 509"
    assert 0 < first["reno"].audio_bytes < reno.tenant.egress_cap
    used = query_catalog(tmp_path / "store", "SELECT SUM(bytes) FROM egress WHERE tenant='reno'")[0][0]
    assert used == first["reno"].audio_bytes, "egress is tracked per tenant in the catalog"
    assert first["boise"].status.value == "ok"


def test_a_refused_token_stops_that_tenant_with_a_clear_message(tmp_path: Path, xima: XimaEmulation) -> None:
    variable = xima.references["boise"]["env"]
    right = os.environ[variable]
    os.environ[variable] = "a-revoked-token-value"
    config = xima.config(tmp_path)
    summaries = by_tenant(collect(config))
    boise = summaries["boise"]
    assert boise.status.value == "stopped" and boise.new_recordings == 0
    assert any("Xima refused the service user's token (HTTP 401" in m and f"environment variable {variable}" in m
               for m in boise.messages), boise.messages
    assert not any("a-revoked-token-value" in m for m in boise.messages)
    assert xima.emulator("boise").count(status=401) == 1, "a 401 is final: no retry loop"
    assert summaries["reno"].status.value == summaries["denver"].status.value == "ok"
    os.environ[variable] = right
    assert collect(config).exit_code == EXIT_OK
    assert inspect_store(tmp_path / "store").audio["boise"] == xima.expected().audio["boise"]


def test_a_token_revoked_mid_way_stops_only_that_tenant(tmp_path: Path, xima: XimaEmulation) -> None:
    config = xima.config(tmp_path)
    collect(config)
    xima.emulator("denver").revoke_token()  # someone pressed Refresh in the portal
    xima.add_recordings(2)
    summaries = by_tenant(collect(config))
    assert summaries["denver"].status.value == "stopped"
    assert any("HTTP 401" in m for m in summaries["denver"].messages)
    assert summaries["reno"].new_recordings == summaries["boise"].new_recordings == 2
