"""`status`, `verify`, `report` and `export` on a PostgreSQL + S3 store read and repair it as they do
an embedded one: damage made directly in the bucket is found, queued and fetched again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector._cli._main import run_cli
from collector._storage._objects import S3Objects
from collector.engine import EXIT_OK, EXIT_PARTIAL, Plugins
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


def cli(config: Path, plugins: Plugins, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run_cli(["--config", str(config), *args], plugins)
    return code, capsys.readouterr().out


def test_status_verify_report_and_export_work_the_same_on_postgresql_and_s3(
        postgres: PostgresServer, s3: S3Server, toy: Any, toy_source: Any, toy_plugins: Plugins, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy)])
        assert collect(config, toy_plugins).exit_code == EXIT_OK
        store = tmp_path / "store"
        location = location_of(store)
        assert location.postgres is not None and location.s3 is not None
        assert not (store / "catalog.sqlite").exists()  # nothing of the store is in the folder
        stored = query_catalog(store, "SELECT vendor_id, path FROM audio WHERE status='stored' ORDER BY vendor_id")
        objects = S3Objects(location.s3, tmp_path)
        flipped, deleted = stored[0][1], stored[1][1]
        data = bytearray(b"".join(objects.chunks(flipped)))
        data[len(data) // 2] ^= 0xFF
        import obstore

        obstore.put(objects.store, flipped, bytes(data))  # damaged in the bucket, behind the catalog's back
        obstore.delete(objects.store, deleted)

        code, out = cli(config, toy_plugins, capsys, "verify", "--json")
        found = json.loads(out)
        assert code == EXIT_PARTIAL, found
        problems = {finding["path"]: finding["problem"] for finding in found["findings"]}
        assert problems.keys() == {flipped, deleted}, found
        assert collect(config, toy_plugins).exit_code == EXIT_OK  # fetched again from the vendor
        assert cli(config, toy_plugins, capsys, "verify", "--json")[0] == EXIT_OK
        assert not inspect_store(store).problems

        code, out = cli(config, toy_plugins, capsys, "status", "--json")
        status = json.loads(out)
        assert code == 0 and status["tenants"][0]["recordings"] == len(toy.items), status
        code, out = cli(config, toy_plugins, capsys, "report", "--json")
        (total,) = json.loads(out)["totals"]
        assert code == 0 and total["listed"] == total["stored"] == len(toy.items), total
        code, out = cli(config, toy_plugins, capsys, "export", "--format", "jsonl")
        lines = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and sorted(line["vendor_id"] for line in lines) == sorted(i["id"] for i in toy.items)
