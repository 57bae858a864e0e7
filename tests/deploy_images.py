"""Real container images and a real systemd for tests/test_deploy.py, from Debian's own tools.

No registry can be reached from the machines this project is tested on, and neither docker nor
`podman run` works there (see docs/deploy.md), so:

- `debian_tree` makes a Debian 12 tree with `mmdebstrap` from Debian's mirror (about 20 s): the base
  image the Dockerfile builds FROM (in place of the public python:3.11-slim-bookworm), or a machine
  with systemd for the units;
- `Buildah` builds the repository's Dockerfile with `buildah build --isolation chroot` into a storage
  of its own (a temporary folder: nothing is left in the machine's image store) and starts commands
  in a container of the image with `buildah run --isolation chroot`, which uses the host's network,
  so the container reaches servers on 127.0.0.1;
- `Booted` boots a tree with `systemd-nspawn --boot`: systemd as PID 1, the units started, stopped
  and restarted by systemd itself, with their users, files and sandboxing.

Each needs root; `missing` says what is not there, for a skip reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

SUITE = "bookworm"
"""Debian 12, the release of python:3.11-slim-bookworm: the same Python 3.11 in the test's base."""

# What debian:bookworm-slim (under python:3.11-slim) leaves out; the copyright files stay.
_SLIM = ["--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
         "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/info/*",
         "--dpkgopt=path-exclude=/usr/share/locale/*"]


def missing(*programs: str) -> str | None:
    """Why these programs cannot be used here (not root, or not installed), or None."""
    if os.geteuid() != 0:
        return "needs root (buildah, mmdebstrap and systemd-nspawn build and boot file system trees)"
    absent = [program for program in programs if shutil.which(program) is None]
    if absent:
        return f"{', '.join(absent)} not installed (scripts/system-deps.sh installs them, as root, on Debian)"
    return None


def _run(argv: Sequence[str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run a tool; a failure raises with its own output, so the test says what went wrong."""
    done = subprocess.run(list(argv), capture_output=True, text=True, **options)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])} ... exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done  # type: ignore[no-any-return]


def debian_tree(target: Path, packages: Sequence[str]) -> None:
    """A minimal Debian tree with `packages`: a directory, or a tarball if `target` ends in .tar."""
    _run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(packages)}", *_SLIM, SUITE,
          str(target)])


class Buildah:
    """buildah with a private image store under `directory` (removed by `close`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.options = [f"--root={directory / 'storage'}", f"--runroot={directory / 'run'}", "--storage-driver=overlay"]

    def __call__(self, *args: str) -> str:
        return _run(["buildah", *self.options, *args]).stdout.strip()

    def base_image(self, name: str, tarball: Path) -> None:
        """An image of the tree in `tarball`, trusting what this machine trusts: its CA bundle
        replaces Debian's, so that pip in the build reaches the package index the way pip on the
        host does (through a TLS-inspecting proxy, where there is one). Public certificates only."""
        container = self("from", "scratch")
        self("add", container, str(tarball), "/")
        self("copy", container, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
        self("commit", "--quiet", "--rm", container, name)

    def build(self, tag: str, context: Path, build_args: Mapping[str, str]) -> None:
        """`buildah build` of the Dockerfile at the root of `context`, as the README says to build it."""
        arguments = [f"--build-arg={key}={value}" for key, value in build_args.items()]
        self("build", "--quiet", "--isolation=chroot", *arguments, "--tag", tag, "--file",
             str(context / "Dockerfile"), str(context))

    def container(self, image: str, env: Mapping[str, str] = {}) -> str:
        """A new container of `image` with these extra environment variables."""
        container = self("from", "--quiet", image)
        if env:
            self("config", *[f"--env={key}={value}" for key, value in env.items()], container)
        return container

    def run(self, container: str, argv: Sequence[str], *, mounts: Sequence[str] = (), user: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`argv` in the container, as the image's user unless told; mounts as `type=bind,...`."""
        command = ["buildah", *self.options, "run", "--isolation=chroot",
                   *[f"--mount={mount}" for mount in mounts], *([f"--user={user}"] if user else []),
                   container, "--", *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def written(self, container: str) -> list[str]:
        """What the container's commands wrote to its own file system (not to its mounts): the
        overlay's upper layer, less /run (where buildah itself keeps the container's run files)."""
        upper = Path(self("mount", container)).parent / "diff"
        assert upper.is_dir(), f"no overlay upper layer at {upper}"
        return sorted("/" + str(path.relative_to(upper)) for path in upper.rglob("*")
                      if path.relative_to(upper).parts[0] != "run")

    def copy_out(self, image: str, path: str, tree: Path) -> None:
        """Copy `path` (a folder) out of `image` into the same place in `tree`."""
        container = self("from", "--quiet", image)
        try:
            shutil.copytree(Path(self("mount", container)) / path.lstrip("/"), tree / path.lstrip("/"), symlinks=True)
        finally:
            self("rm", container)

    def image(self, name: str) -> dict[str, object]:
        """The image's configuration (`buildah inspect`): its OCIv1 config, size and history."""
        import json

        return json.loads(self("inspect", "--type=image", name))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Remove every container and image, and the store itself."""
        subprocess.run(["buildah", *self.options, "rm", "--all"], capture_output=True)
        subprocess.run(["buildah", *self.options, "rmi", "--all", "--force"], capture_output=True)
        # The overlay driver mounts its layer folder on itself; unmount it before deleting it.
        subprocess.run(["umount", str(self.directory / "storage" / "overlay")], capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)


class Booted:
    """A tree booted with `systemd-nspawn --boot` (the host's network, not registered with
    systemd-machined, which does not run here) until `stop`: SIGTERM, which nspawn turns into
    SIGRTMIN+3 for the container's systemd, an orderly power-off that stops every unit."""

    def __init__(self, tree: Path, log: Path, binds: Sequence[str] = ()) -> None:
        self.log = log
        self._output = log.open("wb")
        self.process = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot", "--console=pipe",
             f"--directory={tree}", *[f"--bind={bind}" for bind in binds]],
            stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT)

    def wait_for(self, path: Path, seconds: float) -> None:
        """Until `path` exists (written by a unit inside), or fail with the console's output."""
        deadline = time.monotonic() + seconds
        while not path.exists():
            assert self.process.poll() is None, f"the container stopped:\n{self.log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no {path.name} after {seconds:g} s:\n{self.log.read_text()}"
            time.sleep(0.2)

    def stop(self, seconds: float = 90) -> int:
        """Power the container off; nspawn's exit code (0: every unit stopped cleanly)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
