"""Workers on several processes sharing one PostgreSQL catalog (and queue) and one S3 bucket.

Real everything: `collector worker` processes, PostgreSQL, SeaweedFS, and one Xima emulator per
tenant (Xima gives each tenant its own host), whose request logs carry the sending worker's name.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector._storage._store import Store
from collector.emulator import EmulatorServer
from collector.testing import (
    PostgresServer,
    S3Server,
    WorkerProcesses,
    location_of,
    overlapping_workers,
    query_catalog,
    scale_out,
    write_config,
)
from collector_xima.emulator import XimaEmulator, XimaTenant

pytestmark = pytest.mark.slow
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
REPO = DEPLOY.parent


@dataclass
class Farm:
    """Emulated tenants and the configuration that names them."""

    emulators: list[XimaEmulator]
    config: Path
    env: dict[str, str]
    store: Path


def xima_farm(directory: Path, postgres: PostgresServer, s3: S3Server, tenants: int, *, recordings: int = 6,
              rate_limit: tuple[int, float] = (20, 1.0), cluster: dict[str, object] | None = None,
              timeout: float = 30, stack: ExitStack) -> Farm:
    """`tenants` Xima emulators and a configuration for them on PostgreSQL + S3."""
    now = datetime.now(UTC)
    emulators, sources, env = [], [], {}
    for number in range(tenants):
        tenant = XimaTenant(name=f"t{number:03d}", token="tok-" + os.urandom(8).hex(), recordings=recordings,
                            anchor=now - timedelta(minutes=5), span=timedelta(hours=2))
        emulators.append(stack.enter_context(XimaEmulator(tenant, rate_limit=rate_limit)))
        env[f"TEST_CLUSTER_TOKEN_{number}"] = tenant.token
        sources.append({"plugin": "xima", "tenant": tenant.name, "base_url": emulators[-1].url,
                        "token": {"env": f"TEST_CLUSTER_TOKEN_{number}"}, "endpoint": "recordings",
                        "start": (now - timedelta(hours=3)).isoformat(), "window": 3600, "lookback": 3600,
                        "settle_delay": 1, "timeout": timeout,
                        "rate_limit": {"requests": rate_limit[0], "per_seconds": rate_limit[1]}})
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
    textfile = tmp_path / "metrics" / "workers.prom"
    farm.config.write_text(farm.config.read_text() + f'\n[metrics]\ntextfile = "{textfile}"\n')
    workers = stack.enter_context(WorkerProcesses(farm.config, 2, env=farm.env))
    done = workers.enqueue("--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr + workers.logs()
    result = json.loads(done.stdout)
    assert result["queued"] == 6 and all(t["status"] == "ok" for t in result["tenants"]), result
    assert audit(farm) == []
    metrics = textfile.read_text()  # workers (after each tenant) and enqueue --wait (after the pass) export
    assert all(f'collector_recordings_stored{{source="xima",tenant="{e.tenant.name}"}}' in metrics
               for e in farm.emulators), metrics
    for emulator in farm.emulators:
        assert emulator.count(status=429) == 0
        assert overlapping_workers(emulator.log) == []
    again = workers.enqueue("--pass", result["pass"])
    assert again.returncode == 3 and "enqueued before" in again.stdout
    distributed = subprocess.run([sys.executable, "-m", "collector", "--config", str(farm.config), "run",
                                  "--distributed", "--json"], capture_output=True, text=True, env=workers.env,
                                 timeout=120)  # the next pass (nothing new) on the cluster, reported as `run`
    assert distributed.returncode == 0, distributed.stdout + distributed.stderr
    assert all(t["status"] == "ok" and t["new_recordings"] == 0 for t in json.loads(distributed.stdout)["tenants"])
    assert workers.stop() == [0, 0], workers.logs()


def _wait(condition: object, timeout: float, what: str, workers: WorkerProcesses, farm: Farm | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            left = query_catalog(farm.store, "SELECT tenant, vendor_id, status, reason FROM audio "
                                 "WHERE status <> 'stored'") if farm else []
            raise AssertionError(f"timed out waiting for {what}; not stored: {left}\n{workers.logs()}")
        time.sleep(0.2)


def _stored(farm: Farm) -> int:
    return int(query_catalog(farm.store, "SELECT COUNT(*) FROM audio WHERE status='stored'")[0][0])


def _holders(farm: Farm) -> dict[str, str]:
    return dict(query_catalog(
        farm.store, "SELECT tenant, worker FROM tenant_leases WHERE worker IS NOT NULL"))


@pytest.mark.parametrize("fault", ["kill", "stop"])
def test_a_worker_killed_or_stalled_mid_download_hands_its_tenants_over(
        fault: str, tmp_path: Path, postgres: PostgresServer, s3: S3Server, stack: ExitStack) -> None:
    """SIGKILL: its tenants resume on the other worker. SIGSTOP past the lease, then SIGCONT: the
    vendor never sees the two workers at once for a tenant, and nothing is lost or doubled."""
    farm = xima_farm(tmp_path, postgres, s3, tenants=4, recordings=24, rate_limit=(4, 1.0),
                     cluster={"tenants_per_worker": 2}, timeout=5, stack=stack)
    workers = stack.enter_context(WorkerProcesses(farm.config, 2, env=farm.env))
    assert workers.enqueue().returncode == 0
    _wait(lambda: "w0" in _holders(farm).values() and _stored(farm) >= 4, 60, "w0 to be downloading", workers)
    victims = {t for t, w in _holders(farm).items() if w == "w0"}
    workers.signal(0, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
    _wait(lambda: victims & {t for t, w in _holders(farm).items() if w == "w1"}, 40, "the hand-over", workers)
    if fault == "stop":
        workers.signal(0, signal.SIGCONT)  # it wakes after the hand-over: it must not send again
    total = sum(len(e.recording_items()) for e in farm.emulators)
    _wait(lambda: _stored(farm) == total, 120, "every recording", workers, farm)
    _wait(lambda: not _holders(farm), 30, "every lease released", workers)
    assert audit(farm) == []
    for emulator in farm.emulators:
        assert overlapping_workers(emulator.log) == [], workers.logs()
        assert emulator.count(status=429) == 0
    workers.stop()
    assert "Task exception was never retrieved" not in workers.log(0), workers.log(0)  # the woken worker's log


def mixed_farm(directory: Path, postgres: PostgresServer, s3: S3Server, stack: ExitStack, *, xima: int, focus: int,
               imagicle: int, per_host: int = 5, cluster: dict[str, object] | None = None,
               ) -> tuple[Farm, dict[str, tuple[EmulatorServer, str, set[str]]]]:
    """Tenants of all three vendors at their documented (or plugins' default) limits: Xima one host
    each, Focus and Imagicle `per_host` tenants to a host. Returns the farm and, per tenant, its
    host, its limit key there and the recording ids it holds."""
    from collector_focus._emudata import FocusTenant
    from collector_focus.emulator import FocusEmulator
    from collector_imagicle._emudata import Account
    from collector_imagicle.emulator import DEMO_BASE, ImagicleEmulator

    farm = xima_farm(directory, postgres, s3, tenants=xima, recordings=2, rate_limit=(3, 10.0), cluster=cluster,
                     stack=stack)
    tenants: dict[str, tuple[EmulatorServer, str, set[str]]] = {
        e.tenant.name: (e, "all", {str(i["recordingKey"]) for i in e.recording_items()}) for e in farm.emulators}
    import tomllib

    document = tomllib.loads(farm.config.read_text())
    for source in document["sources"]:
        source.pop("rate_limit")  # the plugin's default: the vendor's documented limit
    for host in range(0, focus, per_host):
        group = [FocusTenant(client_id=8000 + n, username=f"svc-{n}", api_key=os.urandom(12).hex(), recordings=4)
                 for n in range(host, min(host + per_host, focus))]
        emulator = stack.enter_context(FocusEmulator(group, rate_limit=(10, 1.0)))
        emulator.make_transcripts_ready()
        for tenant in group:
            name, variable = f"f{tenant.client_id}", f"TEST_CLUSTER_FOCUS_{tenant.client_id}"
            farm.env[variable] = tenant.api_key
            document["sources"].append({"plugin": "focus", "tenant": name, "base_url": emulator.url,
                                        "client_id": tenant.client_id, "username": tenant.username,
                                        "api_key": {"env": variable}, "page_size": 10})
            tenants[name] = (emulator, str(tenant.client_id), emulator.expected_ids(tenant))
    for host in range(0, imagicle, per_host):
        accounts = [Account(f"i{n:03d}", seed=n, base_time=DEMO_BASE, recordings=4,
                            clients={f"client-{n}": os.urandom(8).hex()}) for n in range(host, min(host + per_host,
                                                                                                  imagicle))]
        # Imagicle documents no limit; the plugin keeps to 5 requests a second and, as OAuth2 client
        # credentials do, leaves token requests out of it (an authorization server limits them); this
        # emulator counts its token route against the account, so it allows one more.
        api = stack.enter_context(ImagicleEmulator(accounts, rate_limit=(6, 1.0), serve_audio=True))
        api.make_transcripts_ready()
        for account in accounts:
            (client, secret), = account.clients.items()
            variable = f"TEST_CLUSTER_IMAGICLE_{account.name}"
            farm.env[variable] = secret
            document["sources"].append({
                "plugin": "imagicle", "tenant": account.name, "base_url": api.api_url,
                "start_date": "2026-01-01T00:00:00Z", "window_hours": 24.0 * 60, "page_size": 10,
                "settle_seconds": 60.0, "audio_url_template": "/v1/recordings/{id}/audio",
                "oauth": {"token_url": api.token_url, "client_id": client, "client_secret": {"env": variable},
                          "scope": "voice-analytics/recordings.read"}})
            tenants[account.name] = (api, account.name, account.valid_ids())
    from collector._cli._demo import dump_toml

    farm.config.write_text(dump_toml(document), encoding="utf-8")
    return farm, tenants


def test_four_workers_collect_200_tenants_of_three_vendors_exactly_once(
        tmp_path: Path, postgres: PostgresServer, s3: S3Server, stack: ExitStack) -> None:
    farm, tenants = mixed_farm(tmp_path, postgres, s3, stack, xima=100, focus=50, imagicle=50,
                               cluster={"lease_seconds": 30, "stalled_seconds": 20})
    workers = stack.enter_context(WorkerProcesses(farm.config, 4, env=farm.env))
    done = workers.enqueue("--wait", "--json", timeout=600)
    result = json.loads(done.stdout)
    assert result["queued"] == 200, done.stderr
    assert done.returncode == 0, json.dumps([t for t in result["tenants"] if t["status"] != "ok"])[:3000]
    rows = query_catalog(farm.store, "SELECT source, tenant, vendor_id FROM recordings")
    listed: dict[str, set[str]] = {}
    for _, tenant, vendor_id in rows:
        listed.setdefault(tenant, set()).add(vendor_id)
    audio = query_catalog(farm.store, "SELECT tenant, status, path, sha256 FROM audio")
    assert {status for _, status, _, _ in audio} <= {"stored", "unavailable"}, audio
    store = Store(location_of(farm.store))
    try:
        for tenant, status, path, sha in audio:
            if status != "stored":
                continue
            host, key, _ = tenants[tenant]
            assert sha in host.served_audio[key], f"{tenant}: {path} is not what the vendor served"
            assert hashlib.sha256(b"".join(store.objects.chunks(path))).hexdigest() == sha
        keys = list(store.objects.keys(""))
    finally:
        store.close()
    stored = [path for _, status, path, _ in audio if status == "stored"]
    stored += [path for (path,) in query_catalog(farm.store, "SELECT path FROM transcripts WHERE status='stored'")]
    assert sorted(keys) == sorted(stored)  # one object per stored file, nothing else
    for name, (host, key, expected) in tenants.items():
        assert listed.get(name, set()) == expected, name
        requests = [r for r in host.log if r.key == key]
        assert overlapping_workers(requests) == [], name
        assert not [r for r in requests if r.status == 429], name
    served_by = {r.worker for host, _, _ in tenants.values() for r in host.log}
    assert served_by == {"w0", "w1", "w2", "w3"}  # the tenants were spread over every worker


def test_workers_reconnect_when_postgresql_restarts_mid_pass(tmp_path: Path, postgres: PostgresServer,
                                                             s3: S3Server, stack: ExitStack) -> None:
    farm = xima_farm(tmp_path, postgres, s3, tenants=4, recordings=16, rate_limit=(4, 1.0),
                     cluster={"lease_seconds": 20, "stalled_seconds": 15}, stack=stack)
    workers = stack.enter_context(WorkerProcesses(farm.config, 2, env=farm.env))
    assert workers.enqueue().returncode == 0
    _wait(lambda: _stored(farm) >= 8, 60, "downloads to be under way", workers)
    postgres.restart()
    total = sum(len(e.recording_items()) for e in farm.emulators)
    _wait(lambda: _stored(farm) == total, 120, "every recording after the restart", workers, farm)
    _wait(lambda: not _holders(farm), 40, "every lease released", workers)
    assert audit(farm) == []
    for emulator in farm.emulators:
        assert overlapping_workers(emulator.log) == [] and emulator.count(status=429) == 0
    assert workers.stop() == [0, 0], workers.logs()


def _unit(name: str, config: Path) -> tuple[Path, configparser.ConfigParser]:
    """The unit with this checkout, this configuration and its folder in place of /srv/collector,
    /etc and /var/lib (tests/test_deploy.py boots the units as shipped under systemd), parsed."""
    text = (DEPLOY / "systemd" / name).read_text()
    text = text.replace("/srv/collector/.venv/bin/collector", str(Path(sys.executable).parent / "collector"))
    text = text.replace("/srv/collector", str(REPO)).replace("/etc/recording-collector/collector.toml", str(config))
    text = text.replace("/var/lib/recording-collector", str(config.parent))
    path = config.parent / name
    path.write_text(text)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return path, parser


def _command(service: configparser.SectionProxy, instance: str) -> list[str]:
    """ExecStart as systemd runs it: specifiers expanded (%i, %H, %% -> %), split like a shell."""
    line = service["ExecStart"].replace("%i", instance).replace("%H", socket.gethostname()).replace("%%", "%")
    return shlex.split(line)


def test_the_systemd_units_pass_systemd_analyze_and_run_a_pass(tmp_path: Path, postgres: PostgresServer,
                                                                s3: S3Server) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    with ExitStack() as stack:
        farm = xima_farm(tmp_path, postgres, s3, tenants=2, recordings=3, cluster={"schedule": False}, stack=stack)
        worker_unit, worker = _unit("collector-worker@.service", farm.config)
        enqueue_unit, enqueue = _unit("collector-enqueue.service", farm.config)
        timer_unit, _ = _unit("collector-enqueue.timer", farm.config)
        checked = subprocess.run(["systemd-analyze", "verify", str(worker_unit), str(enqueue_unit), str(timer_unit)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
        service = worker["Service"]
        environment = {**os.environ, **farm.env, **dict(item.split("=", 1) for item in [service["Environment"]])}
        log = (tmp_path / "unit.log").open("wb")
        stack.callback(log.close)
        process = subprocess.Popen(_command(service, "1"), cwd=service["WorkingDirectory"], env=environment,
                                   stdout=log, stderr=subprocess.STDOUT)
        stack.callback(process.kill)  # a no-op once it has exited
        job = enqueue["Service"]
        started = [subprocess.run(_command(job, ""), cwd=job["WorkingDirectory"], env=environment,
                                  capture_output=True, text=True) for _ in range(2)]
        assert started[0].returncode == 0, started[0].stderr
        assert str(started[1].returncode) in job["SuccessExitStatus"].split()  # the same night: nothing again
        total = sum(len(e.recording_items()) for e in farm.emulators)
        deadline = time.monotonic() + 60
        while query_catalog(farm.store, "SELECT COUNT(*) FROM audio WHERE status='stored'")[0][0] < total:
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "unit.log").read_text()
            time.sleep(0.2)
        process.send_signal(getattr(signal, service["KillSignal"]))  # `systemctl stop`
        assert process.wait(timeout=float(service["TimeoutStopSec"])) == 0, (tmp_path / "unit.log").read_text()


def test_the_schedule_names_one_pass_per_cron_tick_and_it_is_enqueued_once(postgres: PostgresServer) -> None:
    """Workers tick every minute; the pass a tick finds due is named by the cron time, so every
    worker's tick (and a tick repeated after a restart) names the same pass, and the catalog
    records it once."""
    from dataclasses import replace

    from collector._base._settings_tables import SchedulerSettings, StoreSettings
    from collector._runner._cluster._queue import due_pass
    from collector._runner._config import Config
    from collector._storage._catalog import Catalog, PostgresTarget

    config = Config(Path("collector.toml"), StoreSettings(), SchedulerSettings(cron="0 2 * * *", timezone="UTC"),
                    None, [])  # type: ignore[arg-type]
    night = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert due_pass(config, night - timedelta(seconds=1)) is None
    assert due_pass(config, night + timedelta(minutes=3)) == "2026-12-02T02:00Z"
    assert due_pass(config, night + timedelta(minutes=11)) is None  # long past: left to the next night
    berlin = replace(config, scheduler=SchedulerSettings(cron="0 2 * * *", timezone="Europe/Berlin"))
    assert due_pass(berlin, night - timedelta(hours=1) + timedelta(minutes=1)) == "2026-12-02T01:00Z"
    catalog = Catalog(PostgresTarget(postgres.database()))
    try:
        assert catalog.record_pass("2026-12-02T02:00Z", 3) and not catalog.record_pass("2026-12-02T02:00Z", 3)
    finally:
        catalog.close()


@pytest.mark.slow
def test_enqueue_wait_rides_out_a_database_outage_longer_than_the_reconnect_window(
        tmp_path: Path, postgres: PostgresServer, s3: S3Server, stack: ExitStack) -> None:
    """`enqueue --wait` used to crash with a traceback when PostgreSQL was away for more than 30 s,
    while the workers rode it out: now it waits for the database, then for the pass."""
    farm = xima_farm(tmp_path, postgres, s3, tenants=2, recordings=12, rate_limit=(2, 1.0),
                     cluster={"lease_seconds": 20, "stalled_seconds": 15}, stack=stack)
    workers = stack.enter_context(WorkerProcesses(farm.config, 1, env=farm.env))
    waiting = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(farm.config), "enqueue", "--wait",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=workers.env)
    def under_way() -> bool:
        try:
            return _stored(farm) >= 2
        except Exception:  # noqa: BLE001 - the catalog's schema is not made yet
            return False

    try:
        _wait(under_way, 60, "downloads to be under way", workers)
        postgres.stop()
        time.sleep(35)  # longer than the store's reconnect window (30 s in the tests' configurations)
        assert waiting.poll() is None, waiting.communicate()  # still waiting, not crashed
        postgres.start()
        out, err = waiting.communicate(timeout=240)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, out + err + workers.logs()
    assert json.loads(out)["queued"] == 2 and "Traceback" not in err
    assert "The database cannot be reached" in err and "The database is back" in err
    assert audit(farm) == []
    logs = workers.logs()  # the workers say what happened: the database, not another worker
    assert "lapsed: the database could not be reached to renew it" in logs and "passed to another worker" not in logs
    assert "Task exception was never retrieved" not in logs
    assert workers.stop() == [0], workers.logs()


@pytest.mark.slow
def test_a_dead_workers_slots_in_flight_are_taken_back_within_the_lease_bound(
        tmp_path: Path, postgres: PostgresServer, s3: S3Server, stack: ExitStack) -> None:
    """A worker killed with every rate-limit slot of its tenant in flight (slow answers, a 60 s
    request timeout): the other worker resumes the tenant within the lease bound, not after the
    request timeout (65 s seen before: the slots were held until they went stale)."""
    farm = xima_farm(tmp_path, postgres, s3, tenants=1, recordings=30, rate_limit=(1, 1.0), timeout=60,
                     cluster={"lease_seconds": 6, "stalled_seconds": 4}, stack=stack)
    emulator = farm.emulators[0]
    emulator.faults.slow_seconds = 3.0
    emulator.faults.set_rate(1.0, ["slow"])  # every answer takes 3 s: the slots are in flight when it dies
    workers = stack.enter_context(WorkerProcesses(farm.config, 2, env=farm.env))
    assert workers.enqueue().returncode == 0
    _wait(lambda: len(_holders(farm)) == 1 and _stored(farm) >= 2, 90, "a worker to be downloading", workers)
    (victim,) = set(_holders(farm).values())
    index = int(victim[1:])
    # Kill it just after a request arrived: the tenant's one slot is then in flight (its answer takes 3 s).
    _wait(lambda: sum(emulator.in_flight.values()) > 0, 30, "a request in flight", workers)
    killed = time.monotonic()  # the emulator logs arrivals on the monotonic clock
    workers.signal(index, signal.SIGKILL)
    emulator.faults.clear()
    other = f"w{1 - index}"
    _wait(lambda: any(r.worker == other and r.at > killed for r in emulator.log), 60, "the other worker", workers)
    resumed = min(r.at for r in emulator.log if r.worker == other and r.at > killed) - killed
    assert resumed < 6 + 4 + 5 + 5, resumed  # lease + stalled job recovery + a window and margins; was 65 s
    total = len(emulator.recording_items())
    _wait(lambda: _stored(farm) == total, 120, "every recording", workers, farm)
    assert audit(farm) == [] and emulator.count(status=429) == 0
    workers.stop()
