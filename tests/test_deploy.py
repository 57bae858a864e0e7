"""The deploy files as shipped (issue 15): the systemd units with their sysusers.d and tmpfiles.d
files, the Dockerfile, and the Kubernetes manifests that run its image.

Fast checks: `systemd-analyze verify` and `security` on the units, the user and directories made
by `systemd-sysusers`/`systemd-tmpfiles` in a scratch root, a worker with a broken configuration
exiting 2 (which the unit does not restart), the manifests parsed, their configuration validated and
checked against the Dockerfile. Slow ones (`deploy_images`: root, buildah, mmdebstrap, systemd-nspawn;
about 2 minutes): the image built and the manifests' own commands run in it against PostgreSQL, S3
and vendor emulators on 127.0.0.1; then the units booted under a real systemd, with the collector
from that image. tests/test_cluster.py also starts the units' command lines as systemd would.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector._cli._demo import dump_toml
from collector._runner._config import load_config
from collector._runner._plugins import Plugins
from collector._storage._catalog import Catalog, PostgresTarget
from collector.testing import PostgresServer, S3Server
from collector_xima.emulator import XimaEmulator, XimaTenant

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file (importlib mode)
from deploy_images import Booted, Buildah, debian_tree, missing

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "deploy" / "systemd"
MANIFESTS = REPO / "deploy" / "kubernetes" / "collector.yaml"
UNITS = ("collector-worker@.service", "collector-enqueue.service", "collector-enqueue.timer")
STATE = "/var/lib/recording-collector"


def unit_lines(name: str) -> list[tuple[str, str]]:
    """A unit's settings as (key, value) in order, repeated keys kept (systemd adds them up)."""
    lines = [line.strip() for line in (SYSTEMD / name).read_text().splitlines()]
    return [tuple(line.split("=", 1)) for line in lines if "=" in line and not line.startswith("#")]  # type: ignore[misc]


def render_units(directory: Path, config: Path) -> dict[str, Path]:
    """The units with this checkout's collector and `config` in place of /srv/collector's and /etc's
    (systemd-analyze verify checks that the programs exist), written to `directory`."""
    rendered = {}
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/srv/collector/.venv/bin", str(Path(sys.executable).parent))
        (directory / name).write_text(text.replace("/etc/recording-collector/collector.toml", str(config)))
        rendered[name] = directory / name
    return rendered


def dockerfile() -> dict[str, list[str]]:
    """The final stage of the Dockerfile: each instruction's arguments, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stage: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            stage = {} if instruction == "FROM" else stage
            stage.setdefault(instruction, []).append(rest.strip())
    return stage


def manifests() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    return {document["kind"]: document for document in yaml.safe_load_all(MANIFESTS.read_text())}


def pod_specs(kinds: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {"worker": kinds["Deployment"]["spec"]["template"]["spec"],
            "enqueue": kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]}


# -- systemd ----------------------------------------------------------------------------------------


def test_the_units_pass_systemd_analyze_verify_and_security(tmp_path: Path) -> None:
    """Every setting is known to this systemd (252, Debian 12's) and the sandbox scores "OK" (below
    2.0 of 10; the units scored 8.8, "EXPOSED", before they had one)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package; scripts/system-deps.sh)")
    units = render_units(tmp_path, tmp_path / "collector.toml")
    checked = subprocess.run(["systemd-analyze", "verify", *map(str, units.values())], capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
    services = [str(units["collector-worker@.service"]), str(units["collector-enqueue.service"])]
    scored = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", *services],
                            capture_output=True, text=True)
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr


def test_both_services_share_the_user_the_files_and_the_hardening() -> None:
    worker, enqueue = unit_lines("collector-worker@.service"), unit_lines("collector-enqueue.service")
    shared = [(key, value) for key, value in worker if key not in ("Type", "ExecStart", "KillSignal", "TimeoutStopSec",
                                                                 "Restart", "RestartSec", "RestartPreventExitStatus",
                                                                 "Description", "WantedBy")]
    assert shared == [(key, value) for key, value in enqueue if key not in ("Type", "ExecStart", "SuccessExitStatus",
                                                                          "Description")]
    assert {("User", "collector"), ("ReadWritePaths", STATE), ("ProtectSystem", "strict")} <= set(shared)
    assert ("SuccessExitStatus", "3") in enqueue  # this night's pass was enqueued already


