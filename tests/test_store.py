"""The store: safe file names for hostile ids, atomic writes, and the catalog's bookkeeping."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import Recording
from collector._storage._catalog import (
    AUDIO,
    TRANSCRIPT,
    Catalog,
    CatalogVersionError,
    PageCounts,
    PostgresTarget,
    Rejected,
    StoredAudio,
    WorkPlan,
)
from collector._storage._files import safe_name, store_path, write_atomic
from collector._storage._store import Store
from collector.testing import PostgresServer

HOSTILE = ["../x", "../../etc/passwd", "/abs/path", "a/b\\c", "a|b", "nul\x00byte", "x" * 300, "ünïcødé-☎-通話",
           "CON", "..", ".", "", " ", "-rf", "a:b*c?d<e>f\"g", "\udc80surrogate", "tab\there", "emoji-😀" * 40]


@pytest.mark.parametrize("vendor_id", HOSTILE)
def test_safe_names_are_portable_and_stay_put(tmp_path: Path, vendor_id: str) -> None:
    name = safe_name(vendor_id)
    assert 0 < len(name) <= 100
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert not name.startswith((".", "-"))
    target = store_path(tmp_path, Path("focus", "t", name + ".mp3"))
    assert target.parent == tmp_path / "focus" / "t"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"ok")  # the file system accepts it


def test_safe_names_never_collide() -> None:
    ids = [*HOSTILE, "a_b", "a/b", "a|b", "a b", "A|B"]
    assert len({safe_name(i) for i in ids}) == len(set(ids))


def test_store_paths_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        store_path(tmp_path, Path("..", "outside"))
    with pytest.raises(ValueError):
        store_path(tmp_path, Path("/etc/passwd"))


def test_atomic_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    final = tmp_path / "a" / "file.json"
    write_atomic(final, b"one", tmp_path / ".tmp")
    write_atomic(final, b"two", tmp_path / ".tmp")
    assert final.read_bytes() == b"two" and list((tmp_path / ".tmp").iterdir()) == []


def test_a_killed_runs_scratch_files_are_removed_by_the_next_run(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.temp_dir.mkdir()
    (store.temp_dir / "tmp123.part").write_bytes(b"half a download")
    with store.exclusive():
        assert list(store.temp_dir.iterdir()) == []
    store.close()


def recording(vendor_id: str, minutes: int = 0, **extra: object) -> Recording:
    start = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return Recording(source="toy", tenant="t", vendor_id=vendor_id, start=start, duration=3.0,
                     raw={"id": vendor_id, **extra})


def commit(catalog: Catalog, recordings: list[Recording], state: dict[str, Any] | None = None,
           rejects: list[Rejected] | None = None) -> PageCounts:
    return catalog.commit_page("toy", "t", recordings, rejects or [], state, WorkPlan())


@pytest.fixture(params=["sqlite", "postgresql"])
def new_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Catalog]]:
    """Makes an empty catalog: a SQLite file, or a database on the suite's PostgreSQL server."""
    made: list[Catalog] = []

    def make() -> Catalog:
        if request.param == "sqlite":
            catalog = Catalog(tmp_path / "c.sqlite")
        else:
            catalog = Catalog(PostgresTarget(request.getfixturevalue("postgres").database()))
        made.append(catalog)
        return catalog

    yield make
    for catalog in made:
        catalog.close()


