"""Failures of our own machine are not vendor failures: a full disk stops the downloads with a clear
message and exit code 5, counts against no recording, loses nothing, and the run after space
returns completes. Uses a real, small tmpfs (the suite runs as root in CI; skipped otherwise)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.engine import EXIT_OK, EXIT_STORE, Plugins
from collector.testing import collect, inspect_store, query_catalog, write_config


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 100 MB tmpfs mounted at tmp_path/disk (unmounted afterwards)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk until only about `leave` bytes are free; returns the filler file."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("ab") as handle:
        handle.truncate(max(0, free - leave))
    # tmpfs allocates lazily: write the bytes for real
    with filler.open("r+b") as handle:
        block = b"\0" * (1 << 20)
        remaining = os.path.getsize(filler)
        while remaining > 0:
            handle.write(block[:remaining])
            remaining -= len(block)
    return filler


def pending_attempts(store: Path) -> list[tuple[Any, ...]]:
    return query_catalog(store, "SELECT status, attempts FROM audio ORDER BY vendor_id")


@pytest.mark.parametrize("announced", [True, False], ids=["size-announced", "size-unknown"])
def test_a_full_disk_for_ten_runs_loses_nothing_and_spends_no_attempts(
        small_disk: Path, toy: Any, toy_source: Any, toy_plugins: Plugins, tmp_path: Path, announced: bool) -> None:
    if not announced:
        for item in toy.items:
            item.pop("size")
    store = small_disk / "store"
    source = toy_source(toy, max_attempts=2, transcripts=False)
    collect(write_config(tmp_path / "metadata", [{**source, "audio": False}], store=store), toy_plugins)
    config = write_config(tmp_path / "config", [source], store=store)
    filler = fill(small_disk, leave=200 * 1024 if not announced else 2 * 1024 * 1024)
    for _ in range(10):
        result = collect(config, toy_plugins)
        assert result.exit_code == EXIT_STORE, [s.as_dict() for s in result.summaries]
        message = result.store_failure or ""
        assert str(store.resolve()) in message and (" is full (" in message or "not enough for a download" in message)
        assert " free" in message and "nothing counts against any recording" in message
        assert all(summary.failed == 0 for summary in result.summaries)
        assert all(status != "failed" and attempts == 0 for status, attempts in pending_attempts(store)
                   if status != "stored"), pending_attempts(store)
    assert not list((store / ".tmp").glob("*"))
    filler.unlink()
    final = collect(config, toy_plugins)
    assert final.exit_code == EXIT_OK, [s.as_dict() for s in final.summaries]
    contents = inspect_store(store)
    assert not contents.problems and contents.audio["alpha"] == {item["id"] for item in toy.items}


def test_the_space_kept_free_is_configurable_and_named_when_it_stops_downloads(
        small_disk: Path, toy: Any, toy_source: Any, toy_plugins: Plugins, tmp_path: Path) -> None:
    """On a small volume the default 64 MiB margin keeps every download from starting; the message
    says so, and `[store] min_free_bytes` lowers it."""
    store = small_disk / "store"
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)], store=store)
    filler = fill(small_disk, leave=32 * 1024 * 1024)
    stopped = collect(config, toy_plugins)
    assert stopped.exit_code == EXIT_STORE and "[store] min_free_bytes" in (stopped.store_failure or "")
    assert "lower min_free_bytes on a small volume" in (stopped.store_failure or "")
    config.write_text(config.read_text().replace("[store]\n", "[store]\nmin_free_bytes = 1_048_576\n"))
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    filler.unlink()


def test_every_pass_is_recorded_even_when_the_disk_was_full_at_its_start_or_end(
        small_disk: Path, toy: Any, toy_source: Any, toy_plugins: Plugins, tmp_path: Path) -> None:
    """A pass whose `runs` row the full disk refused is kept in the reserved journal and recorded by
    the next pass that can write; one killed on the way is marked interrupted."""
    store = small_disk / "store"
    config = write_config(tmp_path, [toy_source(toy, transcripts=False)], store=store)
    assert collect(config, toy_plugins).exit_code == EXIT_OK  # reserves the journal while there is space
    with sqlite3.connect(store / "catalog.sqlite") as db:
        db.execute("INSERT INTO runs (started) VALUES ('2026-12-01T00:00:00.000000Z')")  # a pass that was killed
    filler = fill(small_disk, leave=0)
    for _ in range(3):
        assert collect(config, toy_plugins).exit_code == EXIT_STORE
    filler.unlink()
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    runs = query_catalog(store, "SELECT exit_code, outcome, finished IS NOT NULL FROM runs ORDER BY id")
    assert runs[0] == (0, "complete", 1) and runs[1] == (None, "interrupted", 0)
    missed = [row for row in runs[2:] if row[0] == EXIT_STORE]
    assert len(missed) == 3 and all(row[1] == "store failed" and row[2] for row in missed)  # every failed pass
    assert runs[-1] == (0, "complete", 1) and len(runs) == 6
