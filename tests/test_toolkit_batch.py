"""Vendor-side batch downloads (issue 14): `Source.open_audio_batch` and the `batch_downloads` trait.

Bundle (`vendor_bundle`) downloads through export jobs of at most four recordings: submit, poll,
receive short-lived URLs. Everything runs over real HTTP against its emulator on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test vendors beside this file (importlib mode)
from toolkit_site import installed_as_plugin
from vendor_bundle import Account, BundleEmulation, BundleEmulator, BundleSource

from collector import Recording, hookimpl
from collector.engine import Plugins
from collector.testing import (
    Emulation,
    SourceConformance,
    collect,
    inspect_store,
    query_catalog,
    write_config,
)


@pytest.fixture(scope="module", autouse=True)
def bundle_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Bundle plugin, installed through an entry point for this module's tests."""
    with installed_as_plugin(tmp_path_factory.mktemp("bundle"), distribution="collector-test-bundle",
                             name="bundle", module="vendor_bundle"):
        yield


class TestBundleConformance(SourceConformance):
    """The whole conformance suite, `batch_downloads` included, against the Bundle test vendor."""

    source_name = "bundle"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return BundleEmulation(bad_data=bad_data)


# -- the core's side, with one Bundle account ----------------------------------------------------------------------

FAST_RETRY = {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.05}


@pytest.fixture
def bundle() -> Iterator[tuple[BundleEmulator, Account]]:
    """A Bundle host with one account, `solo`, holding four recordings (one export)."""
    with BundleEmulator() as api:
        account = api.add_account(Account("solo"))
        account.add(4)
        yield api, account


def solo_config(directory: Path, api: BundleEmulator, account: Account, **settings: Any) -> Path:
    variable = f"BUNDLE_TOKEN_{api.port}"
    os.environ[variable] = account.token
    return write_config(directory, [{"plugin": "bundle", "tenant": account.name, "base_url": api.url,
                                     "token": {"env": variable}, "retry": FAST_RETRY, "transcripts": False,
                                     "rate_limit": {"requests": 200, "per_seconds": 1}, **settings}])


def audio_rows(store: Path) -> dict[str, tuple[str, int, str | None]]:
    rows = query_catalog(store, "SELECT vendor_id, status, attempts, reason FROM audio")
    return {vendor_id: (status, attempts, reason) for vendor_id, status, attempts, reason in rows}


def refused(api: BundleEmulator) -> int:
    """Downloads the host refused (an expired or forged URL)."""
    return sum(1 for r in api.log if r.kind == "audio" and r.status == 403)


def test_a_batch_is_reserved_against_the_egress_budget_before_it_is_asked_for(
        tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    sizes = [item["size"] for item in account.listed]
    config = solo_config(tmp_path, api, account, egress_budget={"bytes": sizes[0] + sizes[1] + 1})
    result = collect(config)
    summary = result.summaries[0]
    assert api.batches == [[item["id"] for item in account.listed[:2]]]  # only what the budget holds was asked for
    assert summary.audio_files == 2 and summary.status.value == "stopped"
    assert any(m.startswith("Downloads stopped: The egress budget is used up") for m in summary.messages)
    rows = audio_rows(tmp_path / "store")
    assert [rows[item["id"]][:2] for item in account.listed[2:]] == [("pending", 0), ("pending", 0)]  # no attempt


def test_a_broken_transfer_is_retried_with_a_new_url_asked_for_it_alone(
        tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    api.faults.inject("drop_body", kind="audio", count=1)
    result = collect(solo_config(tmp_path, api, account))
    assert result.exit_code == 0 and result.summaries[0].audio_files == 4 and result.summaries[0].retried >= 1
    first = account.listed[0]["id"]
    assert api.batches == [[item["id"] for item in account.listed], [first]]
    contents = inspect_store(tmp_path / "store")
    assert not contents.problems and contents.audio["solo"] == set(account.recordings)
    egress = query_catalog(tmp_path / "store", "SELECT SUM(bytes) FROM egress")[0][0]
    assert egress == api.bytes_sent["audio"]  # the half body of the broken transfer counts too


def test_urls_are_renewed_before_their_lifetime_ends(tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    api.url_ttl = 3.0  # the plugin declares 2.4 s: a busy machine's scheduling delays stay inside the slack
    api.faults.slow_seconds = 0.9
    api.faults.set_rate(1.0, ["slow"], kinds=["audio"])  # four downloads one after another: 3.6 s or more
    result = collect(solo_config(tmp_path, api, account, url_lifetime=2.4))
    assert result.exit_code == 0 and result.summaries[0].audio_files == 4
    assert refused(api) == 0  # asked for again before they expired, never refused
    assert len(api.batches) >= 2 and all(len(batch) < 4 for batch in api.batches[1:])
    assert api.batches[1] == [item["id"] for item in account.listed[-len(api.batches[1]):]]  # those not started


def test_urls_that_keep_expiring_leave_the_recording_for_the_next_run(
        tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    api.expire_next = 10_000  # every URL handed out has expired already
    config = solo_config(tmp_path, api, account, max_attempts=3)
    first = collect(config)
    assert first.summaries[0].audio_files == 0 and first.summaries[0].deferred == 4
    assert refused(api) == 3 * 4  # each URL asked for again twice (with those after it), then left
    assert len(api.batches) == 1 + 2 * 4 and max(len(batch) for batch in api.batches) == 4
    status, attempts, reason = audio_rows(tmp_path / "store")[account.listed[0]["id"]]
    assert (status, attempts) == ("pending", 1)
    assert reason is not None and "answered HTTP 403" in reason and "asked for again 2 times" in reason
    api.expire_next = 0
    second = collect(config)
    assert second.exit_code == 0 and second.summaries[0].audio_files == 4


def test_a_failed_request_for_a_batch_counts_for_each_of_its_recordings(
        tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    api.faults.inject("503", kind="batch", count=2)  # the export's creation, both attempts
    config = solo_config(tmp_path, api, account)
    first = collect(config)
    assert first.summaries[0].audio_files == 0 and first.summaries[0].deferred == 4
    assert {row[:2] for row in audio_rows(tmp_path / "store").values()} == {("pending", 1)}
    assert collect(config).summaries[0].audio_files == 4


class PartialSource(BundleSource):
    """Bundle, whose answers forget the first recording of each batch."""

    name = "bundle_partial"

    async def open_audio_batch(self, recordings: Sequence[Recording]) -> Mapping[str, Any]:
        files = dict(await super().open_audio_batch(recordings))
        files.pop(recordings[0].vendor_id)
        return files


class _Register:
    @hookimpl
    def collector_register_sources(self, register: Any) -> None:
        register(PartialSource)


def test_a_recording_a_batch_answer_leaves_out_waits_for_the_next_run(
        tmp_path: Path, bundle: tuple[BundleEmulator, Account]) -> None:
    api, account = bundle
    config = solo_config(tmp_path, api, account, plugin="bundle_partial")
    result = collect(config, Plugins(entry_points_group=None, extra=[_Register()]))
    assert result.summaries[0].audio_files == 3 and result.summaries[0].deferred == 1
    _, attempts, reason = audio_rows(tmp_path / "store")[account.listed[0]["id"]]
    assert attempts == 1 and reason == ("The plugin's batch answer had no download for this recording; it is asked "
                                        "for again on the next run.")