def test_upserts_are_idempotent_and_count_new_and_changed(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    first = commit(catalog, [recording("a"), recording("b"), recording("a")], {"cursor": 1})
    assert (first.new, first.updated) == (2, 0)
    again = commit(catalog, [recording("a"), recording("b")], {"cursor": 2})
    assert (again.new, again.updated) == (0, 0)
    changed = commit(catalog, [recording("a", note="edited by the vendor")], None)
    assert (changed.new, changed.updated) == (0, 1)
    assert catalog.query("SELECT COUNT(*) FROM recordings") == [(2,)]
    assert catalog.query("SELECT COUNT(*) FROM audio") == [(2,)]
    assert catalog.load_state("toy", "t") == {"cursor": 2}  # None keeps the previous state


def test_a_failed_page_commits_nothing(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    commit(catalog, [recording("a")], {"cursor": 1})
    with pytest.raises(TypeError):
        commit(catalog, [recording("b")], {"cursor": object()})  # the state cannot be stored
    assert catalog.load_state("toy", "t") == {"cursor": 1}
    assert catalog.query("SELECT vendor_id FROM recordings") == [("a",)]


def test_quarantined_items_are_not_counted_twice(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    bad = Rejected("x", "The item has no start.", {"id": "x"})
    assert commit(catalog, [], None, [bad]).quarantined == 1
    assert commit(catalog, [], None, [bad]).quarantined == 0
    assert catalog.query("SELECT times FROM quarantine") == [(2,)]


def test_audio_is_claimed_once_per_run_and_given_up_after_max_attempts(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    commit(catalog, [recording("a"), recording("b", 1)])
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "t", run_id=1, limit=10)] == ["a", "b"]
    assert catalog.claim(AUDIO, "toy", "t", run_id=1, limit=10) == []
    key = recording("a").key
    assert catalog.deferred(AUDIO, key, "Timed out.", max_attempts=2) is False
    catalog.audio_stored_many([(recording("b", 1).key, StoredAudio("p", "0" * 64, 10, "wav", "pcm_16", 8000, 1, 3.0))])
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "t", run_id=2, limit=10)] == ["a"]
    assert catalog.deferred(AUDIO, key, "Timed out.", max_attempts=2) is True
    assert catalog.claim(AUDIO, "toy", "t", run_id=3, limit=10) == []
    assert catalog.query("SELECT status, reason FROM audio WHERE vendor_id='a'") == [
        ("failed", "Timed out. The collector gave up after 2 runs.")]
    assert catalog.egress_since("toy", "t", datetime.now(UTC) - timedelta(days=5)) == 10


def test_catalog_refuses_a_newer_schema(tmp_path: Path) -> None:
    Catalog(tmp_path / "c.sqlite").close()
    import sqlite3

    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(CatalogVersionError, match="newer recording-collector"):
        Catalog(tmp_path / "c.sqlite")


def test_a_postgresql_catalog_refuses_a_newer_schema_and_migrates_once(postgres: PostgresServer) -> None:
    import psycopg

    dsn = postgres.database()
    first, second = Catalog(PostgresTarget(dsn)), Catalog(PostgresTarget(dsn))  # the second finds it migrated
    assert first.schema_version() == second.schema_version()
    first.close()
    second.close()
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("UPDATE catalog_version SET version=99")
    with pytest.raises(CatalogVersionError, match="newer recording-collector"):
        Catalog(PostgresTarget(dsn))


def test_the_store_lock_keeps_runs_apart(tmp_path: Path) -> None:
    from collector._storage._store import StoreBusy

    first, second = Store(tmp_path), Store(tmp_path)
    with first.exclusive(), pytest.raises(StoreBusy, match="Another collector run"), second.exclusive():
        pass
    with second.exclusive():
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    first.close()
    second.close()


def test_audio_found_unavailable_stays_so_when_relisted_unchanged(new_catalog: Callable[[], Catalog]) -> None:
    from collector import MediaAvailability

    catalog = new_catalog()
    commit(catalog, [recording("a")])
    catalog.claim(AUDIO, "toy", "t", run_id=1, limit=10)
    catalog.unavailable(AUDIO, recording("a").key, "Access denied (403).")
    commit(catalog, [recording("a")])  # a re-sweep lists it again, unchanged
    assert catalog.claim(AUDIO, "toy", "t", run_id=2, limit=10) == []
    denied = recording("a").model_copy(update={"media": MediaAvailability.DENIED, "raw": {"id": "a", "v": 2}})
    commit(catalog, [denied])
    commit(catalog, [recording("a", v=3)])  # the vendor grants access: the listing says so
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "t", run_id=3, limit=10)] == ["a"]


