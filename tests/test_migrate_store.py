"""`migrate_store`: an embedded store moved into PostgreSQL + S3 (or another folder), verified,
resumable after SIGKILL, refusing a target that is not its own, the source left as it was."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from collector._storage._catalog import Scope
from collector._storage._catalog._schema import LATEST
from collector._storage._migrate import (
    MigrationProgress,
    MigrationRefused,
    MigrationResult,
    migrate_store,
    render_migration,
)
from collector._storage._objects import S3Objects
from collector._storage._store import Store, StoreBusy, StoreLocation
from collector._storage._verify import check_chain, verify_store
from collector.engine import Plugins
from collector.testing import (
    PostgresServer,
    S3Server,
    collect,
    inspect_store,
    location_of,
    query_catalog,
    scale_out,
    write_config,
)

TABLES = ("audio", "egress", "operations", "quarantine", "recordings", "run_tenants", "runs", "sync_state",
          "tenant_counts", "transcripts", "work_coverage")

CHILD = """
import sys, time
from pathlib import Path
from collector._runner._config import read_store_location
from collector._storage._migrate import migrate_store

source, _ = read_store_location(Path(sys.argv[1]))
target, _ = read_store_location(Path(sys.argv[2]))

def progress(p):
    print(p.phase, p.done, p.total, flush=True)
    time.sleep(0.02)

migrate_store(source, target, progress=progress, batch_rows=4, workers=2)
print("finished", flush=True)
"""


def _source(directory: Path, emulator: Any, toy_source: Any, plugins: Plugins) -> tuple[Path, Path]:
    """An embedded store collected from the toy vendor (outside `scale_out`), verified once; (config, root)."""
    config = write_config(directory, [toy_source(emulator)])
    assert collect(config, plugins).exit_code == 0
    root = directory / "store"
    store = Store(root)
    with store.exclusive():
        verify_store(store, Scope())  # the source has an operations row and verified files, like a real one
    store.close()
    (root / ".quarantine" / "toy" / "alpha").mkdir(parents=True)
    (root / ".quarantine" / "toy" / "alpha" / "t9999.bin").write_bytes(b"<html>not audio</html>")
    return config, root


def _files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under a folder: its modification time and sha256."""
    return {str(path.relative_to(root)): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(root.rglob("*")) if path.is_file()}


