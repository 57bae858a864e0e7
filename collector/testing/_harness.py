"""Helpers for tests that run the collector for real: configs, in-process runs, store checks.

These run the same code as `collector run` (config loading, plugins from entry points, the store
lock, the pass), minus the terminal output, so a test sees exactly what a user would get.

`scale_out(postgres=..., s3=...)` puts every store `write_config` writes while it is active on a
real PostgreSQL database and/or S3 bucket of its own (see `PostgresServer`, `S3Server`), and the
helpers that read a store (`inspect_store`, `query_catalog`, `sync_state`, `wait_until_committed`)
read it there: a test written for the embedded store runs unchanged on the scale-out backends.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector._base._settings_tables import StoreSettings
from collector._cli._demo import dump_toml
from collector._runner._config import load_config, store_location
from collector._runner._plugins import Plugins
from collector._runner._run import RunResult, run_once
from collector._storage._store import StoreLocation, read_only_catalog

if TYPE_CHECKING:
    from ._servers import PostgresServer, S3Server

_S3_KEY_VARIABLES = ("COLLECTOR_TEST_S3_KEY", "COLLECTOR_TEST_S3_SECRET")
_scale_out: list[tuple[PostgresServer | None, S3Server | None]] = []
_locations: dict[Path, StoreLocation] = {}


@contextmanager
def scale_out(*, postgres: PostgresServer | None = None, s3: S3Server | None = None) -> Iterator[None]:
    """While active, stores written by `write_config` use a new database on `postgres` for their
    catalog and a new bucket on `s3` for their files (either may be None: the embedded part stays)."""
    saved = {name: os.environ.get(name) for name in _S3_KEY_VARIABLES}
    if s3 is not None:
        os.environ.update(dict(zip(_S3_KEY_VARIABLES, (s3.access_key, s3.secret_key), strict=True)))
    _scale_out.append((postgres, s3))
    try:
        yield
    finally:
        _scale_out.pop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _store_table(root: Path) -> dict[str, Any]:
    """The [store] table for a store at `root`: inside `scale_out`, a new database and bucket for a
    new store, the same ones when the same store is written again."""
    table: dict[str, Any] = {"path": str(root)}
    if not _scale_out:
        return table
    postgres, s3 = _scale_out[-1]
    if (known := _locations.get(root.resolve())) is not None:
        postgres_dsn = known.postgres.dsn if known.postgres else None
        bucket = known.s3.bucket if known.s3 else None
    else:
        postgres_dsn = postgres.database() if postgres else None
        bucket = s3.bucket() if s3 else None
    if postgres_dsn:
        table["postgresql"] = {"dsn": postgres_dsn, "reconnect_seconds": 30}
    if bucket and s3 is not None:
        table["s3"] = {"bucket": bucket, "prefix": "store/", "endpoint": s3.endpoint,
                       "access_key_id": {"env": _S3_KEY_VARIABLES[0]},
                       "secret_access_key": {"env": _S3_KEY_VARIABLES[1]}}
    _locations[root.resolve()] = store_location(root.resolve(), StoreSettings.model_validate(table))
    return table


def write_config(directory: Path, sources: list[dict[str, Any]], *, store: Path | None = None,
                 **tables: dict[str, Any]) -> Path:
    """Write a collector.toml holding `sources` (and any other tables) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    store_table = {**_store_table(store or directory / "store"), **tables.pop("store", {})}
    document: dict[str, Any] = {"store": store_table, **tables, "sources": sources}
    path = directory / "collector.toml"
    path.write_text(dump_toml(document), encoding="utf-8")
    return path


