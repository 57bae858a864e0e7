"""Workers on several processes sharing one PostgreSQL catalog (and queue) and one S3 bucket.

Real everything: `collector worker` processes, PostgreSQL, SeaweedFS, and one Xima emulator per
tenant (Xima gives each tenant its own host), whose request logs carry the sending worker's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from collector_xima.emulator import XimaEmulator, XimaTenant

from collector._store import Store
from collector.testing import (PostgresServer, S3Server, WorkerProcesses, location_of, overlapping_workers, scale_out,
                               write_config)

pytestmark = pytest.mark.slow


@dataclass
class Farm:
    """Emulated tenants and the configuration that names them."""

    emulators: list[XimaEmulator]
    config: Path
    env: dict[str, str]
    store: Path


def xima_farm(directory: Path, postgres: PostgresServer, s3: S3Server, tenants: int, *, recordings: int = 6,
              rate_limit: tuple[int, float] = (20, 1.0), cluster: dict[str, object] | None = None,
              stack: ExitStack) -> Farm:
    """`tenants` Xima emulators and a configuration for them on PostgreSQL + S3."""
    now = datetime.now(timezone.utc)
    emulators, sources, env = [], [], {}
    for number in range(tenants):
        tenant = XimaTenant(name=f"t{number:03d}", token="tok-" + os.urandom(8).hex(), recordings=recordings,
                            anchor=now - timedelta(minutes=5), span=timedelta(hours=2))
        emulators.append(stack.enter_context(XimaEmulator(tenant, rate_limit=rate_limit)))
        env[f"TEST_CLUSTER_TOKEN_{number}"] = tenant.token
        sources.append({"plugin": "xima", "tenant": tenant.name, "base_url": emulators[-1].url,
                        "token": {"env": f"TEST_CLUSTER_TOKEN_{number}"}, "endpoint": "recordings",
                        "start": (now - timedelta(hours=3)).isoformat(), "window": 3600, "lookback": 3600,
                        "settle_delay": 1, "rate_limit": {"requests": rate_limit[0], "per_seconds": rate_limit[1]}})
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(directory, sources, cluster={"lease_seconds": 6, "stalled_seconds": 4,
                                                           "poll_seconds": 0.2, "schedule": False,
                                                           **(cluster or {})})
        env.update({name: os.environ[name] for name in ("COLLECTOR_TEST_S3_KEY", "COLLECTOR_TEST_S3_SECRET")})
    return Farm(emulators, config, env, directory / "store")


def audit(farm: Farm) -> list[str]:
    """Every recording of every emulator stored exactly once, byte for byte; what is wrong."""
    problems: list[str] = []
    store = Store(location_of(farm.store))
    try:
        rows = store.catalog.query("SELECT tenant, vendor_id, status, path, sha256 FROM audio")
        by_tenant: dict[str, dict[str, tuple[str, str, str]]] = {}
        for tenant, vendor_id, status, path, sha in rows:
            by_tenant.setdefault(tenant, {})[vendor_id] = (status, path, sha)
        for emulator in farm.emulators:
            stored = by_tenant.get(emulator.tenant.name, {})
            for item in emulator.recording_items():
                vendor_id = str(item["recordingKey"])
                status, path, sha = stored.get(vendor_id, ("missing", "", ""))
                truth = hashlib.sha256(emulator.audio_bytes(vendor_id)).hexdigest()
                if status != "stored" or sha != truth:
                    problems.append(f"{emulator.tenant.name}/{vendor_id}: {status}")
                    continue
                digest = hashlib.sha256(b"".join(store.objects.chunks(path))).hexdigest()
                if digest != truth:
                    problems.append(f"{emulator.tenant.name}/{vendor_id}: the stored object differs")
        keys = list(store.objects.keys("xima/"))
        if len(keys) != len(set(keys)) or len(keys) != sum(len(e.recording_items()) for e in farm.emulators):
            problems.append(f"{len(keys)} objects in the bucket")
    finally:
        store.close()
    return problems


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_two_workers_collect_every_tenant_once(tmp_path: Path, postgres: PostgresServer, s3: S3Server,
                                               stack: ExitStack) -> None:
    farm = xima_farm(tmp_path, postgres, s3, tenants=6, stack=stack)
    workers = stack.enter_context(WorkerProcesses(farm.config, 2, env=farm.env))
    done = workers.enqueue("--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr + workers.logs()
    result = json.loads(done.stdout)
    assert result["queued"] == 6 and all(t["status"] == "ok" for t in result["tenants"]), result
    assert audit(farm) == []
    for emulator in farm.emulators:
        assert emulator.count(status=429) == 0
        assert overlapping_workers(emulator.log) == []
    again = workers.enqueue("--pass", result["pass"])
    assert again.returncode == 3 and "enqueued before" in again.stdout
    assert workers.stop() == [0, 0], workers.logs()
