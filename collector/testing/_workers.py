"""Cluster workers as real processes, for tests and benchmarks of the scale-out mode.

`WorkerProcesses` starts `collector worker` processes (the installed command, exactly as a user
or systemd would) against one configuration, and can stop (SIGTERM), kill (SIGKILL), pause
(SIGSTOP) and resume (SIGCONT) each one. Their output goes to one log file per worker, which
`log(i)` reads (the test prints it when something fails). `enqueue` runs `collector enqueue`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from collector.emulator import LoggedRequest


class WorkerProcesses:
    """`count` worker processes for the configuration at `config`."""

    def __init__(self, config: Path, count: int, *, env: Mapping[str, str] | None = None,
                 directory: Path | None = None, extra: Sequence[str] = ()) -> None:
        self.config = config
        self.count = count
        self.env = {**os.environ, **(env or {})}
        self.directory = directory or config.parent
        self.extra = list(extra)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.names = [f"w{i}" for i in range(count)]

    def start(self) -> WorkerProcesses:
        """Start every worker."""
        for name in self.names:
            self.processes.append(self._spawn(name))
        return self

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"worker-{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "collector", "--config", str(self.config), "--log-format", "json", "worker",
                 "--name", name, *self.extra], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        finally:
            log.close()

    def restart(self, index: int) -> None:
        """Start worker `index` again (after it was killed), under the same name."""
        self.processes[index] = self._spawn(self.names[index])

    def signal(self, index: int, number: int) -> None:
        """Send a signal to worker `index`."""
        self.processes[index].send_signal(number)

    def log(self, index: int) -> str:
        """What worker `index` wrote."""
        path = self.directory / f"worker-{self.names[index]}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """Every worker's output, one after another."""
        return "\n".join(f"--- {name} ---\n{self.log(i)}" for i, name in enumerate(self.names))

    def enqueue(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `collector enqueue ARGS` against the configuration."""
        return subprocess.run([sys.executable, "-m", "collector", "--config", str(self.config), "enqueue", *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout)

    def stop(self, timeout: float = 60) -> list[int | None]:
        """SIGTERM every worker still running (resuming paused ones first) and wait; their exit codes."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(process.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes.append(None)
        return codes

    def __enter__(self) -> WorkerProcesses:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def overlapping_workers(log: Sequence[LoggedRequest]) -> list[str]:
    """Where a vendor saw two workers at once: each worker's requests to one tenant must form one
    unbroken stretch in arrival order (a hand-over starts a new stretch, and the old worker never
    comes back). Returns a description of every break found (empty: none)."""
    seen: list[str] = []
    problems: list[str] = []
    for request in sorted(log, key=lambda r: r.at):
        worker = request.worker or "?"
        if seen and seen[-1] == worker:
            continue
        if worker in seen:
            problems.append(f"{worker} sent {request.method} {request.path} at {request.at:.3f} after "
                            f"{seen[-1]} had taken over")
        seen.append(worker)
    return problems
