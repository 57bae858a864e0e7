"""What the tasks of one tenant's job share: the source, the store, the summary, and the signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from collector._base._errors import CollectorError, DownloadsStopped
from collector._sources._source import Source, SourceSettings
from collector._storage._catalog import WorkPlan
from collector._storage._store import Store

from .._machine import Machine
from .._plugins import Plugins
from .._summary import TenantSummary

_MOST_CLAIMED = 32


class BudgetExhausted(DownloadsStopped):
    """The egress budget cannot hold the next download: no new download starts, but those already
    admitted within the budget (a batch reserved whole, see `_batches`) go on."""


@dataclass
class JobContext:
    """One tenant's job as its metadata, download and transcript tasks see it."""

    settings: SourceSettings
    source: Source
    store: Store
    plugins: Plugins
    run_id: int
    summary: TenantSummary
    log: logging.LoggerAdapter[logging.Logger]
    halt: Callable[[CollectorError], None]
    """Stop every task of this tenant (credentials refused)."""
    plan: WorkPlan
    machine: Machine
    """The pass's budget of this machine (connections, file and verification pools)."""
    revisits: bool = False
    """The source visits parents whose children come later (`Source.children`): a revisit task
    runs beside the listing, and `metadata_done` waits for it too."""
    metadata_done: asyncio.Event = field(default_factory=asyncio.Event)
    """No more recordings come in this run: the listing has ended (and the revisit task, if any)."""
    listing_done: asyncio.Event = field(default_factory=asyncio.Event)
    """The listing (`Source.sync`) has ended, whether complete or not."""
    parents_added: asyncio.Event = field(default_factory=asyncio.Event)
    """A committed page named parents whose children are still to come (the revisit task wakes)."""
    listing_complete: bool = False
    """Set when this run's listing (`Source.sync`) ran to its end without an error."""
    work_added: asyncio.Event = field(default_factory=asyncio.Event)
    downloads_stopped: str | None = None
    downloads_resume_at: datetime | None = None
    downloads_halted: bool = False
    """Downloads stopped for a reason other than the egress budget: even admitted ones end."""
    rate_bound: Callable[[], bool] = lambda: False
    """Whether the tenant is held by its rate limit now (a request waits for a slot)."""

    def claim_size(self, at_least: int) -> int:
        """How many due items a task claims from the catalog at once: one rate-limit window's worth
        (at most 32, at least `at_least`), so a tenant waiting on a slow limit holds a few claimed
        items in memory, not dozens, and a fast one does not ask the catalog for every item."""
        limit = self.settings.rate_limit or type(self.source).default_rate_limit
        return max(at_least, min(_MOST_CLAIMED, limit.requests))

    @property
    def may_fetch(self) -> bool:
        """False once this tenant's downloads stopped or the store failed (for every tenant)."""
        return self.downloads_stopped is None and self.store.failure is None

    @property
    def may_finish_admitted(self) -> bool:
        """Whether downloads admitted within the egress budget may go on: unless the store failed or
        downloads stopped for another reason than the budget."""
        return not self.downloads_halted and self.store.failure is None

    def store_failed(self, error: CollectorError) -> None:
        """Our own disk failed: stop fetching (the failure is the run's, not any item's)."""
        self.downloads_halted = True
        if self.downloads_stopped is None:
            self.downloads_stopped = error.reason
            self.summary.problem(error.reason)
            self.log.error("%s", error.reason)

    def stop_downloads(self, error: DownloadsStopped) -> None:
        """Stop this tenant's downloads for the run (metadata and transcripts go on)."""
        if not isinstance(error, BudgetExhausted):
            self.downloads_halted = True
        if self.downloads_stopped is None:
            self.downloads_stopped = error.reason
            self.downloads_resume_at = error.resume_at
            self.summary.problem(f"Downloads stopped: {error.reason}")
            self.log.warning("Downloads for %s stopped: %s", self.summary.label, error.reason)
