"""Where a credential the vendor rotates is kept between runs: a `TokenStore`, usually a `TokenFile`.

A single-use refresh token is replaced by a new one at every refresh, and the old one stops
working at once. The new one must outlive the process, so the next run can refresh again. It is
a credential, so it is kept neither in the catalog nor in the store (both are scanned for
secrets, copied to backups and read by auditors): it goes to a file of its own, mode 0600,
where the operator keeps secrets (as rclone writes renewed OAuth tokens back into its config).

Durability: `save` returns only once the new token is on disk (written to a temporary file,
fsynced, renamed over the old one, the folder fsynced), and `RefreshTokenGrant` saves a new
refresh token before the access token that came with it is used. What remains is the moment
between the vendor's answer arriving and that fsync (milliseconds, once per refresh): a process
killed exactly then has lost the only valid refresh token. The next run then sends the old one;
a vendor with a reuse grace period accepts it, a strict one refuses it, and the tenant stops
with an `AuthenticationError` asking the operator to authorise the collector again (no other
recovery exists: the vendor holds the only copy). See the README's "Toolkit: authentication".

`lock()` keeps two processes of one machine from refreshing with the same token at once (the
second waits, then reads what the first saved). Cluster workers on several machines must share
the file (a shared volume); the tenant's lease already keeps two workers off one tenant.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from collector._base._errors import TenantError

_LOCK_WAIT = 60.0


class TokenStore(abc.ABC):
    """Keeps a small record (strings by name) between runs; `RefreshTokenGrant` keeps its refresh
    token in one. Subclass it to keep the record elsewhere (a vault, a secrets manager)."""

    @abc.abstractmethod
    def load(self) -> dict[str, str] | None:
        """The record saved last, or None if nothing was saved yet."""

    @abc.abstractmethod
    def save(self, record: dict[str, str]) -> None:
        """Replace the record; it must be durable (survive a crash) when this returns."""

    def lock(self) -> AbstractAsyncContextManager[None]:
        """Held around load, refresh and save, so that two processes never refresh with one token.
        The default holds nothing (one process)."""
        return contextlib.nullcontext()

    def describe(self) -> str:
        """Where the record is kept, for messages (no secret)."""
        return type(self).__name__


class TokenFile(TokenStore):
    """A record kept as JSON in one file, mode 0600 (its folder is created 0700 if missing).

    Give it an absolute path outside the store, next to the collector's other secrets, e.g.
    `/var/lib/collector/tokens/zoom-main.json`: the store and the catalog never hold a secret.
    A sibling `<name>.lock` file serializes refreshes between processes (`flock`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def describe(self) -> str:
        """The file's path."""
        return f"the token file {self.path}"

    def load(self) -> dict[str, str] | None:
        """The record, or None when the file does not exist yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TenantError(f"Cannot read {self.describe()}: {exc.strerror}.") from None
        try:
            record = json.loads(text)
        except ValueError:
            raise TenantError(f"{self.describe()} is not the JSON the collector writes; remove it to start "
                              "again from the refresh token in the configuration.") from None
        if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
            raise TenantError(f"{self.describe()} does not hold what the collector writes; remove it to start "
                              "again from the refresh token in the configuration.")
        return record

    def save(self, record: dict[str, str]) -> None:
        """Write a temporary file, fsync it, rename it over the file, fsync the folder."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = folder / f".{self.path.name}.{os.getpid()}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(descriptor, json.dumps(record, indent=1).encode())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, self.path)
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise TenantError(f"Cannot write {self.describe()}: {exc.strerror}. The vendor has already "
                              "replaced the refresh token: fix the file's folder, then authorise the "
                              "collector again.") from None

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TenantError(f"Cannot open {lock_path}: {exc.strerror}.") from None
        try:
            deadline = time.monotonic() + _LOCK_WAIT
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                        raise TenantError(f"Another process has held {lock_path} for over {_LOCK_WAIT:g} s: "
                                          "is another collector refreshing this tenant's token?") from None
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def lock(self) -> AbstractAsyncContextManager[None]:
        """An exclusive `flock` on `<name>.lock`, waited for (up to a minute) without blocking the loop."""
        return self._locked()