def location_of(root: Path) -> StoreLocation:
    """Where the store whose folder is `root` keeps its catalog and files."""
    return _locations.get(root.resolve(), StoreLocation(root.resolve()))


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
    files); the scratch folder is empty; the evidence chain holds (every link, every checkpoint,
    and every stored file's row agrees with the event that recorded it: `collector.archive_check`).
    Tenants are keyed by their name.
    """
    from collector._storage._objects import LocalObjects, S3Objects
    from collector._storage._store import Store
    from collector._storage._verify import check_chain

    contents = StoreContents()
    location = location_of(root)
    root = location.root
    objects: Any = S3Objects(location.s3, root) if location.s3 else LocalObjects(root, root / ".tmp")
    catalog = read_only_catalog(location)
    try:
        for tenant, vendor_id in catalog.query("SELECT tenant, vendor_id FROM recordings"):
            contents.recordings[tenant].add(vendor_id)
        known: set[str] = set()
        for tenant, vendor_id, status, path, size, sha in catalog.query(
            "SELECT tenant, vendor_id, status, path, size, sha256 FROM audio"
        ):
            contents.audio_status[tenant][vendor_id] = status
            if status != "stored":
                continue
            contents.audio[tenant].add(vendor_id)
            known.add(path)
            if location.s3 is None and not (root / path).resolve().is_relative_to(root):
                contents.problems.append(f"audio of {vendor_id} lies outside the store: {path}")
            elif objects.size(path) is None:
                contents.problems.append(f"audio of {vendor_id} is missing: {path}")
            elif objects.size(path) != size or _sha256(objects.chunks(path)) != sha:
                contents.problems.append(f"audio of {vendor_id} does not match its catalog entry: {path}")
        for tenant, vendor_id, path in catalog.query("SELECT tenant, vendor_id, path FROM transcripts "
                                                     "WHERE status='stored'"):
            contents.transcripts[tenant].add(vendor_id)
            known.add(path)
            if objects.size(path) is None:
                contents.problems.append(f"transcript of {vendor_id} is missing: {path}")
        for tenant, count in catalog.query("SELECT tenant, COUNT(*) FROM quarantine WHERE kind='metadata' "
                                           "GROUP BY tenant"):
            contents.quarantined_items[tenant] = count
        sources = [row[0] for row in catalog.query("SELECT DISTINCT source FROM recordings")]
    finally:
        catalog.close()
    for source in sources:
        for key in objects.keys(f"{source}/"):
            if key not in known:
                contents.problems.append(f"unaccounted file in the store: {key}")
    store = Store(location, read_only=True)
    try:
        contents.problems.extend(f"evidence chain: {p.where}: {p.what}" for p in check_chain(store).problems)
    finally:
        store.close()
    scratch = root / ".tmp"
    if scratch.is_dir() and any(scratch.iterdir()):
        contents.problems.append(f"scratch files left behind: {sorted(p.name for p in scratch.iterdir())}")
    return contents


def query_catalog(store_root: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of a read-only query on a store's catalog."""
    catalog = read_only_catalog(location_of(store_root))
    try:
        return catalog.query(sql, params)
    finally:
        catalog.close()


def sync_state(store_root: Path, source: str, tenant: str) -> dict[str, Any] | None:
    """A tenant's committed sync state (cursor, watermark, ...) in a store, or None."""
    rows = query_catalog(store_root, "SELECT state FROM sync_state WHERE source=? AND tenant=?", (source, tenant))
    return json.loads(rows[0][0]) if rows else None


def wait_until_committed(catalog: Path, process: subprocess.Popen[bytes], *, recordings: int = 0, audio: int = 0,
                         timeout: float = 60.0) -> None:
    """Wait until a running collector has committed `recordings` recordings and `audio` audio files.

    `catalog` is the store's `catalog.sqlite` path (its folder names the store on any backend).
    For catching a run mid-way (to kill it); not a timing assertion: the timeout only bounds a hang.
    """
    location = location_of(catalog.parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the run ended before it could be caught mid-way")
        if location.has_catalog():
            try:
                rows = query_catalog(catalog.parent, "SELECT (SELECT COUNT(*) FROM recordings), "
                                                     "(SELECT COUNT(*) FROM audio WHERE status='stored')")
                if rows[0][0] >= recordings and rows[0][1] >= audio:
                    return
            except Exception:  # noqa: BLE001 - the catalog is being created
                pass
        time.sleep(0.01)
    raise AssertionError("the run made no progress to catch")


def _sha256(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
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
