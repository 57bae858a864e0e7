"""The evidence chain: every pass checkpoints it, and every way of rewriting a store behind the
collector's back is caught, by `collector verify --chain` and by the standalone checker run with
Python's standard library alone (`python -I -S collector/archive_check.py`)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import collector
from collector._cli._main import run_cli
from collector.engine import EXIT_OK, Plugins
from collector.testing import collect, query_catalog, write_config

CHECKER = Path(collector.__file__).with_name("archive_check.py")
EXIT_TAMPERED = 7


def standalone(*args: str | Path) -> tuple[int, dict[str, Any]]:
    """The checker as a regulator runs it: a bare interpreter, no site-packages, no collector."""
    done = subprocess.run([sys.executable, "-I", "-S", str(CHECKER), "--json", *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def verify_chain(config: Path, plugins: Plugins, capsys: pytest.CaptureFixture[str],
                 *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run_cli(["--config", str(config), "verify", "--chain", "--json", *args], plugins)
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def archive(tmp_path: Path, toy: Any, toy_source: Callable[..., dict[str, Any]],
            toy_plugins: Plugins) -> tuple[Path, Path]:
    """A store after two passes (the second with nothing new), checkpoints copied to a folder."""
    config = write_config(tmp_path, [toy_source(toy)])
    with config.open("a") as out:
        out.write(f'\n[evidence]\ncheckpoint_dir = "{tmp_path / "checkpoints"}"\n')
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    return config, tmp_path / "store"


def _edit(store: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(store / "catalog.sqlite") as db:
        db.execute(sql, params)


def _problems(result: dict[str, Any]) -> list[str]:
    return [f"{p['where']}: {p['what']}" for p in result["problems"]]


def test_a_pass_checkpoints_the_chain_and_every_check_agrees(archive: tuple[Path, Path], toy_plugins: Plugins,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config, store = archive
    events = query_catalog(store, "SELECT json_extract(event, '$.type'), COUNT(*) FROM chain GROUP BY 1")
    assert dict(events) == {"genesis": 1, "stored": 20}  # 10 audio + 10 transcripts, once each
    checkpoints = query_catalog(store, "SELECT run_id, events, copies FROM checkpoints ORDER BY id")
    assert [(run, count) for run, count, _ in checkpoints] == [(1, 21), (2, 21)]
    copies = sorted((store.parent / "checkpoints").glob("checkpoint-*.json"))
    assert len(copies) == 2 and all(json.loads(c)[0].endswith(".json") for _, _, c in checkpoints)
    assert all(path.stat().st_mode & 0o222 == 0 for path in copies)  # read-only
    code, result = verify_chain(config, toy_plugins, capsys)
    assert code == EXIT_OK and result["ok"] and result["events"] == 21 and result["checkpoints"] == 4
    code, result = standalone(store, "--checkpoint", copies[-1])
    assert code == 0 and result["files_hashed"] == 20 and result["files_checked"] == 20


def test_a_file_and_its_row_rewritten_together_are_caught(archive: tuple[Path, Path], toy_plugins: Plugins,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config, store = archive
    (path, seq), = query_catalog(store, "SELECT path, chain_seq FROM audio WHERE vendor_id='t0003'")
    forged = (store / path).read_bytes()[:-2] + b"\0\0"  # another valid file of the same size
    (store / path).write_bytes(forged)
    import hashlib

    _edit(store, "UPDATE audio SET sha256=? WHERE vendor_id='t0003'", (hashlib.sha256(forged).hexdigest(),))
    code, result = verify_chain(config, toy_plugins, capsys)
    assert code == EXIT_TAMPERED
    assert _problems(result) == [f"audio toy/alpha/'t0003': the catalog's row differs from chain event {seq} in "
                                 "sha256: the row was changed after the file was stored."]
    code, result = standalone(store)
    assert code == 1 and len(result["problems"]) == 1  # the file agrees with its (rewritten) row


def test_a_deleted_event_two_swapped_events_and_a_deleted_row_are_caught(
        archive: tuple[Path, Path], toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    config, store = archive
    original = query_catalog(store, "SELECT seq, event, hash FROM chain ORDER BY seq")
    _edit(store, "DELETE FROM chain WHERE seq=7")
    code, result = verify_chain(config, toy_plugins, capsys)
    assert code == EXIT_TAMPERED and result["problems"][0]["event"] == 7
    assert "event 7: it is missing" in _problems(result)[0]
    _edit(store, "INSERT INTO chain VALUES (?,?,?)", original[6])
    assert verify_chain(config, toy_plugins, capsys)[0] == EXIT_OK  # restored exactly: whole again
    (_, first, first_hash), (_, second, second_hash) = original[9], original[10]
    _edit(store, "UPDATE chain SET event=?, hash=? WHERE seq=10", (second, second_hash))
    _edit(store, "UPDATE chain SET event=?, hash=? WHERE seq=11", (first, first_hash))
    code, result = standalone(store)
    assert code == 1 and result["problems"][0]["event"] == 10
    assert "does not follow from event 9" in result["problems"][0]["what"]
    _edit(store, "UPDATE chain SET event=?, hash=? WHERE seq=10", (first, first_hash))
    _edit(store, "UPDATE chain SET event=?, hash=? WHERE seq=11", (second, second_hash))
    _edit(store, "DELETE FROM audio WHERE vendor_id='t0005'")
    code, result = verify_chain(config, toy_plugins, capsys)
    assert code == EXIT_TAMPERED
    assert "audio toy/alpha/'t0005': chain event" in _problems(result)[0] and "no stored row" in _problems(result)[0]


def test_a_truncated_chain_and_an_altered_checkpoint_are_caught(archive: tuple[Path, Path], toy_plugins: Plugins,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config, store = archive
    copies = sorted((store.parent / "checkpoints").glob("checkpoint-*.json"))
    # Someone removes the last five events and makes the catalog consistent with that again.
    ((head,),) = query_catalog(store, "SELECT hash FROM chain WHERE seq=16")
    _edit(store, "DELETE FROM chain WHERE seq>16")
    _edit(store, "UPDATE chain_head SET seq=16, hash=?", (head,))
    _edit(store, "DELETE FROM checkpoints")
    _edit(store, "UPDATE audio SET status='pending' WHERE chain_seq>16")
    _edit(store, "UPDATE transcripts SET status='pending' WHERE chain_seq>16")
    assert standalone(store)[0] == 0  # nothing inside the store shows it...
    code, result = standalone(store, "--checkpoint", copies[0])  # ...the copy kept elsewhere does
    assert code == 1
    assert _problems(result) == [f"checkpoint file {copies[0].name}: it vouched for 21 events but the chain holds "
                                 "only 16: events after 16 were removed."]
    code, result = verify_chain(config, toy_plugins, capsys)  # [evidence] checkpoint_dir is read by itself
    assert code == EXIT_TAMPERED and len(result["problems"]) == 2


def test_an_altered_checkpoint_and_a_checkpoint_of_another_chain_are_caught(
        archive: tuple[Path, Path], tmp_path: Path) -> None:
    _, store = archive
    copy = sorted((store.parent / "checkpoints").glob("checkpoint-*.json"))[0]
    document = json.loads(copy.read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "head": "ab" * 32}))
    code, result = standalone(store, "--checkpoint", forged)
    assert code == 1 and result["problems"][0]["event"] == 21
    assert "it recorded head abababababababab at event 21" in result["problems"][0]["what"]
    _edit(store, "UPDATE checkpoints SET head=? WHERE id=1", ("cd" * 32,))
    code, result = standalone(store)
    assert code == 1 and result["problems"][0]["where"].startswith("checkpoint 1 (at ")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**document, "chain": "ef" * 32}))
    assert "it names another chain" in standalone(store, "--no-files", "--checkpoint", other)[1]["problems"][-1]["what"]


def test_the_export_carries_the_chain_to_the_standalone_checker(archive: tuple[Path, Path], toy_plugins: Plugins,
                                                                tmp_path: Path) -> None:
    config, store = archive
    exported = tmp_path / "chain.jsonl"
    assert run_cli(["--config", str(config), "export", "--chain", "--output", str(exported)], toy_plugins) == 0
    code, result = standalone("--export", exported, "--files", store)
    assert code == 0 and result["events"] == 21 and result["files_hashed"] == 20
    lines = exported.read_text().splitlines()
    tampered = tmp_path / "tampered.jsonl"
    record = json.loads(lines[5])
    record["event"] = record["event"].replace('"size":', '"size":1')
    tampered.write_text("\n".join([*lines[:5], json.dumps(record), *lines[6:]]) + "\n")
    code, result = standalone("--export", tampered, "--no-files")
    assert code == 1 and result["problems"][0]["event"] == record["seq"]


def test_a_store_written_before_the_chain_starts_one_that_says_from_when_it_vouches(tmp_path: Path) -> None:
    from collector._storage._catalog import Catalog

    path = tmp_path / "catalog.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript((Path(__file__).parent / "fixtures" / "catalog-v5.sql").read_text())
    Catalog(path).close()
    (genesis,) = query_catalog(tmp_path, "SELECT event FROM chain WHERE seq=1")
    event = json.loads(genesis[0] if isinstance(genesis, tuple) else genesis)
    assert event["type"] == "genesis" and event["adopted"] == 11 and event["vouches_from"]
    adopted = query_catalog(tmp_path, "SELECT COUNT(*) FROM chain WHERE json_extract(event, '$.type')='adopted'")
    assert adopted == [(11,)]
    code, result = standalone(tmp_path, "--no-files")
    assert code == 0 and result["vouches_from"] == event["vouches_from"]