def test_sysusers_and_tmpfiles_make_the_user_and_its_directories(tmp_path: Path) -> None:
    """Applied to a scratch root, as `systemd-sysusers` and `systemd-tmpfiles --create` apply them
    to the machine: a system user without a login, its state directory 0750, the configuration's
    directory readable by its group only."""
    if shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None:
        pytest.skip("systemd-sysusers/systemd-tmpfiles are not installed (Debian's systemd package)")
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSTEMD / "sysusers.d" / "recording-collector.conf")],
                   check=True, capture_output=True)
    user = next(line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
                if line.startswith("collector:"))
    uid, gid, home, shell = int(user[2]), int(user[3]), user[5], user[6]
    assert uid < 1000 and home == STATE and shell == "/usr/sbin/nologin"
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles can give directories to another user only as root")
    subprocess.run(["systemd-tmpfiles", f"--root={tmp_path}", "--create",
                    str(SYSTEMD / "tmpfiles.d" / "recording-collector.conf")], check=True, capture_output=True)
    state, etc = (tmp_path / STATE.lstrip("/")).stat(), (tmp_path / "etc" / "recording-collector").stat()
    assert (state.st_uid, state.st_gid, oct(state.st_mode & 0o7777)) == (uid, gid, "0o750")
    assert (etc.st_uid, etc.st_gid, oct(etc.st_mode & 0o7777)) == (0, gid, "0o750")


def test_a_configuration_error_stops_the_worker_for_good(tmp_path: Path) -> None:
    """The worker's command line, as systemd runs it, on a configuration that does not parse: exit 2,
    which the unit lists in RestartPreventExitStatus (it used to restart every 5 s forever); any
    other failure is restarted."""
    config = tmp_path / "collector.toml"
    config.write_text('[store]\npath = "store"\n[[sources]\n')
    units = render_units(tmp_path, config)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(units["collector-worker@.service"])
    service = parser["Service"]
    environment = {**os.environ, **dict([service["Environment"].split("=", 1)])}
    argv = shlex.split(service["ExecStart"].replace("%H-%i", "test-1"))
    done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "TOML syntax error" in done.stderr and "nothing was run" in done.stderr
    assert service["Restart"] == "on-failure" and "2" in service["RestartPreventExitStatus"].split()
    assert "5" not in service["RestartPreventExitStatus"].split()  # a store that cannot be reached comes back


# -- Kubernetes ----------------------------------------------------------------------------------


