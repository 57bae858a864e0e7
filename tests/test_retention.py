"""The vendor's retention and legal holds: kept on recordings, chained, shown, obeyed by every command,
and carried onto S3 Object Lock (against the SeaweedFS server the suite starts)."""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector._cli._main import run_cli
from collector._storage._s3_requests import send, signed_request
from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
from collector.testing import PostgresServer, S3Server, collect, query_catalog, write_config
from collector.testing._harness import location_of, scale_out

SOON = datetime.now(UTC) + timedelta(days=30)


def _chained(store: Path, kind: str) -> list[dict[str, Any]]:
    return [json.loads(row[0]) for row in query_catalog(
        store, "SELECT event FROM chain WHERE json_extract(event, '$.type')=? ORDER BY seq", (kind,))]


def test_retention_and_holds_are_kept_chained_shown_and_exported(
        tmp_path: Path, toy: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        capsys: pytest.CaptureFixture[str]) -> None:
    toy.items[0]["legal_hold"] = True
    toy.items[1]["retain_until"] = SOON.isoformat()
    config = write_config(tmp_path, [toy_source(toy)])
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    store = tmp_path / "store"
    assert query_catalog(store, "SELECT vendor_id, legal_hold, retain_until IS NOT NULL FROM recordings "
                                "WHERE legal_hold=1 OR retain_until IS NOT NULL ORDER BY vendor_id") == [
        ("t0000", 1, 0), ("t0001", 0, 1)]
    assert [(e["vendor_id"], e["legal_hold"]) for e in _chained(store, "retention")] == [("t0000", True),
                                                                                         ("t0001", False)]
    capsys.readouterr()
    assert run_cli(["--config", str(config), "status", "--json"], toy_plugins) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    assert tenant["retention"]["legal_hold"] == 1 and tenant["retention"]["retained"] == 1
    assert run_cli(["--config", str(config), "export"], toy_plugins) == 0
    records = {r["vendor_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert records["t0000"]["legal_hold"] is True
    assert records["t0001"]["retain_until"].startswith(SOON.date().isoformat())
    assert records["t0002"]["legal_hold"] is False and records["t0002"]["retain_until"] is None
    custody = records["t0003"]
    assert custody["audio_endpoint"] == "GET /audio/t0003" and custody["audio_content_length"] == custody["audio_size"]
    assert custody["audio_evidence"] == "complete" and "vendor-size" in custody["audio_checks"]
    assert custody["audio_fetched"] and custody["audio_chain_event"] and len(custody["audio_request_id"]) == 32
    toy.items[0]["legal_hold"] = False  # the vendor lifts the hold: a new retention event on the next listing
    assert run_cli(["--config", str(config), "reset", "toy/alpha"], toy_plugins) == 0
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    lifted = _chained(store, "retention")[-1]
    assert (lifted["vendor_id"], lifted["legal_hold"], lifted["was_legal_hold"]) == ("t0000", False, True)


def test_a_held_recordings_files_are_never_deleted_or_overwritten(
        tmp_path: Path, toy: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        capsys: pytest.CaptureFixture[str]) -> None:
    toy.items[0]["legal_hold"] = True
    config = write_config(tmp_path, [toy_source(toy)])
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    store = tmp_path / "store"
    (held, other), = [query_catalog(store, "SELECT path FROM audio WHERE vendor_id IN ('t0000', 't0001') "
                                           "ORDER BY vendor_id")]
    damaged = bytearray((store / held[0]).read_bytes())
    damaged[100] ^= 1
    (store / held[0]).write_bytes(bytes(damaged))
    (store / other[0]).write_bytes((store / other[0]).read_bytes()[:-10])
    capsys.readouterr()
    assert run_cli(["--config", str(config), "verify", "--json"], toy_plugins) == EXIT_PARTIAL
    findings = {f["vendor_id"]: f for f in json.loads(capsys.readouterr().out)["findings"]}
    assert (store / held[0]).read_bytes() == bytes(damaged)  # the held original stays where it is
    assert "legal hold keeps the original" in findings["t0000"]["detail"]
    assert (store / findings["t0000"]["kept_at"]).read_bytes() == bytes(damaged)  # and a copy is in quarantine
    assert not (store / other[0]).exists()  # an item nobody holds is moved to quarantine as before
    assert collect(config, toy_plugins).exit_code == EXIT_OK  # fetched again, beside the held original
    (repaired,) = query_catalog(store, "SELECT path FROM audio WHERE vendor_id='t0000'")
    assert repaired[0] != held[0] and (store / held[0]).read_bytes() == bytes(damaged)
    # A held recording's transcript that the vendor changes is written beside the old one, never over it.
    (transcript,) = query_catalog(store, "SELECT path FROM transcripts WHERE vendor_id='t0000'")
    before = (store / transcript[0]).read_bytes()
    toy.items[0]["duration"] = 2.0
    toy.items[0]["size"] = 2 * 16000 + 44
    with sqlite3.connect(store / "catalog.sqlite") as db:
        db.execute("UPDATE transcripts SET status='pending', due_at='2026-01-01T00:00:00Z' WHERE vendor_id='t0000'")
    assert collect(config, toy_plugins).exit_code == EXIT_OK
    (rewritten,) = query_catalog(store, "SELECT path FROM transcripts WHERE vendor_id='t0000'")
    assert rewritten[0] != transcript[0] and (store / transcript[0]).read_bytes() == before


def _lock_of(s3: S3Server, bucket: str, key: str) -> tuple[str, str]:
    url = f"{s3.endpoint}/{bucket}/store/{urllib.parse.quote(key)}"
    _, hold = send(signed_request("GET", f"{url}?legal-hold=", s3.access_key, s3.secret_key))
    _, retention = send(signed_request("GET", f"{url}?retention=", s3.access_key, s3.secret_key))
    status = hold.decode().split("<Status>")[1].split("<")[0] if "<Status>" in hold.decode() else "OFF"  # never set
    until = retention.decode().split("<RetainUntilDate>")[1].split("<")[0]
    return status, until


def test_object_lock_follows_the_vendors_retention_and_holds(
        postgres: PostgresServer, s3: S3Server, toy: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        tmp_path: Path) -> None:
    """With `object_lock_days`, an object's retain-until is the later of the vendor's date and the
    minimum; its legal hold follows the vendor's flag, set at upload and lifted or set later."""
    toy.items[0]["legal_hold"] = True
    toy.items[1]["retain_until"] = SOON.isoformat()
    locked = s3.bucket(object_lock=True)
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy, object_lock_days=1)])
        bucket = location_of(tmp_path / "store").s3.bucket  # type: ignore[union-attr]
        config.write_text(config.read_text(encoding="utf-8").replace(f'"{bucket}"', f'"{locked}"')
                          + "\n[evidence]\ncheckpoint_object_lock_days = 1\n", encoding="utf-8")
        result = collect(config, toy_plugins)
        assert result.exit_code == EXIT_OK and result.checkpoint is not None and not result.checkpoint.problems
        (copy,) = result.checkpoint.copies  # the pass's checkpoint, in the bucket under a compliance lock
        key = copy.split(f"s3://{locked}/", 1)[1]
        with urllib.request.urlopen(signed_request("HEAD", f"{s3.endpoint}/{locked}/{key}", s3.access_key,
                                                   s3.secret_key), timeout=10) as head:
            version = head.headers["x-amz-version-id"]
        status, _ = send(signed_request("DELETE", f"{s3.endpoint}/{locked}/{key}?versionId={version}",
                                        s3.access_key, s3.secret_key))
        assert status >= 400 and _lock_of(s3, locked, key.removeprefix("store/"))[1]  # the lock refuses it
        catalog = location_of(tmp_path / "store")
    from collector._storage._catalog import Catalog

    def paths() -> dict[str, str]:
        db = Catalog(catalog.catalog_target)
        try:
            return dict(db.query("SELECT vendor_id, path FROM audio WHERE vendor_id IN ('t0000', 't0001', 't0002')"))
        finally:
            db.close()

    files = paths()
    minimum = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert _lock_of(s3, locked, files["t0000"]) == ("ON", f"{minimum}T23:59:59Z")
    assert _lock_of(s3, locked, files["t0001"]) == ("OFF", f"{SOON.date().isoformat()}T23:59:59Z")  # the vendor's
    assert _lock_of(s3, locked, files["t0002"])[0] == "OFF"
    toy.items[0]["legal_hold"] = False  # lifted
    toy.items[2]["legal_hold"] = True  # set after the upload
    later = SOON + timedelta(days=60)
    toy.items[1]["retain_until"] = later.isoformat()  # extended
    with scale_out(postgres=postgres, s3=s3):
        assert run_cli(["--config", str(config), "reset", "toy/alpha"], toy_plugins) == 0
        assert collect(config, toy_plugins).exit_code == EXIT_OK
    assert _lock_of(s3, locked, files["t0000"])[0] == "OFF"
    assert _lock_of(s3, locked, files["t0002"])[0] == "ON"
    assert _lock_of(s3, locked, files["t0001"])[1] == f"{later.date().isoformat()}T23:59:59Z"
    db = Catalog(catalog.catalog_target)
    try:
        locks = [json.loads(row[0]) for row in db.query("SELECT event FROM chain ORDER BY seq")
                 if json.loads(row[0])["type"] == "lock"]
        assert {e["vendor_id"]: e["legal_hold"] for e in locks} == {"t0000": False, "t0001": False, "t0002": True}
        assert db.query("SELECT COUNT(*) FROM audio WHERE retention_due=1") == [(0,)]
    finally:
        db.close()
