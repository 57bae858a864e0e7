"""What a pass may use of this machine: open files and sockets, threads for I/O and for verification.

Hundreds of tenants run at once, and most of them, most of the time, wait for their vendor's rate
limit: a waiting tenant holds none of this. What costs the machine is bounded here instead of the
number of tenants in flight:

- **Descriptors.** The soft `RLIMIT_NOFILE` is raised towards the hard limit (500 tenants can
  exceed the usual 1,024), and `connections` bounds the exchanges in flight across all tenants,
  each holding a socket and, for a download, a temporary file: two descriptors. A request takes it
  only after its rate-limit slot, so a tenant that waits for its vendor holds none.
- **Verification** (container checks or a full decode) runs on `verify_pool`, one thread per
  core: libsndfile and hashlib release the GIL, so the cores work in parallel while the event loop
  goes on. The same job writes a download's last block, fsyncs it and renames it into place (one
  hand-over instead of three; an fsync holds the thread for a few milliseconds).
- **Block writes** of large downloads run on `file_pool`: each block is written and hashed there
  (two threads) while the next one arrives.
"""

from __future__ import annotations

import asyncio
import os
import resource
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

_WANTED_FILES = 65_536
_RESERVED_FILES = 256
"""Descriptors kept for the catalog, logs, ledgers, imports and the interpreter itself."""
_FILE_THREADS = 4
"""Block writes of large downloads: the disk, not the threads, is the limit."""


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard limit (at most 65,536); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _WANTED_FILES if hard == resource.RLIM_INFINITY else min(hard, _WANTED_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return _WANTED_FILES if soft == resource.RLIM_INFINITY else soft


@dataclass
class Machine:
    """This process's budget for one pass (create it on the pass's event loop)."""

    connections: asyncio.Semaphore = field(init=False)
    connection_limit: int = field(init=False)
    verify_pool: ThreadPoolExecutor = field(init=False)
    file_pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        files = raise_open_file_limit()
        self.connection_limit = max(16, (files - _RESERVED_FILES) // 2)
        self.connections = asyncio.Semaphore(self.connection_limit)
        self.verify_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="verify")
        self.file_pool = ThreadPoolExecutor(max_workers=_FILE_THREADS, thread_name_prefix="files")

    def close(self) -> None:
        """Wait for the pools' work and stop their threads."""
        self.verify_pool.shutdown(wait=True)
        self.file_pool.shutdown(wait=True)
