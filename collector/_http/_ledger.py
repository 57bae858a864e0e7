"""Where a rate limit's slots are kept: in this process, or in a file every process on the machine shares.

A vendor limits an *account* (a base URL and a credential), not a process: two collector runs on
one machine that use the same account, even with different stores, must together stay within its
limit. `FileLedger` keeps the account's slots in a small file under a machine-wide directory
(`COLLECTOR_LIMITS_DIR`, default `/var/tmp/recording-collector-<uid>/limits`, created 0700),
named by `account_key`: a SHA-256 over the plugin, the base URL and the credential, so the file
name never reveals the credential. Each operation opens the file, takes an `flock`, reads and
writes a few bytes and closes it: no descriptor is held between requests.

A slot is idle (free from a time on) or in flight (held by a process since a time). A slot held
by a process that no longer exists, or for longer than `STALE_AFTER` (a request's slot is held
only until its response headers arrive, bounded by the request timeout), is taken back as free
one window from now, as if its request had just arrived. Times are wall-clock seconds, so a file
written before a reboot stays meaningful; a slot free further ahead than four windows (the
longest a slowed-down limiter applies) or a pause further ahead than a day means the clock was
set back, and is read as that much from now. A damaged or foreign file is started afresh with every slot
free one horizon from now: the safe side. Processes that configure different limits for one
account each claim only the slots of their own limit, so together they stay within the larger.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("collector.ratelimit")

_LIVENESS_AFTER = 2.0
"""A slot in flight this long is worth asking whether its holder still holds a lease (younger ones
are simply in flight; the question costs a query)."""
_ARRIVAL_MARGIN = 5.0
"""Seconds a dead holder's request may have taken to reach the vendor after its claim."""


def holder_id(worker: str) -> int:
    """A worker's name as the 31-bit number a ledger row keeps (stable across machines)."""
    return int.from_bytes(hashlib.sha256(worker.encode("utf-8", "surrogatepass")).digest()[:4], "big") & 0x7FFFFFFF


STALE_AFTER = 600.0
"""Seconds after which a slot still marked in flight is taken back (its request cannot still be waiting)."""


class SlotLedger(Protocol):
    """The slots of one rate limit. Every method is quick and never waits on the network."""

    clock: Callable[[], float]
    """The clock the ledger's times are read with."""

    def claim(self, now: float, slots: int) -> tuple[int | None, float | None]:
        """Take the idle slot among the first `slots` that is free earliest, if it is free by
        `now` and no pause holds: returns (slot, None). Otherwise (None, when to try again), or
        (None, None) when every slot is in flight."""

    def stamp(self, slot: int, free_at: float) -> None:
        """The slot's request has arrived: the slot is idle again, free from `free_at`."""

    def unclaim(self, slot: int) -> None:
        """The slot sent nothing: it is idle again as it was before `claim`."""

    def pause(self, until: float) -> None:
        """No slot is granted before `until` (a vendor's Retry-After)."""