def test_the_kubernetes_manifests_parse_and_their_configuration_is_valid(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    """Untested on a cluster; checked here: the documents parse, the worker Deployment runs
    `collector worker`, the CronJob `collector enqueue` with a pass per day, and the ConfigMap's
    collector.toml is a valid configuration."""
    kinds = manifests()
    assert set(kinds) == {"ConfigMap", "Deployment", "CronJob", "Secret"}
    for document in kinds.values():
        assert document["apiVersion"] and document["metadata"]["name"]
    pods = pod_specs(kinds)
    (worker,) = pods["worker"]["containers"]
    assert worker["args"][-1] == "worker" and "command" not in worker  # the image's entry point: collector
    (enqueue,) = pods["enqueue"]["containers"]
    assert "collector enqueue" in enqueue["args"][0] and "--pass" in enqueue["args"][0]
    config = tmp_path / "collector.toml"
    config.write_text(kinds["ConfigMap"]["data"]["collector.toml"])
    for name in kinds["Secret"]["stringData"]:
        monkeypatch.setenv(name, "value")
    loaded = load_config(config, Plugins())
    assert loaded.store.postgresql is not None and loaded.store.s3 is not None and not loaded.cluster.schedule


def test_the_manifests_run_the_image_as_the_dockerfile_builds_it() -> None:
    """Same user id, the ConfigMap mounted where the image's COLLECTOR_CONFIG points, the store
    path on a writable volume in both pods (the root file system is read-only; the CronJob had no
    scratch volume), and the image's entry point used."""
    image = dockerfile()
    assert image["USER"] == ["10001:10001"] and image["ENTRYPOINT"] == ['["collector"]']
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(image["ENV"])))
    config_dir, _, config_name = env["COLLECTOR_CONFIG"].rpartition("/")
    assert image["VOLUME"] == [STATE]
    kinds = manifests()
    assert config_name in kinds["ConfigMap"]["data"]
    assert f'path = "{STATE}"' in kinds["ConfigMap"]["data"][config_name]
    for name, pod in pod_specs(kinds).items():
        context = pod["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (10001, 10001, True), name
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        assert volumes[mounts[config_dir]["name"]]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"], name
        assert "emptyDir" in volumes[mounts[STATE]["name"]] and not mounts[STATE].get("readOnly"), name
        assert container["envFrom"] == [{"secretRef": {"name": kinds["Secret"]["metadata"]["name"]}}], name


# -- the image, built and run (slow) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Buildah, str]]:
    """The Dockerfile built FROM a Debian 12 base made here (no registry to pull python:3.11-slim from)."""
    reason = missing("buildah", "mmdebstrap")
    if reason:
        pytest.skip(f"the image is not built: {reason}")
    directory = tmp_path_factory.mktemp("image")
    buildah = Buildah(directory / "buildah")
    try:
        debian_tree(directory / "base.tar", ["python3", "python3-venv", "ca-certificates", "passwd"])
        buildah.base_image("localhost/collector-test-base:bookworm", directory / "base.tar")
        (directory / "base.tar").unlink()
        buildah.build("localhost/recording-collector:test", REPO, {"BASE": "localhost/collector-test-base:bookworm"})
        yield buildah, "localhost/recording-collector:test"
    finally:
        buildah.close()


def xima_tenants(count: int) -> Iterator[XimaEmulator]:
    now = datetime.now(UTC)
    for number in range(count):
        tenant = XimaTenant(name=f"t{number}", token="tok-" + os.urandom(8).hex(), recordings=3,
                            anchor=now - timedelta(minutes=5), span=timedelta(hours=1))
        yield XimaEmulator(tenant, rate_limit=(20, 1.0))


def cluster_config(emulators: list[XimaEmulator], postgres: PostgresServer, s3: S3Server,
                   ) -> tuple[str, dict[str, str], str]:
    """A configuration like the ConfigMap's, on the test servers: its text, the secrets it names
    (the Secret's part) and its catalog's DSN."""
    dsn = postgres.database()
    now = datetime.now(UTC)
    sources = [{"plugin": "xima", "tenant": e.tenant.name, "base_url": e.url, "token": {"env": f"XIMA_TOKEN_{i}"},
                "endpoint": "recordings", "start": (now - timedelta(hours=2)).isoformat(), "window": 3600,
                "lookback": 3600, "settle_delay": 1, "timeout": 30, "rate_limit": {"requests": 20, "per_seconds": 1}}
               for i, e in enumerate(emulators)]
    document = {"store": {"path": STATE, "postgresql": {"dsn": dsn, "reconnect_seconds": 30},
                          "s3": {"bucket": s3.bucket(), "prefix": "archive/", "endpoint": s3.endpoint,
                                 "access_key_id": {"env": "COLLECTOR_S3_KEY"},
                                 "secret_access_key": {"env": "COLLECTOR_S3_SECRET"}}},
                "logging": {"format": "json"},
                "cluster": {"schedule": False, "lease_seconds": 6, "stalled_seconds": 4, "poll_seconds": 0.2},
                "sources": sources}
    secrets = {"COLLECTOR_S3_KEY": s3.access_key, "COLLECTOR_S3_SECRET": s3.secret_key,
               **{f"XIMA_TOKEN_{i}": e.tenant.token for i, e in enumerate(emulators)}}
    return dump_toml(document), secrets, dsn


def stored(dsn: str) -> int:
    catalog = Catalog(PostgresTarget(dsn), read_only=True)
    try:
        return int(catalog.query("SELECT COUNT(*) FROM audio WHERE status='stored'")[0][0])
    finally:
        catalog.close()


@pytest.mark.slow
def test_the_image_runs_the_manifests_commands(image: tuple[Buildah, str], tmp_path: Path, postgres: PostgresServer,
                                               s3: S3Server) -> None:
    """In the built image, as its user, with the configuration mounted read-only where the
    ConfigMap goes and a scratch folder where the emptyDir goes: the CronJob's command enqueues a
    pass (twice: the second queues nothing and still succeeds), the Deployment's command (with
    --until-idle) collects it, and nothing is written outside the volumes (so the read-only root
    file system holds). A configuration error exits 2."""
    buildah, tag = image
    built = buildah.image(tag)["OCIv1"]["config"]  # type: ignore[index]
    assert built["User"] == "10001:10001" and built["Entrypoint"] == ["collector"]
    assert "COLLECTOR_CONFIG=/etc/recording-collector/collector.toml" in built["Env"]
    with ExitStack() as stack:
        emulators = [stack.enter_context(emulator) for emulator in xima_tenants(2)]
        text, secrets, dsn = cluster_config(emulators, postgres, s3)
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "collector.toml").write_text(text)
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        os.chown(scratch, 10001, 10001)  # what fsGroup does for the emptyDir
        # `rw` said outright: buildah 1.28 (Debian 12's) mounts a bind without it read-only, always
        # when it is the only mount and now and then when it follows a read-only one (seen in CI).
        volumes = [f"type=bind,source={tmp_path / 'config'},destination=/etc/recording-collector,ro",
                   f"type=bind,source={scratch},destination={STATE},rw"]
        container = buildah.container(tag, env=secrets)
        version = buildah.run(container, ["collector", "--version"])
        assert version.returncode == 0 and version.stdout.startswith("recording-collector "), version.stderr
        plugins = buildah.run(container, ["collector", "plugins"], mounts=volumes)
        assert all(name in plugins.stdout for name in ("focus", "imagicle", "xima")), plugins.stdout + plugins.stderr
        check = buildah.run(container, ["collector", "config", "check"], mounts=volumes)
        assert check.returncode == 0, check.stdout + check.stderr  # PostgreSQL and the bucket answer from inside
        pods = pod_specs(manifests())
        (enqueue,) = pods["enqueue"]["containers"]
        for already in ("false", "true"):  # the second time: exit 3, which the command line accepts
            done = buildah.run(container, [*enqueue["command"], *enqueue["args"]], mounts=volumes)
            assert done.returncode == 0 and f'"already_enqueued": {already}' in done.stdout, done.stdout + done.stderr
        (worker,) = pods["worker"]["containers"]
        done = buildah.run(container, [*built["Entrypoint"], *worker["args"], "--until-idle"], mounts=volumes)
        if done.returncode != 0:  # say who the container's user is and who owns the volume, as seen inside
            seen = buildah.run(container, ["sh", "-c", f"id; ls -lnd {STATE} {STATE}/*"], mounts=volumes)
            pytest.fail(f"{done.stdout}{done.stderr}\ninside: {seen.stdout}{seen.stderr}\n"
                        f"outside: {oct(scratch.stat().st_mode)} {scratch.stat().st_uid}")
        assert stored(dsn) == sum(len(e.recording_items()) for e in emulators)
    tools = buildah.run(container, ["sh", "-c", "ls /opt/recording-collector/bin; command -v gcc cc make || true"])
    assert not re.search(r"^(pip|gcc|cc|make)|/(gcc|cc|make)$", tools.stdout, re.M), tools.stdout
    assert buildah.written(container) == []  # everything the commands wrote went to the two volumes
    (tmp_path / "config" / "collector.toml").write_text(text.replace("[cluster]", "[cluster\n"))
    broken = buildah.run(container, [*built["Entrypoint"], *worker["args"]], mounts=volumes)
    assert broken.returncode == 2 and "TOML syntax error" in broken.stderr, broken.stderr


