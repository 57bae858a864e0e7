"""The rate-limit ledger shared by processes: slots of dead processes come back, damage is survived."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from collector._http._ledger import STALE_AFTER, FileLedger, MemoryLedger, account_key, open_ledger


def _claim_and_die(path: str) -> None:
    ledger = FileLedger(Path(path), 3, window=1.0)
    assert ledger.claim(ledger.clock(), 3)[0] is not None
    os._exit(0)  # killed with its request in flight: the slot is never stamped


def test_a_slot_held_by_a_process_that_died_comes_back_one_window_later(tmp_path: Path) -> None:
    path = tmp_path / "account.slots"
    child = multiprocessing.get_context("fork").Process(target=_claim_and_die, args=(str(path),))
    child.start()
    child.join()
    ledger = FileLedger(path, 1, window=1.0)
    now = ledger.clock()
    slot, ready = ledger.claim(now, 1)
    assert slot is None and ready is not None and now < ready <= now + 1.0 + 0.1


def _claim_and_hold(path: str, claimed: Any, release: Any) -> None:
    ledger = FileLedger(Path(path), 1, window=1.0)
    while (ready := ledger.claim(ledger.clock(), 1)[1]) is not None:  # a slot taken back is free a window later
        time.sleep(max(0.0, ready - ledger.clock()))
    claimed.set()
    release.wait(30)
    os._exit(0)


def test_a_late_answer_never_frees_a_slot_another_holder_claimed_since(tmp_path: Path) -> None:
    """This process's request went stale (a stalled process), its slot was taken back and claimed by
    another process; when the late answer arrives, stamping (or cancelling) must leave that claim
    alone, or a third request would share the other one's window."""
    path = tmp_path / "account.slots"
    ledger = FileLedger(path, 1, window=1.0)
    stale = ledger.clock() - STALE_AFTER - 10
    assert ledger.claim(stale, 1) == (0, None)
    context = multiprocessing.get_context("fork")
    claimed, release = context.Event(), context.Event()
    child = context.Process(target=_claim_and_hold, args=(str(path), claimed, release))
    child.start()
    try:
        assert claimed.wait(30)
        ledger.stamp(0, ledger.clock() - 5.0)  # an answer that would make the slot free at once
        ledger.unclaim(0)
        assert ledger.claim(ledger.clock(), 1) == (None, None)  # still the other process's, in flight
    finally:
        release.set()
        child.join()


def test_a_slot_held_by_this_process_stays_held_until_it_is_stamped_or_stale(tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path / "a.slots", 1, window=1.0)
    now = ledger.clock()
    assert ledger.claim(now, 1) == (0, None)
    assert ledger.claim(now, 1) == (None, None)  # in flight: wait for a release
    assert ledger.claim(now + STALE_AFTER + 1, 1)[0] is None  # stale: taken back, free one window on
    assert ledger.claim(now + STALE_AFTER + 2.5, 1) == (0, None)


def test_stamped_slots_are_free_one_window_after_the_answer_and_cancelled_ones_at_once(tmp_path: Path) -> None:
    for ledger in (FileLedger(tmp_path / "b.slots", 2, window=1.0), MemoryLedger(2, clock=time.time)):
        now = ledger.clock()
        first, second = ledger.claim(now, 2)[0], ledger.claim(now, 2)[0]
        assert {first, second} == {0, 1}
        ledger.stamp(first, now + 1.0)  # type: ignore[arg-type]
        ledger.unclaim(second)  # type: ignore[arg-type]
        assert ledger.claim(now, 2) == (second, None)
        assert ledger.claim(now, 2) == (None, now + 1.0)
        ledger.pause(now + 5.0)
        assert ledger.claim(now + 2.0, 2) == (None, now + 5.0)