def _store_written_by(version: int, directory: Path) -> Path:
    """A catalog exactly as an earlier release wrote it (see tests/fixtures/catalog-v*.sql)."""
    import sqlite3

    path = directory / "catalog.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript((Path(__file__).parent / "fixtures" / f"catalog-v{version}.sql").read_text())
    return path


def test_a_catalog_written_by_schema_1_is_migrated_without_loss(tmp_path: Path) -> None:
    path = _store_written_by(1, tmp_path)
    catalog = Catalog(path)
    from collector._storage._catalog._schema import LATEST

    assert catalog.schema_version() == LATEST
    assert catalog.query("SELECT COUNT(*) FROM recordings") == [(9,)]
    statuses = dict(catalog.query("SELECT vendor_id, status FROM transcripts"))
    assert statuses["t0004"] == "waiting" and statuses["t0001"] == "unavailable" and statuses["t0000"] == "stored"
    assert catalog.query("SELECT wait_until FROM transcripts WHERE vendor_id='t0004'") == [
        ("2099-01-01T00:00:00.000000Z",)]
    assert catalog.load_state("toy", "alpha") == {"after": 10}
    # the migrated catalog works: the waiting transcript is due, stored audio is not
    due = catalog.claim(TRANSCRIPT, "toy", "alpha", run_id=99, limit=50)
    assert [r.vendor_id for r in due] == ["t0004"]
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "alpha", run_id=99, limit=50)] == [
        "t0005", "t0006"]  # the deferred one, and the quarantined one with attempts left
    catalog.close()
    assert Catalog(path).schema_version() == LATEST  # opening again changes nothing


def test_a_read_only_catalog_is_never_written(tmp_path: Path) -> None:
    path = _store_written_by(1, tmp_path)
    before = path.read_bytes()
    catalog = Catalog(path, read_only=True)
    assert catalog.schema_version() == 1 and catalog.tenants() == [("toy", "alpha")]
    catalog.close()
    assert path.read_bytes() == before


def test_waiting_items_spend_no_attempts_and_end_when_their_wait_does(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    recent = recording("a").model_copy(update={"start": datetime.now(UTC) - timedelta(hours=1)})
    commit(catalog, [recent])
    key = recent.key
    for run in range(1, 8):  # far more runs than max_attempts
        assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "t", run_id=run, limit=10)] == ["a"]
        catalog.waiting(AUDIO, key, "Still processing.", timedelta(days=1))
    assert catalog.query("SELECT status, attempts FROM audio") == [("waiting", 0)]
    with catalog._transaction() as db:
        db.execute("UPDATE audio SET wait_until='2000-01-01T00:00:00.000000Z'")
    catalog.expire_waits("toy", "t")  # what a job does as it starts
    assert catalog.claim(AUDIO, "toy", "t", run_id=9, limit=10) == []
    assert catalog.query("SELECT status FROM audio") == [("failed",)]


def test_waits_are_counted_from_the_end_of_the_call(new_catalog: Callable[[], Catalog]) -> None:
    catalog = new_catalog()
    commit(catalog, [recording("old")])  # ended in February: its week of waiting is long over
    catalog.claim(TRANSCRIPT, "toy", "t", run_id=1, limit=10)
    catalog.waiting(TRANSCRIPT, recording("old").key, "Not yet.", timedelta(days=7))
    catalog.expire_waits("toy", "t")
    assert catalog.claim(TRANSCRIPT, "toy", "t", run_id=2, limit=10) == []
    assert catalog.query("SELECT status, reason FROM transcripts") == [
        ("unavailable", "No transcript appeared within the waiting period.")]


