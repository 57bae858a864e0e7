"""Keeping stored objects' locks in step with the vendor's retention and legal holds.

A listing that changes a recording's `retain_until` or `legal_hold` after its audio was stored
marks that audio (`retention_due`, in the page's transaction). After the tenant's tasks, this step
brings each such object's S3 Object Lock along: a legal hold set or lifted, a retention extended
to the later of the vendor's new date and the source's `object_lock_days` from now (compliance
mode cannot shorten one; the longer stays). Each change is chained as a `lock` event. Sources
without Object Lock have no lock to change: their marks are just cleared (the catalog's
retention keeps every command from deleting or overwriting the files). A change S3 refuses stays
marked, is tried again next run, and the tenant's summary says why.
"""

from __future__ import annotations

from datetime import datetime

from collector._base._model import RecordingKey
from collector._storage._objects import retention_for

from ._context import JobContext


async def apply_retention_changes(job: JobContext) -> None:
    """Apply the tenant's pending retention changes to their objects (see the module docstring)."""
    store, settings = job.store, job.settings
    catalog = store.catalog
    while due := await store.call(catalog.retention_due, settings.plugin, settings.tenant):
        done: list[tuple[RecordingKey, str, str | None, bool]] = []
        for key, path, until, hold in due:
            lock = retention_for(settings.object_lock_days,
                                 datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None, hold)
            if lock is None:
                done.append((key, path, None, hold))
                continue
            problem = await store.call(store.objects.apply_retention, path, lock)
            if problem is not None:
                job.summary.problem(f"The lock of {path} could not follow the vendor's retention ({problem}); it is "
                                    "tried again next run.")
                continue
            done.append((key, path, lock.until, hold))
        await store.call(catalog.retention_applied, done)
        if len(done) < len(due):
            return  # what S3 refused waits for the next run