def test_a_damaged_ledger_starts_afresh_on_the_safe_side(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "c.slots"
    path.write_bytes(b"garbage that is not a ledger")
    ledger = FileLedger(path, 3, window=2.0)
    now = ledger.clock()
    with caplog.at_level(logging.WARNING):
        slot, ready = ledger.claim(now, 3)
    assert slot is None and ready is not None and ready >= now + 2.0 - 0.1
    assert "damaged" in caplog.text


def test_times_far_ahead_are_read_as_one_horizon_from_now(tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path / "d.slots", 1, window=1.0)
    now = ledger.clock()
    assert ledger.claim(now, 1)[0] == 0
    ledger.stamp(0, now + 86_400)  # the clock was set back a day after this was written
    slot, retry_at = ledger.claim(now, 1)
    assert slot is None and retry_at == pytest.approx(now + 4.0, abs=0.5)


def test_processes_with_different_limits_for_one_account_each_use_only_their_own_slots(tmp_path: Path) -> None:
    strict, loose = FileLedger(tmp_path / "e.slots", 1, window=1.0), FileLedger(tmp_path / "e.slots", 3, window=1.0)
    now = strict.clock()
    assert loose.claim(now, 3)[0] == 0
    assert strict.claim(now, 1) == (None, None)  # its one slot is in flight
    assert loose.claim(now, 3)[0] == 1


def test_the_account_key_never_contains_the_credential_and_an_unusable_directory_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    key = account_key("xima", "https://acme.example", "tok-very-secret")
    assert "secret" not in key and len(key) == 32
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COLLECTOR_LIMITS_DIR", str(blocker / "limits"))
    with caplog.at_level(logging.WARNING):
        assert isinstance(open_ledger(key, 3, window=1.0), MemoryLedger)
    assert "cannot be shared" in caplog.text


def test_workers_on_two_machines_share_a_tenants_slots_in_the_database(postgres: object) -> None:
    """Two connections (two workers) see one ledger, timed by the database's clock: what one
    worker spent, the one that takes the tenant over cannot spend again; a slot left in flight by
    a worker that died comes back after `stale_after`."""
    import threading

    from collector._http._ledger import DatabaseLedger
    from collector._storage._catalog import Catalog, PostgresTarget

    dsn = postgres.database()  # type: ignore[attr-defined]
    first, second = Catalog(PostgresTarget(dsn)), Catalog(PostgresTarget(dsn))
    try:
        a = DatabaseLedger(first, threading.Lock(), "acct", 2, window=1.0, stale_after=2.0)
        b = DatabaseLedger(second, threading.Lock(), "acct", 2, window=1.0, stale_after=2.0)
        slot, _ = a.claim(a.clock(), 2)
        assert slot is not None
        a.stamp(slot, a.clock() + 1.0)
        held, _ = a.claim(a.clock(), 2)  # in flight, never stamped: its worker "dies"
        assert held is not None
        now = b.clock()
        slot, ready = b.claim(now, 2)  # one slot waits out its window, the other is in flight
        assert slot is None and ready is not None and now + 0.8 < ready <= now + 1.05
        time.sleep(max(0.0, ready - b.clock()) + 0.05)
        assert b.claim(b.clock(), 2)[0] is not None  # the spent slot is free again
        assert b.claim(b.clock(), 2) == (None, None)  # the dead worker's slot is still in flight...
        time.sleep(1.2)
        slot, ready = b.claim(b.clock(), 2)  # ...until stale_after: then it is free one window on
        assert slot is None and ready is not None and ready > b.clock() + 0.5
    finally:
        first.close()
        second.close()


def test_a_worker_stalled_inside_a_ledger_transaction_holds_no_one_up_for_long(postgres: object) -> None:
    """A worker SIGSTOPped between reading and writing its ledger row keeps the row locked; the
    others' claims give up on the lock at once ("try again in a second") and the server ends the
    stalled session after its idle-in-transaction timeout, so the slots come back."""
    import threading

    from collector._http._ledger import DatabaseLedger
    from collector._storage._catalog import Catalog, PostgresTarget

    dsn = postgres.database()  # type: ignore[attr-defined]
    stalled = Catalog(PostgresTarget(dsn, settings=(("idle_in_transaction_session_timeout", "1s"),)))
    other = Catalog(PostgresTarget(dsn, settings=(("lock_timeout", "200ms"),)))
    try:
        ledger = DatabaseLedger(other, threading.Lock(), "acct", 1, window=1.0, stale_after=60)
        assert ledger.claim(ledger.clock(), 1)[0] == 0
        ledger.stamp(0, ledger.clock())
        frozen = stalled.locked_ledger("acct")
        frozen.__enter__()  # the row is locked, and its worker "stops" here
        began = time.monotonic()
        slot, retry_at = ledger.claim(ledger.clock(), 1)
        assert slot is None and retry_at is not None and time.monotonic() - began < 1.0
        time.sleep(1.5)  # the server ends the stalled session and rolls it back
        assert ledger.claim(ledger.clock(), 1)[0] == 0
    finally:
        stalled.close()
        other.close()


def test_one_server_written_two_ways_is_one_account() -> None:
    from collector import account_url

    spellings = ["http://localhost:8080/api/", "http://127.0.0.1:8080/api", "HTTP://[::1]:8080/api"]
    assert {account_url(url) for url in spellings} == {"http://loopback:8080/api"}
    assert account_url("HTTPS://Acme.Xima.Cloud:443/") == account_url("https://acme.xima.cloud")
    assert account_url("https://acme.xima.cloud") != account_url("https://beta.xima.cloud")
    assert account_url("http://127.0.0.1:8080") != account_url("http://127.0.0.1:8081")