class MemoryLedger:
    """Slots kept in this process only."""

    def __init__(self, slots: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._free_at = [0.0] * slots
        self._in_flight: dict[int, float] = {}  # slot -> its free time before it was claimed
        self._paused_until = 0.0

    def claim(self, now: float, slots: int) -> tuple[int | None, float | None]:
        """See `SlotLedger.claim`."""
        idle = [i for i in range(min(slots, len(self._free_at))) if i not in self._in_flight]
        if not idle:
            return None, None
        slot = min(idle, key=self._free_at.__getitem__)
        ready = max(self._free_at[slot], self._paused_until)
        if ready > now:
            return None, ready
        self._in_flight[slot] = self._free_at[slot]
        return slot, None

    def stamp(self, slot: int, free_at: float) -> None:
        """See `SlotLedger.stamp`."""
        self._in_flight.pop(slot, None)
        self._free_at[slot] = free_at

    def unclaim(self, slot: int) -> None:
        """See `SlotLedger.unclaim`."""
        self._free_at[slot] = self._in_flight.pop(slot, self._free_at[slot])

    def pause(self, until: float) -> None:
        """See `SlotLedger.pause`."""
        self._paused_until = max(self._paused_until, until)


_LONGEST_PAUSE = 86_400.0
"""A pause further ahead than this (the clock was set back) is read as this from now."""
_MAGIC = b"RCL1"
_HEADER = struct.Struct("<4sId")  # magic, slot count, paused until
_SLOT = struct.Struct("<dddi?3x")  # free at, claimed at, free at before the claim, holder pid, in flight


@dataclass(slots=True)
class _Row:
    free_at: float
    claimed_at: float
    before: float
    pid: int
    in_flight: bool


@dataclass(slots=True)
class _State:
    paused: float
    rows: list[_Row]
    now: float
    """The time the state was read at, by the ledger's clock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


class FileLedger:
    """Slots kept in a file that every process on the machine using the account shares."""

    def __init__(self, path: Path, slots: int, *, window: float) -> None:
        self.clock = time.time
        self.path = path
        self._slots = slots
        self._window = window
        self._horizon = window * 4  # the longest window a slowed-down limiter applies
        self._pid = os.getpid()

    @contextmanager
    def _locked(self, now: float | None = None) -> Iterator[_State]:
        """The file's state at `now` (default: the clock's), read under its lock and written back
        when the block ends."""
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            state = self._read(descriptor, self.clock() if now is None else now)
            yield state
            os.pwrite(descriptor, _HEADER.pack(_MAGIC, len(state.rows), state.paused)
                      + b"".join(_SLOT.pack(r.free_at, r.claimed_at, r.before, r.pid, r.in_flight)
                                 for r in state.rows), 0)
        finally:
            os.close(descriptor)

    def _read(self, descriptor: int, now: float) -> _State:
        data = os.pread(descriptor, _HEADER.size + _SLOT.size * self._slots, 0)
        try:
            magic, count, paused = _HEADER.unpack_from(data)
            if magic != _MAGIC:
                raise struct.error("not a ledger")
            if count > self._slots:
                data = os.pread(descriptor, _HEADER.size + _SLOT.size * count, 0)
            rows = [_Row(*_SLOT.unpack_from(data, _HEADER.size + i * _SLOT.size)) for i in range(count)]
        except struct.error:
            if data:
                log.warning("The rate-limit ledger %s was damaged; it starts afresh, every slot waiting one window",
                            self.path)
            rows, paused = [], 0.0 if not data else now + self._window
        return self._settle(rows, paused, now, fresh=not data)

    def _settle(self, rows: list[_Row], paused: float, now: float, *, fresh: bool) -> _State:
        """The state at `now`: missing slots added (free now if the ledger is new, else one
        window from now), slots of requests that cannot still be waiting taken back, times
        further ahead than a set-back clock explains brought in."""
        start = 0.0 if fresh else now + self._window
        rows.extend(_Row(start, 0.0, start, 0, False) for _ in range(self._slots - len(rows)))
        for row in rows:
            if row.in_flight and self._holder_gone(row, now):
                row.free_at, row.in_flight = self._taken_back(row, now), False
            elif row.free_at > now + self._horizon:
                row.free_at = now + self._horizon  # the clock was set back
        return _State(min(paused, now + _LONGEST_PAUSE), rows, now)

    def _holder_gone(self, row: _Row, now: float) -> bool:
        return now - row.claimed_at > STALE_AFTER or (row.pid != self._pid and not _alive(row.pid))

    def _taken_back(self, row: _Row, now: float) -> float:
        """When a slot taken back from a gone holder is free: its request arrived by now at the latest."""
        return now + self._window

    def claim(self, now: float, slots: int) -> tuple[int | None, float | None]:
        """See `SlotLedger.claim`."""
        with self._locked(now) as state:
            now = state.now
            rows = state.rows
            idle = [i for i in range(min(slots, len(rows))) if not rows[i].in_flight]
            if not idle:
                return None, None
            slot = min(idle, key=lambda i: rows[i].free_at)
            row = rows[slot]
            ready = max(row.free_at, state.paused)
            if ready > now:
                return None, ready
            row.before, row.free_at, row.claimed_at, row.pid, row.in_flight = row.free_at, now, now, self._pid, True
            return slot, None

    def stamp(self, slot: int, free_at: float) -> None:
        """See `SlotLedger.stamp`. A slot another holder has claimed since (this one stalled past
        its lease, or longer than `STALE_AFTER`, and the slot was taken back) is theirs: freeing it
        here would let a third request into the window of theirs."""
        with self._locked() as state:
            row = state.rows[slot]
            if row.pid == self._pid:
                row.free_at, row.in_flight = free_at, False

    def unclaim(self, slot: int) -> None:
        """See `SlotLedger.unclaim` (and `stamp`: a slot claimed by another holder since is theirs)."""
        with self._locked() as state:
            row = state.rows[slot]
            if row.pid == self._pid:
                row.free_at, row.in_flight = row.before, False

    def pause(self, until: float) -> None:
        """See `SlotLedger.pause`."""
        with self._locked() as state:
            state.paused = max(state.paused, until)


class DatabaseLedger(FileLedger):
    """Slots kept in the catalog's database (`rate_ledgers`), shared by every worker of a cluster.

    The same slots as `FileLedger`, timed by the database's clock (read in the same statement
    that locks the row; `clock` follows it on this machine's monotonic clock, never behind it, so
    a slot is never stamped free earlier than the database's time says), so the worker that takes a
    tenant over from another machine keeps to
    the limit its predecessor was spending. A slot is marked with the worker it was claimed by;
    one left in flight by a worker that died is taken back after `stale_after` seconds (the
    request timeout: its request cannot still be waiting). When the database cannot be reached
    a claim answers "try again in a second" and the other operations are skipped with a log
    line: the limit errs on the side of sending less, never more.
    """

    def __init__(self, catalog: Any, lock: threading.Lock, account: str, slots: int, *, window: float,
                 stale_after: float, holder: str = "") -> None:
        super().__init__(Path(account), slots, window=window)  # no file: `_locked` reads the database
        self._catalog = catalog
        self._lock = lock
        self._account = account
        self._stale_after = stale_after
        self._pid = holder_id(holder) if holder else self._pid
        self._live: Callable[[], set[str]] = lambda: set()
        self._live_ids: set[int] | None = None
        self._offset = 0.0  # the database's clock minus this machine's monotonic one (see _learn_offset)
        self._offset_at = time.monotonic()
        with lock:
            try:
                before = time.monotonic()
                self._offset = catalog.database_time() - before
            except catalog.errors:  # unknown yet: a minute ahead of this machine's clock errs on the safe side
                self._offset = time.time() - before + 60.0
        self.clock = lambda: time.monotonic() + self._offset

    @contextmanager
    def _locked(self, now: float | None = None) -> Iterator[_State]:
        with self._lock:
            before = time.monotonic()
            with self._catalog.locked_ledger(self._account) as stored:
                self._learn_offset(stored.now - before, before)
                self._live, self._live_ids = stored.live_holders, None
                yield from self._edit(stored)

    def _learn_offset(self, sample: float, at: float) -> None:
        """Keep the smallest `database time - monotonic time before the query` seen: never less
        than the true difference (the query ran after `before`), so times this clock stamps are
        never early by the database's; it may grow 1 ms a second (clock slew) between samples."""
        self._offset = min(self._offset + (at - self._offset_at) * 1e-3, sample)
        self._offset_at = at

    def _edit(self, stored: Any) -> Iterator[_State]:
        """The stored slots as a state at the database's time, written back when the caller is done."""
        try:
            document = json.loads(stored.slots) if stored.slots else None
            rows = [_Row(*row) for row in document["rows"]] if document else []
            paused = float(document["paused"]) if document else 0.0
        except (ValueError, TypeError, KeyError):
            log.warning("The shared rate-limit ledger of an account was damaged; it starts afresh")
            rows, paused, document = [], stored.now + self._window, {}
        state = self._settle(rows, paused, stored.now, fresh=document is None)
        yield state
        stored.slots = json.dumps({"paused": state.paused, "rows": [
            [r.free_at, r.claimed_at, r.before, r.pid, r.in_flight] for r in state.rows]})

    def _holder_gone(self, row: _Row, now: float) -> bool:
        """A slot's holder is gone when its request cannot still be waiting (`stale_after`), or when
        the worker that claimed it holds no tenant lease any more: a worker with a request in flight
        holds its tenant's lease, so one holding none died or stalled past its lease, and sends
        nothing more (its send gate). Its slot is then free a window after its claim (plus a margin
        for the request's way to the vendor), so the worker taking the tenant over waits no longer
        than the vendor counts it, not the whole request timeout."""
        if now - row.claimed_at > self._stale_after:
            return True
        if row.pid == self._pid or now - row.claimed_at < _LIVENESS_AFTER:
            return False
        if self._live_ids is None:
            self._live_ids = {holder_id(worker) for worker in self._live()}
        return row.pid not in self._live_ids

    def _taken_back(self, row: _Row, now: float) -> float:
        """See `FileLedger._taken_back`: a dead holder's request arrived shortly after its claim."""
        if now - row.claimed_at > self._stale_after:
            return now + self._window
        return max(now, row.claimed_at + self._window + _ARRIVAL_MARGIN)

    def claim(self, now: float, slots: int) -> tuple[int | None, float | None]:
        """See `SlotLedger.claim`; a database that cannot be reached means: try again in a second."""
        try:
            return super().claim(now, slots)
        except self._catalog.errors as exc:
            log.warning("The shared rate-limit ledger cannot be read (%s); trying again", type(exc).__name__)
            self._catalog.reconnect_quietly(exc)
            return None, now + 1.0

    def stamp(self, slot: int, free_at: float) -> None:
        """See `SlotLedger.stamp` (`free_at` by `clock`, which is never behind the database's)."""
        self._quietly(super().stamp, slot, free_at)

    def unclaim(self, slot: int) -> None:
        """See `SlotLedger.unclaim`."""
        self._quietly(super().unclaim, slot)

    def pause(self, until: float) -> None:
        """See `SlotLedger.pause`."""
        self._quietly(super().pause, until)

    def _quietly(self, operation: Callable[..., None], *args: float) -> None:
        try:
            operation(*args)
        except self._catalog.errors as exc:  # the slot is taken back as stale later: less is sent, never more
            log.warning("The shared rate-limit ledger cannot be written (%s)", type(exc).__name__)
            self._catalog.reconnect_quietly(exc)