def _source_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """A query on an embedded catalog that leaves no `-shm`/`-wal` beside it (the source must stay as it was)."""
    db = sqlite3.connect(f"file:{root / 'catalog.sqlite'}?mode=ro&immutable=1", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _counts(root: Path, *, source: bool) -> dict[str, int]:
    """Rows per table of a store (the source read without leaving a trace)."""
    query = _source_rows if source else query_catalog
    return {table: query(root, f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES}


def _stored_paths(root: Path) -> set[str]:
    return {row[0] for row in _source_rows(root, "SELECT path FROM audio WHERE status='stored' UNION ALL "
                                                 "SELECT path FROM transcripts WHERE status='stored'")}


def _keys(location: StoreLocation) -> list[str]:
    assert location.s3 is not None
    objects = S3Objects(location.s3, location.root)
    return sorted([*objects.keys("toy/"), *objects.keys(".quarantine/")])


@pytest.mark.parametrize("backend", ["postgresql+s3", "folder"])
def test_an_embedded_store_moves_verified_and_the_target_carries_on(
        request: pytest.FixtureRequest, backend: str, tmp_path: Path, Toy: Any, toy_source: Any,
        toy_plugins: Plugins) -> None:
    with Toy(12) as toy, ExitStack() as stack:
        _, root = _source(tmp_path / "source", toy, toy_source, toy_plugins)
        source_counts, before = _counts(root, source=True), _files(root)
        if backend == "postgresql+s3":
            stack.enter_context(scale_out(postgres=request.getfixturevalue("postgres"),
                                          s3=request.getfixturevalue("s3")))
        target_config = write_config(tmp_path / "target", [toy_source(toy)])
        target = location_of(tmp_path / "target" / "store")
        assert (target.s3 is not None) == (backend == "postgresql+s3")
        seen: list[MigrationProgress] = []
        result = migrate_store(location_of(root), target, progress=seen.append)
        assert _files(root) == before  # the source: not a byte, not a timestamp, not a new file

        assert result.complete, result.problems
        assert not result.resumed and result.objects_copied == 12 * 2 + 1 and result.objects_present == 0
        assert set(TABLES) <= set(result.rows)
        assert result.rows == {table: _source_rows(root, f"SELECT COUNT(*) FROM {table}")[0][0]
                               for table in result.rows}
        assert result.rows_copied == result.rows and result.files_verified == 24
        assert {p.phase for p in seen} == {"objects", "rows", "verify"}
        assert _counts(tmp_path / "target" / "store", source=False) == source_counts | {
            "operations": source_counts["operations"] + 1}  # and the marker
        copy = inspect_store(tmp_path / "target" / "store")
        assert not copy.problems, copy.problems  # every file there, sha256 as recorded, nothing unaccounted
        assert len(copy.recordings["alpha"]) == len(copy.audio["alpha"]) == len(copy.transcripts["alpha"]) == 12
        assert copy.recordings["alpha"] == {row[0] for row in _source_rows(root, "SELECT vendor_id FROM recordings")}
        marker = query_catalog(tmp_path / "target" / "store",
                               "SELECT id, detail FROM operations WHERE command='migrate-store'")
        assert marker[0][0] == source_counts["operations"] + 1 and "finished" in marker[0][1]
        assert str(root) in marker[0][1]
        if target.s3 is not None:
            assert S3Objects(target.s3, target.root).size(".quarantine/toy/alpha/t9999.bin") == 22
            assert S3Server.secret_key not in repr(result) + _render(result)
        else:
            assert (target.root / ".quarantine" / "toy" / "alpha" / "t9999.bin").is_file()

        store = Store(target)  # `verify` on the target finds everything as the catalog says
        with store.exclusive():
            verified = verify_store(store, Scope())
        chain = check_chain(store)  # the source's chain came along, and says where its files went
        store.close()
        assert verified.files == 24 and not verified.findings and not verified.orphans
        assert chain.ok, chain.lines()
        assert chain.events == _source_rows(root, "SELECT MAX(seq) FROM chain")[0][0] + 1 + 1  # + verify, migrated

        toy.add(2)  # the target carries on where the source stopped: run ids continue, state is kept
        again = collect(target_config, toy_plugins)
        assert again.exit_code == 0 and again.summaries[0].new_recordings == 2
        runs = query_catalog(tmp_path / "target" / "store", "SELECT MAX(id) FROM runs")[0][0]
        assert runs == _source_rows(root, "SELECT MAX(id) FROM runs")[0][0] + 1


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["objects", "rows"])
def test_a_migration_killed_mid_way_resumes_to_the_same_end_state(
        phase: str, tmp_path: Path, postgres: PostgresServer, s3: S3Server, Toy: Any, toy_source: Any,
        toy_plugins: Plugins) -> None:
    with Toy(15) as toy, ExitStack() as stack:
        config, root = _source(tmp_path / "source", toy, toy_source, toy_plugins)
        stack.enter_context(scale_out(postgres=postgres, s3=s3))
        target_config = write_config(tmp_path / "target", [toy_source(toy)])
        target, before = location_of(tmp_path / "target" / "store"), _files(root)
        output: list[str] = []
        process = subprocess.Popen([sys.executable, "-c", CHILD, str(config), str(target_config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
        try:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                words = line.split()
                if words and words[0] == phase and int(words[1]) >= 6:
                    break
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert process.stdout is not None
            output += process.stdout.readlines()
        assert process.returncode == -signal.SIGKILL, "".join(output)
        assert "finished\n" not in output
        stored = query_catalog(tmp_path / "target" / "store", "SELECT COUNT(*) FROM recordings")[0][0]
        arrived = len(_keys(target))
        if phase == "objects":
            assert 0 < arrived < 31 and stored == 0, (arrived, stored)  # rows only follow their objects
        else:
            assert arrived == 31 and stored < 15, (arrived, stored)

        result = migrate_store(location_of(root), target, batch_rows=4)
        assert _files(root) == before
        assert result.complete and result.resumed, result.problems
        # An upload the server had taken in whole as the child died may land after the listing above.
        assert result.objects_present >= arrived and result.objects_present + result.objects_copied == 31, (
            arrived, result)
        assert _counts(tmp_path / "target" / "store", source=False) == {
            table: count + (table == "operations") for table, count in _counts(root, source=True).items()}
        assert _keys(target) == sorted(_stored_paths(root) | {".quarantine/toy/alpha/t9999.bin"})  # nothing doubled
        assert not inspect_store(tmp_path / "target" / "store").problems

        rerun = migrate_store(location_of(root), target)
        assert rerun.complete and rerun.objects_copied == 0 and not any(rerun.rows_copied.values())
        assert S3Server.secret_key not in "".join(output)


def test_a_target_that_is_not_this_migrations_own_is_refused(tmp_path: Path, postgres: PostgresServer, s3: S3Server,
                                                           Toy: Any, toy_source: Any, toy_plugins: Plugins) -> None:
    with Toy(3) as toy, Toy(2) as other_toy, ExitStack() as stack:
        source_config, root = _source(tmp_path / "source", toy, toy_source, toy_plugins)
        _, elsewhere = _source(tmp_path / "elsewhere", other_toy, toy_source, toy_plugins)
        stack.enter_context(scale_out(postgres=postgres, s3=s3))
        busy_config = write_config(tmp_path / "busy", [toy_source(other_toy)])  # collected into PG + S3 directly
        assert collect(busy_config, toy_plugins).exit_code == 0
        with pytest.raises(MigrationRefused, match=r"is not empty \(rows: .*recordings 2.*nothing was copied"):
            migrate_store(location_of(root), location_of(tmp_path / "busy" / "store"))
        assert query_catalog(tmp_path / "busy" / "store",
                             "SELECT COUNT(*) FROM operations WHERE command='migrate-store'") == [(0,)]

        write_config(tmp_path / "target", [toy_source(toy)])
        target = location_of(tmp_path / "target" / "store")
        assert migrate_store(location_of(root), target).complete
        with pytest.raises(MigrationRefused, match=f"It holds a migration from {re.escape(str(root))}"):
            migrate_store(location_of(elsewhere), target)

        toy.add(1)  # a run writes the source after (or between the attempts of) a migration
        assert collect(source_config, toy_plugins).exit_code == 0
        with pytest.raises(MigrationRefused, match="changed since the interrupted migration"):
            migrate_store(location_of(root), target)
    with pytest.raises(MigrationRefused, match="the same store"):
        migrate_store(location_of(root), StoreLocation(root))
    source = Store(root)
    with source.exclusive(), pytest.raises(StoreBusy, match="A collector run is using the store"):
        migrate_store(location_of(root), StoreLocation(tmp_path / "never"))
    source.close()


def test_a_damaged_source_file_is_reported_not_copied_and_verify_queues_it(
        tmp_path: Path, postgres: PostgresServer, s3: S3Server, Toy: Any, toy_source: Any,
        toy_plugins: Plugins) -> None:
    with Toy(4) as toy:
        _, root = _source(tmp_path / "source", toy, toy_source, toy_plugins)
        with scale_out(postgres=postgres, s3=s3):
            write_config(tmp_path / "target", [toy_source(toy)])
    audio, transcript = (_source_rows(root, f"SELECT path FROM {table} WHERE vendor_id='t0001'")[0][0]
                         for table in ("audio", "transcripts"))
    damaged = bytearray((root / audio).read_bytes())
    damaged[100] ^= 0xFF  # same size, other bytes: only the sha256 tells
    (root / audio).write_bytes(bytes(damaged))
    (root / transcript).unlink()
    before = _files(root)
    target = location_of(tmp_path / "target" / "store")

    result = migrate_store(location_of(root), target)
    assert _files(root) == before  # the damaged copy is still in the source, as it was
    assert not result.complete and result.exit_code == 1
    assert {(p.what, p.problem) for p in result.problems} == {(audio, "sha256"), (transcript, "missing")}
    assert audio not in _keys(target) and transcript not in _keys(target)
    assert query_catalog(tmp_path / "target" / "store", "SELECT status FROM audio WHERE vendor_id='t0001'") == [
        ("stored",)]  # the row as it was: verify on the target finds the file missing
    store = Store(target)
    with store.exclusive():
        verified = verify_store(store, Scope())
    store.close()
    assert sorted((f.file.path, f.problem, f.action) for f in verified.findings) == sorted(
        [(audio, "missing", "requeued"), (transcript, "missing", "requeued")])
    text = _render(result)
    assert f"sha256: The source's {audio} is damaged" in text and "2 problem(s)" in text


def test_a_catalog_from_an_older_release_is_migrated_on_a_copy(tmp_path: Path) -> None:
    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "catalog.sqlite") as db:
        db.executescript((Path(__file__).parent / "fixtures" / "catalog-v3.sql").read_text())
    db.close()
    before = _files(root)
    result = migrate_store(StoreLocation(root), StoreLocation(tmp_path / "new"))
    assert result.rows["recordings"] == 9 and result.rows_copied["recordings"] == 9
    assert {p.problem for p in result.problems} == {"missing"}  # the fixture has rows, not files
    with sqlite3.connect(tmp_path / "new" / "catalog.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert db.execute("SELECT COUNT(*) FROM audio WHERE due_at IS NOT NULL").fetchone()[0] == 2
    db.close()
    assert _files(root) == before
    assert not (tmp_path / "new" / ".tmp" / "migrate-source-catalog.sqlite").exists()


def _render(result: MigrationResult) -> str:
    import io

    out = io.StringIO()
    render_migration(result, out)
    return out.getvalue()


def test_a_scale_out_store_moves_back_into_a_folder(tmp_path: Path, postgres: PostgresServer, s3: S3Server, Toy: Any,
                                                   toy_source: Any, toy_plugins: Plugins) -> None:
    with Toy(5) as toy:
        with scale_out(postgres=postgres, s3=s3):
            config = write_config(tmp_path / "cluster", [toy_source(toy)])
            assert collect(config, toy_plugins).exit_code == 0
            source = location_of(tmp_path / "cluster" / "store")
            busy = Store(source)
            with busy.exclusive(), pytest.raises(StoreBusy, match="is using the store"):
                migrate_store(source, StoreLocation(tmp_path / "never"))
            busy.close()
            result = migrate_store(source, StoreLocation(tmp_path / "folder"))
        assert result.complete and result.objects_copied == 10 and result.rows["recordings"] == 5, result.problems
        copy = inspect_store(tmp_path / "folder")
        assert not copy.problems and len(copy.audio["alpha"]) == len(copy.transcripts["alpha"]) == 5
        assert query_catalog(tmp_path / "folder", "SELECT COUNT(*) FROM runs") == [(1,)]
