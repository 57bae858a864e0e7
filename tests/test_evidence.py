"""Evidence a user can show: verify what is stored, export it, reset and retry, over real files."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from collector._cli._main import run_cli
from collector.engine import EXIT_LOST, EXIT_OK, EXIT_PARTIAL, Plugins
from collector.testing import collect, inspect_store, query_catalog, write_config


def stored_files(store: Path) -> list[tuple[str, str, int]]:
    return query_catalog(store, "SELECT vendor_id, path, size FROM audio WHERE status='stored' ORDER BY vendor_id")


def verify(config: Path, plugins: Plugins, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = run_cli(["--config", str(config), "verify", "--json", *args], plugins)
    return code, json.loads(capsys.readouterr().out)


def test_verify_finds_every_flip_truncation_and_deletion_and_the_next_run_repairs_them(
        toy_config: Path, toy_plugins: Plugins, toy: Any, capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    store = toy_config.parent / "store"
    files = stored_files(store)
    damaged: dict[str, str] = {}
    for vendor_id, path, _ in files[:5]:  # one bit flipped in each
        target = store / path
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x10
        target.write_bytes(bytes(data))
        damaged[vendor_id] = "sha256"
    vendor_id, path, size = files[5]
    (store / path).write_bytes((store / path).read_bytes()[: size // 2])
    damaged[vendor_id] = "size"
    vendor_id, path, _ = files[6]
    (store / path).unlink()
    damaged[vendor_id] = "missing"
    code, result = verify(toy_config, toy_plugins, capsys)
    assert code == EXIT_PARTIAL
    assert {f["vendor_id"]: f["problem"] for f in result["findings"]} == damaged  # 100% found, nothing else
    assert all(f["action"] == "requeued" for f in result["findings"])
    kept = [f["kept_at"] for f in result["findings"] if f["problem"] != "missing"]
    assert len(kept) == 6 and all((store / p).is_file() and "/damaged/" in p for p in kept)  # never deleted
    found = query_catalog(store, "SELECT vendor_id, problem, found FROM findings")
    assert len(found) == 7 and all(row[2] for row in found)
    repaired = collect(toy_config, toy_plugins)
    assert repaired.exit_code == EXIT_OK and repaired.summaries[0].audio_files == 7
    assert toy.count(kind="audio") == 17  # the seven were fetched again, the rest never
    again, result = verify(toy_config, toy_plugins, capsys)
    assert again == EXIT_OK and result["findings"] == [] and result["files"] == 20  # 10 audio + 10 transcripts
    contents = inspect_store(store)
    assert [p for p in contents.problems if "/damaged/" not in p and "unaccounted" not in p] == []


def test_a_damaged_file_the_vendor_no_longer_offers_is_kept_and_reported_lost(
        toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    store = toy_config.parent / "store"
    vendor_id, path, _ = stored_files(store)[0]
    (store / path).write_bytes(b"garbage")
    with sqlite3.connect(store / "catalog.sqlite") as db:  # a later listing said: access denied now
        db.execute("UPDATE recordings SET media='denied' WHERE vendor_id=?", (vendor_id,))
    code, result = verify(toy_config, toy_plugins, capsys)
    assert code == EXIT_LOST and result["lost"] == 1
    (finding,) = result["findings"]
    assert finding["action"] == "lost" and (store / finding["kept_at"]).read_bytes() == b"garbage"
    assert query_catalog(store, "SELECT status FROM audio WHERE vendor_id=?", (vendor_id,)) == [("lost",)]


def test_a_sliced_verify_continues_where_it_stopped_and_dates_every_check(
        toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    store = toy_config.parent / "store"
    with sqlite3.connect(store / "catalog.sqlite") as db:
        db.execute("UPDATE audio SET last_verified=NULL")
        db.execute("UPDATE transcripts SET last_verified=NULL")
    slices, checked = 0, 0
    while True:
        code, result = verify(toy_config, toy_plugins, capsys, "--max-bytes", "60000")
        assert code == EXIT_OK
        slices += 1
        checked += result["files"]
        if result["cycle_complete"]:
            break
        assert slices < 20
    assert slices >= 3 and checked == 20  # each file once, across the slices
    assert query_catalog(store, "SELECT COUNT(*) FROM audio WHERE last_verified IS NULL") == [(0,)]
    code, result = verify(toy_config, toy_plugins, capsys)
    assert result["resumed"] is False and result["files"] == 20  # a new cycle starts from the beginning


def test_verify_lists_files_the_catalog_does_not_know(toy_config: Path, toy_plugins: Plugins,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    store = toy_config.parent / "store"
    stray = store / "toy" / "alpha" / "2026" / "03" / "01" / "copied-by-hand.wav"
    stray.write_bytes(b"RIFF....WAVE")
    code, result = verify(toy_config, toy_plugins, capsys)
    assert code == EXIT_PARTIAL and result["unknown_files"] == ["toy/alpha/2026/03/01/copied-by-hand.wav"]
    assert query_catalog(store, "SELECT problem, path FROM findings") == [
        ("unknown", "toy/alpha/2026/03/01/copied-by-hand.wav")]


def test_verify_with_decode_catches_damage_a_missing_hash_would_hide(
        toy_config: Path, toy_plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    store = toy_config.parent / "store"
    vendor_id, path, size = stored_files(store)[0]
    data = (store / path).read_bytes()
    (store / path).write_bytes(data[: size // 2])  # cut short
    with sqlite3.connect(store / "catalog.sqlite") as db:  # as if stored before hashes were kept
        db.execute("UPDATE audio SET sha256=NULL, size=NULL WHERE vendor_id=?", (vendor_id,))
    code, result = verify(toy_config, toy_plugins, capsys, "--decode")
    assert code == EXIT_PARTIAL and [f["vendor_id"] for f in result["findings"]] == [vendor_id]


HOSTILE = ["../x", "a|b", "nul\x00byte", "ünïcødé-☎", "quote\"comma,new\nline", "x" * 300]


def test_an_export_parses_back_to_the_catalogs_rows_exactly(tmp_path: Path, Toy: Any, toy_source: Any,
                                                            toy_plugins: Plugins,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with Toy(4) as toy:
        for number, hostile in enumerate(HOSTILE):
            toy.items.append({"id": hostile, "start": f"2026-03-02T10:0{number}:00+00:00", "duration": 1.0})
        config = write_config(tmp_path, [toy_source(toy, transcripts=False)])
        collect(config, toy_plugins)
    columns = ("source, tenant, vendor_id, call_id, start_utc, end_utc, duration, direction, parties, tags, media, "
               "media_size, extras")
    rows = query_catalog(tmp_path / "store", f"SELECT {columns}, a.status, a.path, a.sha256, a.size FROM recordings "
                         "LEFT JOIN audio a USING (source, tenant, vendor_id) ORDER BY start_utc, vendor_id")

    def as_catalog(record: dict[str, Any]) -> tuple[Any, ...]:
        nested = {k: json.dumps(record[k], separators=(",", ":"), ensure_ascii=False) for k in ("parties", "tags",
                                                                                                   "extras")}
        return (record["source"], record["tenant"], record["vendor_id"], record["call_id"], record["start"],
                record["end"], record["duration"], record["direction"], nested["parties"], nested["tags"],
                record["media"], record["media_size"], nested["extras"], record["audio_status"], record["audio_path"],
                record["audio_sha256"], record["audio_size"])

    capsys.readouterr()
    assert run_cli(["--config", str(config), "export"], toy_plugins) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [as_catalog(r) for r in lines] == rows  # every column, exactly
    assert {r["vendor_id"] for r in lines} >= set(HOSTILE)
    out = tmp_path / "export.csv"
    assert run_cli(["--config", str(config), "export", "--format", "csv", "--output", str(out)], toy_plugins) == 0
    with out.open(encoding="utf-8", errors="surrogatepass", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert [(r["vendor_id"], r["start"], r["audio_sha256"] or None) for r in records] == [
        (r[2], r[4], r[15]) for r in rows]  # CSV has no null: an empty cell


def test_export_filters_by_tenant_and_date(toy_config: Path, toy_plugins: Plugins,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    capsys.readouterr()
    run_cli(["--config", str(toy_config), "export", "--tenant", "toy/alpha", "--from", "2026-03-01T09:03:00Z",
             "--to", "2026-03-01T09:06:00Z"], toy_plugins)
    ids = [json.loads(line)["vendor_id"] for line in capsys.readouterr().out.splitlines()]
    assert ids == ["t0003", "t0004", "t0005"]


def test_retry_queues_failed_items_again_and_says_so(toy_config: Path, toy_plugins: Plugins, toy: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    toy.audio_status = {"t0002": 500}
    config_text = toy_config.read_text().replace("[[sources]]", "[[sources]]\nmax_attempts = 1")
    toy_config.write_text(config_text)
    first = collect(toy_config, toy_plugins)
    assert first.summaries[0].failed == 1
    toy.audio_status = {}
    assert collect(toy_config, toy_plugins).summaries[0].audio_files == 0  # given up: not asked again
    capsys.readouterr()
    assert run_cli(["--config", str(toy_config), "retry", "--failed"], toy_plugins) == 0
    assert "1 item(s) (failed) queued again" in capsys.readouterr().out
    assert collect(toy_config, toy_plugins).summaries[0].audio_files == 1
    ops = query_catalog(toy_config.parent / "store", "SELECT command, detail FROM operations")
    assert ("retry", "1 item(s) with status failed queued again") in ops


def test_reset_restarts_a_tenants_listing_from_a_date(toy_config: Path, toy_plugins: Plugins, toy: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    collect(toy_config, toy_plugins)
    before = toy.count(kind="metadata")
    assert run_cli(["--config", str(toy_config), "reset", "toy/alpha"], toy_plugins) == 0
    assert "sync state cleared" in capsys.readouterr().out
    again = collect(toy_config, toy_plugins)
    assert again.exit_code == EXIT_OK and again.summaries[0].new_recordings == 0  # listed again, nothing doubled
    assert toy.count(kind="metadata") > before + 1
    assert query_catalog(toy_config.parent / "store", "SELECT command, tenant FROM operations") == [
        ("reset", "alpha")]