def test_audio_of_an_old_call_first_listed_now_waits_a_day_not_zero(new_catalog: Callable[[], Catalog]) -> None:
    """A recording the vendor imported long after its call (a back-dated arrival) whose media is
    still processing is not failed on its first "not ready": it waits a day from its listing (at
    most `media_wait`), then ends as any wait does. Its transcript is still counted from the call."""
    catalog = new_catalog()
    commit(catalog, [recording("old")])  # the call ended in February
    catalog.claim(AUDIO, "toy", "t", run_id=1, limit=10)
    catalog.waiting(AUDIO, recording("old").key, "Still processing.", timedelta(days=7))
    catalog.expire_waits("toy", "t")
    ((status, until),) = catalog.query("SELECT status, wait_until FROM audio")
    left = datetime.fromisoformat(until) - datetime.now(UTC)
    assert status == "waiting" and timedelta(hours=23) < left <= timedelta(days=1), (status, until)
    with catalog._transaction() as db:
        db.execute("UPDATE audio SET wait_until='2000-01-01T00:00:00.000000Z'")
    catalog.expire_waits("toy", "t")
    assert catalog.query("SELECT status FROM audio") == [("failed",)]


def test_media_listed_as_processing_waits_and_is_queued_once_listed_available(
        new_catalog: Callable[[], Catalog]) -> None:
    from collector import MediaAvailability

    catalog = new_catalog()
    processing = recording("a").model_copy(update={"media": MediaAvailability.PROCESSING})
    commit(catalog, [processing])
    assert catalog.query("SELECT status FROM audio") == [("waiting",)]
    commit(catalog, [recording("a", v=2)])
    assert catalog.query("SELECT status, reason FROM audio") == [("pending", None)]


def test_a_catalog_written_by_schema_2_is_migrated_without_loss(tmp_path: Path) -> None:
    path = _store_written_by(2, tmp_path)
    catalog = Catalog(path)
    assert catalog.query("SELECT COUNT(*) FROM recordings") == [(9,)]
    assert catalog.query("SELECT vendor_id, status FROM transcripts WHERE vendor_id='t0004'") == [("t0004", "waiting")]
    assert catalog.query("SELECT COUNT(*) FROM findings") == [(0,)]
    assert catalog.query("SELECT kind, resolved FROM quarantine") == [("metadata", None)]
    stored = catalog.query("SELECT vendor_id FROM audio WHERE status='stored' AND last_verified IS NULL")
    assert len(stored) == 4  # stored before verification was recorded: verify has them to do
    catalog.close()


def test_a_catalog_written_by_schema_3_is_migrated_without_loss(tmp_path: Path) -> None:
    catalog = Catalog(_store_written_by(3, tmp_path))
    assert catalog.query("SELECT COUNT(*) FROM recordings") == [(9,)]
    assert catalog.query("SELECT recordings FROM tenant_counts") == [(9,)]
    # What was due before is due after: the pending and the quarantined audio, the waiting transcript.
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "alpha", run_id=99, limit=50)] == ["t0005", "t0006"]
    assert [r.vendor_id for r in catalog.claim(TRANSCRIPT, "toy", "alpha", run_id=99, limit=50)] == ["t0004"]
    assert catalog.leftovers("toy", "alpha")["audio_failed"] == 2
    catalog.close()


def test_a_catalog_written_by_schema_4_is_migrated_without_loss(tmp_path: Path) -> None:
    catalog = Catalog(_store_written_by(4, tmp_path))
    assert catalog.query("SELECT COUNT(*) FROM recordings") == [(9,)]
    assert [r.vendor_id for r in catalog.claim(AUDIO, "toy", "alpha", run_id=99, limit=50)] == ["t0005", "t0006"]
    epoch, _ = catalog.take_lease("toy", "alpha", "w1", 30)
    assert epoch == 1 and catalog.take_lease("toy", "alpha", "w2", 30)[0] is None  # the new tables work
    catalog.close()