_shared_ledgers: Callable[[str, int, float], SlotLedger] | None = None


def share_ledgers(factory: Callable[[str, int, float], SlotLedger] | None) -> None:
    """Keep every named account's slots where `factory(account, slots, window)` says (a cluster
    worker: the database), instead of `limits_dir()`; None goes back to the files."""
    global _shared_ledgers
    _shared_ledgers = factory


def limits_dir() -> Path:
    """The machine-wide directory of rate-limit ledgers (`COLLECTOR_LIMITS_DIR` to choose another)."""
    chosen = os.environ.get("COLLECTOR_LIMITS_DIR")
    return Path(chosen) if chosen else Path("/var/tmp") / f"recording-collector-{os.getuid()}" / "limits"


def account_key(*parts: str) -> str:
    """A name for a vendor account made from what identifies it (plugin, base URL, credentials):
    a SHA-256, so the name never reveals a credential."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


def open_ledger(account: str | None, slots: int, *, window: float) -> SlotLedger:
    """The ledger of `account`'s slots: shared through `limits_dir()` when an account is named and
    the directory can be used, else this process's own (with a warning saying why)."""
    if account is None:
        return MemoryLedger(slots)
    if _shared_ledgers is not None:
        return _shared_ledgers(account, slots, window)
    directory = limits_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ledger = FileLedger(directory / f"{account}.slots", slots, window=window)
        with ledger._locked():
            pass
    except OSError as exc:
        log.warning("Rate limits cannot be shared with other processes (%s: %s); this process keeps its own",
                    directory, exc.strerror or type(exc).__name__)
        return MemoryLedger(slots)
    return ledger
