"""What workers on several machines share through the catalog: tenant leases, rate-limit ledgers, passes.

- `tenant_leases`: one row per tenant that a worker has run. Taking a lease bumps its `epoch`
  and is only possible once the previous holder released it or let it expire; the holder renews
  it while it works, and every transaction that writes the tenant's rows checks the epoch first
  (`ClusterCatalog.fences`, a fencing token), so a worker that was stalled past its lease cannot
  write after the hand-over (`LeaseLost`). Times are the database's own clock (`Dialect.clock`), never a worker's.
- `rate_ledgers`: a tenant's rate-limit slots (see `collector._http._ledger.DatabaseLedger`), so the
  worker that takes a tenant over keeps to the limit its predecessor was spending.
- `cluster_passes`: every pass `collector enqueue` started, by name, so enqueueing the same
  pass twice (a retried CronJob) starts nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collector._base._errors import RunError
from collector._base._time import iso, now_utc

from ._db import Database
from ._postgres import PostgresTarget


class LeaseLost(RunError):
    """This worker's lease on a tenant was handed to another worker, or lapsed while the database
    could not be reached to renew it: nothing more of that tenant may be written or asked of its
    vendor by this worker. `cause` says which, in words."""

    def __init__(self, source: str, tenant: str, cause: str | None = None) -> None:
        why = cause or "passed to another worker"
        super().__init__(f"The lease on {source}/{tenant} {why}; this worker stopped the tenant, which resumes from "
                         "what it committed wherever it runs next.")
        self.tenant = (source, tenant)


@dataclass
class LedgerRow:
    """A rate-limit ledger as stored ("" when new) and the database's time when it was read;
    `live_holders()` names the workers holding an unexpired tenant lease now (asked only when needed)."""

    slots: str
    now: float
    live_holders: Callable[[], set[str]] = lambda: set()


class ClusterCatalog(Database):
    """Leases (and the fenced writes they guard), shared rate-limit ledgers and enqueued passes."""

    def __init__(self, target: Path | PostgresTarget, *, read_only: bool = False) -> None:
        self.fences: dict[tuple[str, str], int] = {}
        """(source, tenant) -> the lease epoch this process holds: every transaction that writes
        that tenant's rows first checks the epoch is still the lease's (a fencing token)."""
        super().__init__(target, read_only=read_only)

    def _before_writes(self, tenants: Sequence[tuple[str, str]]) -> None:
        """Raise `LeaseLost` if a lease held for one of `tenants` has a newer epoch. The row stays
        locked (shared) until the transaction ends, so a hand-over waits for this commit."""
        super()._before_writes(tenants)
        if not self.fences:
            return
        for source, tenant in dict.fromkeys(tenants):
            epoch = self.fences.get((source, tenant))
            if epoch is None:
                continue
            row = self._db.execute("SELECT epoch FROM tenant_leases WHERE source=? AND tenant=?"
                                   + self.dialect.for_share,
                                   (source, tenant)).fetchone()
            if row is None or int(row[0]) != epoch:
                raise LeaseLost(source, tenant)

    def database_time(self) -> float:
        """The database's clock, in Unix seconds."""
        return float(self._db.execute(f"SELECT {self.dialect.clock}").fetchone()[0])

    def take_lease(self, source: str, tenant: str, worker: str, seconds: float) -> tuple[int | None, float]:
        """Take the tenant's lease for `seconds` if nobody holds it (released or expired).

        Returns (the new epoch, or None if another worker holds it; seconds until it expires)."""
        clock = self.dialect.clock
        with self._transaction() as db:
            db.execute("INSERT INTO tenant_leases (source, tenant, epoch, worker, expires) VALUES (?,?,0,NULL,0) "
                       "ON CONFLICT (source, tenant) DO NOTHING", (source, tenant))
            row = db.execute(
                f"UPDATE tenant_leases SET epoch=epoch+1, worker=?, expires={clock}+? WHERE source=? AND tenant=? "
                f"AND (worker IS NULL OR expires<{clock}) RETURNING epoch",
                (worker, seconds, source, tenant)).fetchone()
            if row is not None:
                return int(row[0]), seconds
            left = db.execute(f"SELECT expires-{clock} FROM tenant_leases WHERE source=? AND tenant=?",
                              (source, tenant)).fetchone()
            return None, max(0.0, float(left[0]))

    def renew_lease(self, source: str, tenant: str, epoch: int, seconds: float) -> bool:
        """Extend the lease by `seconds` from now if it is still this epoch's and has not expired."""
        clock = self.dialect.clock
        with self._transaction() as db:
            row = db.execute(
                f"UPDATE tenant_leases SET expires={clock}+? WHERE source=? AND tenant=? AND epoch=? "
                f"AND worker IS NOT NULL AND expires>={clock} RETURNING epoch",
                (seconds, source, tenant, epoch)).fetchone()
            return row is not None

    def release_lease(self, source: str, tenant: str, epoch: int) -> None:
        """Give the lease back at once (another worker may take the tenant without waiting)."""
        with self._transaction() as db:
            db.execute("UPDATE tenant_leases SET worker=NULL, expires=0 WHERE source=? AND tenant=? AND epoch=?",
                       (source, tenant, epoch))

    @contextmanager
    def locked_ledger(self, account: str) -> Iterator[LedgerRow]:
        """An account's rate-limit slots and the database's time, locked until the block ends;
        what the block leaves in `slots` is written back in the same transaction."""
        select = (f"SELECT slots, {self.dialect.clock} FROM rate_ledgers WHERE account=?"
                  + self.dialect.for_update)
        with self._transaction() as db:
            found = db.execute(select, (account,)).fetchone()  # one round trip fewer than inserting first
            if found is None:
                db.execute("INSERT INTO rate_ledgers (account, slots) VALUES (?, '') ON CONFLICT (account) DO NOTHING",
                           (account,))
                found = db.execute(select, (account,)).fetchone()
            slots, now = found

            def live_holders() -> set[str]:
                return {worker for (worker,) in db.execute(
                    f"SELECT DISTINCT worker FROM tenant_leases WHERE expires>{self.dialect.clock} "
                    "AND worker IS NOT NULL").fetchall()}

            row = LedgerRow(str(slots), float(now), live_holders)
            yield row
            if row.slots != slots:
                db.execute("UPDATE rate_ledgers SET slots=? WHERE account=?", (row.slots, account))

    def install_once(self, table: str, script: str) -> bool:
        """Run `script` (another tool's schema, such as the task queue's) unless `table` exists;
        workers starting together run it once (an advisory lock). PostgreSQL only. True if run."""
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (table,))
            if db.execute("SELECT to_regclass(?)", (table,)).fetchone()[0] is not None:
                return False
            db.execute_script(script)
            return True

    def record_pass(self, name: str, tenants: int) -> bool:
        """Remember that the pass `name` was enqueued; False if it was already."""
        with self._transaction() as db:
            row = db.execute("INSERT INTO cluster_passes VALUES (?,?,?) ON CONFLICT (name) DO NOTHING RETURNING name",
                             (name, iso(now_utc()), tenants)).fetchone()
            return row is not None