def test_a_lease_fences_the_tenants_writes_once_another_worker_took_it(new_catalog: Callable[[], Catalog]) -> None:
    from collector._storage._catalog import LeaseLost

    catalog = new_catalog()
    epoch, _ = catalog.take_lease("toy", "t", "w1", 0.2)
    assert epoch is not None and catalog.renew_lease("toy", "t", epoch, 0.2)
    catalog.fences[("toy", "t")] = epoch
    commit(catalog, [recording("a")])  # the lease is ours: written
    import time

    time.sleep(0.3)  # the lease lapses; another worker takes it (a new epoch)
    assert not catalog.renew_lease("toy", "t", epoch, 30)
    taken, _ = catalog.take_lease("toy", "t", "w2", 30)
    assert taken == epoch + 1
    with pytest.raises(LeaseLost):
        commit(catalog, [recording("b")])
    assert catalog.query("SELECT vendor_id FROM recordings") == [("a",)]
    catalog.fences[("toy", "t")] = taken
    commit(catalog, [recording("b")])
    catalog.release_lease("toy", "t", taken)
    assert catalog.take_lease("toy", "t", "w3", 30)[0] == taken + 1  # released: no wait


def test_claims_and_leftovers_walk_indexes_not_the_whole_store(tmp_path: Path) -> None:
    """The queries a job makes at every start and every claim use the indexes made for them."""
    catalog = Catalog(tmp_path / "c.sqlite")
    commit(catalog, [recording("a")])
    executed: list[str] = []
    catalog._db.set_trace_callback(executed.append)
    catalog.expire_waits("toy", "t")
    catalog.claim(AUDIO, "toy", "t", run_id=1, limit=10)
    catalog.leftovers("toy", "t")
    catalog._db.set_trace_callback(None)

    def plan(word: str, table: str) -> str:
        sql = next(s for s in executed if s.lstrip().startswith(word) and f" {table} " in s)
        return " ".join(row[-1] for row in catalog.query(f"EXPLAIN QUERY PLAN {sql}"))

    assert "audio_due" in plan("SELECT", "audio w") and "TEMP B-TREE" not in plan("SELECT", "audio w")
    assert "transcripts_waiting" in plan("UPDATE", "transcripts")
    assert "tenant_counts" in plan("SELECT", "tenant_counts")
    catalog.close()


def test_a_group_commit_lingers_for_patient_items_only(tmp_path: Path) -> None:
    """Patient items (their tenants wait for a rate-limit slot) arriving a little apart share one
    transaction; an item that may not wait commits at once, and cuts a linger short."""
    from collector._storage._store import GroupCommit

    class Slow(GroupCommit[str]):
        LINGER = 1.0  # long enough that a loaded machine cannot make the timings below overlap it

    store = Store(tmp_path / "store")
    batches: list[list[str]] = []
    group = Slow(store, batches.append, lambda item: ("source", "tenant"))

    async def arrivals(patient: bool) -> None:
        async def later(item: str, delay: float) -> None:
            await asyncio.sleep(delay)
            await group.submit(item, patient=patient)

        await asyncio.gather(later("a", 0), later("b", 0.05), later("c", 0.1))

    async def hurried() -> float:
        began = time.monotonic()
        lingering = asyncio.create_task(group.submit("patient", patient=True))
        await asyncio.sleep(0.05)
        await group.submit("urgent")
        await lingering
        return time.monotonic() - began

    try:
        asyncio.run(arrivals(patient=True))
        assert batches == [["a", "b", "c"]]
        batches.clear()
        asyncio.run(arrivals(patient=False))
        assert batches == [["a"], ["b"], ["c"]]  # nothing waited for company
        batches.clear()
        assert asyncio.run(hurried()) < Slow.LINGER / 2 and batches == [["patient", "urgent"]]
    finally:
        store.close()
