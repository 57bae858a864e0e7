"""The tenant's rolling egress budget (`egress_budget`: bytes per so many days), kept by its download
workers together: each reserves a download's announced size before it starts (see `_downloads`,
`_batches`), so concurrent workers cannot overshoot the budget; the catalog's `egress` table then
holds what was really transferred."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from collector._base._model import Recording
from collector._base._time import iso, now_utc

from ._context import BudgetExhausted, JobContext


class EgressBudget:
    """The tenant's rolling egress budget, shared by its download workers."""

    def __init__(self, job: JobContext) -> None:
        self._job = job
        self._reserved = 0  # announced bytes of downloads in progress
        self._lock = asyncio.Lock()

    async def reserve(self, recording: Recording) -> int:
        """Reserve the download's announced size; raise DownloadsStopped if it would exceed the budget."""
        job = self._job
        budget = job.settings.egress_budget
        if budget is None:
            return 0
        size = recording.media_size or 0
        async with self._lock:
            since = now_utc() - timedelta(days=budget.days)
            used = await job.store.call(job.store.catalog.egress_since, job.settings.plugin, job.settings.tenant,
                                        since)
            if used + self._reserved + size >= budget.bytes:
                oldest = await job.store.call(job.store.catalog.oldest_egress_since, job.settings.plugin,
                                              job.settings.tenant, since)
                resume = oldest + timedelta(days=budget.days) if oldest else None
                raise BudgetExhausted(
                    f"The egress budget is used up: {used:,} of {budget.bytes:,} bytes in the last "
                    f"{budget.days:g} days; the remaining audio waits for a later run"
                    + (f" (from {iso(resume, 'seconds')} at the earliest)." if resume else "."), resume)
            self._reserved += size
        return size

    def settle(self, reserved: int) -> None:
        """The download ended: drop its reservation (the catalog now counts what it cost)."""
        self._reserved -= reserved