# -- the units under a real systemd (slow) -----------------------------------------------------------

# Test only: run inside the booted machine once the workers are up; what systemd says about the
# units goes to /results (a folder of the test's), one `name=value` per line.
CHECKS = r"""#!/bin/sh
say() { echo "$1=$2" >> /results/checks; }
show() { systemctl show --property="$1" --value "$2"; }
systemctl start collector-enqueue.service; say enqueue $?
systemctl start collector-enqueue.service; say enqueue_again $?
pid=$(show MainPID collector-worker@1.service)
say worker_uid "$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$pid/status)"
say collector_uid "$(getent passwd collector | cut -d: -f3)"
say worker_state "$(show ActiveState collector-worker@1.service)"
systemctl start collector-worker@8.service collector-worker@9.service
sleep 6
for n in 8 9; do
    for property in NRestarts ExecMainStatus ActiveState; do
        say "worker${n}_$property" "$(show $property collector-worker@$n.service)"
    done
done
touch /results/done
"""


def install_units(machine: Path, config: str, secrets: dict[str, str]) -> None:
    """Install the units into the tree `machine` as docs/deploy.md says, with --root= in place of
    the machine's own root."""
    etc = machine / "etc"
    for kind in ("sysusers.d", "tmpfiles.d"):
        (etc / kind).mkdir(exist_ok=True)
        shutil.copy(SYSTEMD / kind / "recording-collector.conf", etc / kind)
    subprocess.run(["systemd-sysusers", f"--root={machine}"], check=True, capture_output=True)
    subprocess.run(["systemd-tmpfiles", f"--root={machine}", "--create", "recording-collector.conf"], check=True,
                   capture_output=True)
    for name in UNITS:
        shutil.copy(SYSTEMD / name, etc / "systemd" / "system")
    group = next(int(line.split(":")[2]) for line in (etc / "group").read_text().splitlines()
                 if line.startswith("collector:"))
    (etc / "recording-collector" / "collector.toml").write_text(config)
    os.chown(etc / "recording-collector" / "collector.toml", 0, group)
    os.chmod(etc / "recording-collector" / "collector.toml", 0o640)
    (etc / "recording-collector" / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
    os.chmod(etc / "recording-collector" / "secrets.env", 0o600)
    subprocess.run(["systemctl", f"--root={machine}", "enable", "collector-worker@1.service",
                    "collector-worker@2.service"], check=True, capture_output=True)


def add_test_units(machine: Path, config: str) -> None:
    """Two more workers whose configuration fails (restarted within 1 s, not 30, to be seen
    quickly): @8's database cannot be reached (exit 5), @9's file does not parse (exit 2); and the
    unit that runs CHECKS."""
    etc, system = machine / "etc" / "recording-collector", machine / "etc" / "systemd" / "system"
    unreachable = re.sub(r'dsn = "[^"]*"', 'dsn = "postgresql://postgres@127.0.0.1:1/none"', config)
    for number, name, text in ((8, "unreachable.toml", unreachable), (9, "broken.toml", "[store\n")):
        (etc / name).write_text(text)
        (etc / name).chmod(0o644)
        (system / f"collector-worker@{number}.service.d").mkdir()
        (system / f"collector-worker@{number}.service.d" / "test.conf").write_text(
            f"[Service]\nEnvironment=COLLECTOR_CONFIG=/etc/recording-collector/{name}\nRestartSec=1\n")
    (machine / "usr" / "local" / "bin" / "deploy-checks").write_text(CHECKS)
    (machine / "usr" / "local" / "bin" / "deploy-checks").chmod(0o755)
    (system / "deploy-checks.service").write_text(
        "[Unit]\nAfter=collector-worker@1.service collector-worker@2.service\n"
        "[Service]\nType=oneshot\nExecStart=/usr/local/bin/deploy-checks\n")
    (system / "multi-user.target.wants" / "deploy-checks.service").symlink_to("../deploy-checks.service")
    (machine / "var" / "log" / "journal").mkdir(exist_ok=True)  # kept, for journalctl --directory


@pytest.mark.slow
def test_the_units_run_under_systemd(image: tuple[Buildah, str], tmp_path: Path, postgres: PostgresServer,
                                     s3: S3Server) -> None:
    """A Debian 12 machine booted with systemd-nspawn, the collector from the image in
    /srv/collector/.venv, the units installed as documented: two workers start at boot as the
    `collector` user inside their sandbox, the enqueue unit starts a pass (and, started again, ends
    well on exit 3), the workers collect it and stop cleanly at power-off; a worker whose
    configuration is broken stays failed, one whose database cannot be reached is restarted."""
    reason = missing("systemd-nspawn", "systemd-sysusers", "systemd-tmpfiles", "systemctl", "journalctl")
    if reason:
        pytest.skip(f"the units are not booted: {reason}")
    buildah, tag = image
    machine = tmp_path / "machine"
    # ca-certificates: obstore will not start an S3 client without the system's CA store, even for
    # an http:// endpoint (Debian installs it by default; minbase does not).
    debian_tree(machine, ["systemd", "systemd-sysv", "python3", "ca-certificates"])
    buildah.copy_out(tag, "/opt/recording-collector", machine)  # the same Python: both are Debian 12's
    (machine / "srv" / "collector").mkdir(parents=True)
    (machine / "srv" / "collector" / ".venv").symlink_to("/opt/recording-collector")
    results = tmp_path / "results"
    results.mkdir()
    with ExitStack() as stack:
        emulators = [stack.enter_context(emulator) for emulator in xima_tenants(2)]
        config, secrets, dsn = cluster_config(emulators, postgres, s3)
        install_units(machine, config, secrets)
        add_test_units(machine, config)
        booted = stack.enter_context(Booted(machine, tmp_path / "console.log", binds=[f"{results}:/results"]))
        booted.wait_for(results / "done", 120)
        checks = dict(line.split("=", 1) for line in (results / "checks").read_text().splitlines())
        # The second start found the pass enqueued (exit 3) and still succeeded. (systemd forgets a
        # oneshot unit's exit status once it is inactive: the journal says what happened.)
        enqueued = journal(machine, "collector-enqueue.service")
        assert checks["enqueue"] == checks["enqueue_again"] == "0", (checks, enqueued)
        assert '"already_enqueued": false' in enqueued and '"already_enqueued": true' in enqueued, enqueued
        total, deadline = sum(len(e.recording_items()) for e in emulators), time.monotonic() + 60
        while stored(dsn) < total:
            assert time.monotonic() < deadline, journal(machine, "collector-worker@1.service")
            time.sleep(0.2)
        assert booted.stop() == 0, booted.log.read_text()
    assert checks["worker_uid"] == checks["collector_uid"] != "0" and checks["worker_state"] == "active", checks
    assert (checks["worker9_ActiveState"], checks["worker9_ExecMainStatus"], checks["worker9_NRestarts"]) == (
        "failed", "2", "0"), checks
    # @8 is restarted 1 s after each exit 5 (its state and status at the moment of reading depend on
    # where in that cycle it is: the journal has every exit).
    unreachable = journal(machine, "collector-worker@8.service")
    assert int(checks["worker8_NRestarts"]) >= 2 and "status=5/NOTINSTALLED" in unreachable, (checks, unreachable)
    worker = journal(machine, "collector-worker@1.service")
    assert '"event": "worker_stopped"' in worker and "Traceback" not in worker, worker
    shutil.rmtree(machine)  # 300 MB; kept when the test fails, with its journal


def journal(machine: Path, unit: str) -> str:
    """The end of what the machine's journal holds for `unit` (journald keeps it in /var/log/journal)."""
    done = subprocess.run(["journalctl", f"--directory={machine / 'var' / 'log' / 'journal'}", "--no-pager", "-o",
                           "cat", "-u", unit], capture_output=True, text=True)
    return done.stdout[-4000:]
