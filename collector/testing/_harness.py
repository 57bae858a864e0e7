"""Helpers for tests that run the collector for real: configs, in-process runs, store checks.

These run the same code as `collector run` (config loading, plugins from entry points, the store
lock, the pass), minus the terminal output, so a test sees exactly what a user would get.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._config import load_config
from .._demo import dump_toml
from .._plugins import Plugins
from .._run import RunResult, run_once
from .._store import CATALOG_NAME


def write_config(directory: Path, sources: list[dict[str, Any]], *, store: Path | None = None,
                 **tables: dict[str, Any]) -> Path:
    """Write a collector.toml holding `sources` (and any other tables) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"store": {"path": str(store or directory / "store")}, **tables, "sources": sources}
    path = directory / "collector.toml"
    path.write_text(dump_toml(document), encoding="utf-8")
    return path


def collect(config_path: Path, plugins: Plugins | None = None) -> RunResult:
    """Run one pass in-process exactly as `collector run` does (without the terminal output)."""
    plugins = plugins or Plugins()
    return run_once(load_config(config_path, plugins), plugins)


@dataclass
class StoreContents:
    """What a store holds, per (source, tenant), read straight from the catalog and the disk."""

    recordings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    audio: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    audio_status: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    transcripts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    quarantined_items: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[str] = field(default_factory=list)


def inspect_store(root: Path) -> StoreContents:
    """Read a store and check its integrity; `problems` lists every inconsistency found.

    Checked: every stored audio file and transcript exists inside the store with the recorded
    size and sha256; no file in the tenant folders is unaccounted for (no partial or orphan
    files); the scratch folder is empty. Tenants are keyed by their name.
    """
    contents = StoreContents()
    root = root.resolve()
    db = sqlite3.connect(f"file:{root / CATALOG_NAME}?mode=ro", uri=True)
    try:
        for tenant, vendor_id in db.execute("SELECT tenant, vendor_id FROM recordings"):
            contents.recordings[tenant].add(vendor_id)
        known_files: set[Path] = set()
        for tenant, vendor_id, status, path, size, sha in db.execute(
            "SELECT tenant, vendor_id, status, path, size, sha256 FROM audio"
        ):
            contents.audio_status[tenant][vendor_id] = status
            if status != "stored":
                continue
            contents.audio[tenant].add(vendor_id)
            file = (root / path).resolve()
            known_files.add(file)
            if not file.is_relative_to(root):
                contents.problems.append(f"audio of {vendor_id} lies outside the store: {path}")
            elif not file.is_file():
                contents.problems.append(f"audio of {vendor_id} is missing: {path}")
            elif file.stat().st_size != size or _sha256(file) != sha:
                contents.problems.append(f"audio of {vendor_id} does not match its catalog entry: {path}")
        for tenant, vendor_id, path in db.execute("SELECT tenant, vendor_id, path FROM transcripts WHERE status='stored'"):
            contents.transcripts[tenant].add(vendor_id)
            file = (root / path).resolve()
            known_files.add(file)
            if not file.is_file():
                contents.problems.append(f"transcript of {vendor_id} is missing: {path}")
        for tenant, count in db.execute("SELECT tenant, COUNT(*) FROM quarantine WHERE kind='metadata' GROUP BY tenant"):
            contents.quarantined_items[tenant] = count
        sources = [row[0] for row in db.execute("SELECT DISTINCT source FROM recordings")]
    finally:
        db.close()
    for source in sources:
        for file in (root / source).rglob("*") if (root / source).is_dir() else []:
            if file.is_file() and file.resolve() not in known_files:
                contents.problems.append(f"unaccounted file in the store: {file.relative_to(root)}")
    scratch = root / ".tmp"
    if scratch.is_dir() and any(scratch.iterdir()):
        contents.problems.append(f"scratch files left behind: {sorted(p.name for p in scratch.iterdir())}")
    return contents


def query_catalog(store_root: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of a read-only query on a store's catalog."""
    with closing(sqlite3.connect(f"file:{store_root / CATALOG_NAME}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


def sync_state(store_root: Path, source: str, tenant: str) -> dict[str, Any] | None:
    """A tenant's committed sync state (cursor, watermark, ...) in a store, or None."""
    rows = query_catalog(store_root, "SELECT state FROM sync_state WHERE source=? AND tenant=?", (source, tenant))
    return json.loads(rows[0][0]) if rows else None


def wait_until_committed(catalog: Path, process: subprocess.Popen[bytes], *, recordings: int = 0, audio: int = 0,
                         timeout: float = 60.0) -> None:
    """Wait until a running collector has committed `recordings` recordings and `audio` audio files.

    For catching a run mid-way (to kill it); not a timing assertion: the timeout only bounds a hang.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the run ended before it could be caught mid-way")
        if catalog.exists():
            try:
                with closing(sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1)) as db:
                    held = db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0]
                    stored = db.execute("SELECT COUNT(*) FROM audio WHERE status='stored'").fetchone()[0]
                if held >= recordings and stored >= audio:
                    return
            except sqlite3.OperationalError:
                pass  # the catalog is being created
        time.sleep(0.01)
    raise AssertionError("the run made no progress to catch")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_secrets(paths: Iterable[Path], secrets: Iterable[str]) -> list[str]:
    """Every place a secret value appears in the files under `paths` ("file: secret #n")."""
    needles = [(i, s.encode("utf-8")) for i, s in enumerate(secrets) if s]
    found: list[str] = []
    for base in paths:
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for file in files:
            data = file.read_bytes()
            found.extend(f"{file}: secret #{i}" for i, needle in needles if needle in data)
    return found
