"""What the tasks of one tenant's job share: the source, the store, the summary, and the signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .._catalog import WorkPlan
from .._errors import CollectorError, DownloadsStopped
from .._machine import Machine
from .._plugins import Plugins
from .._source import Source, SourceSettings
from .._store import Store
from .._summary import TenantSummary


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
    metadata_done: asyncio.Event = field(default_factory=asyncio.Event)
    work_added: asyncio.Event = field(default_factory=asyncio.Event)
    downloads_stopped: str | None = None
    downloads_resume_at: datetime | None = None

    @property
    def may_fetch(self) -> bool:
        """False once this tenant's downloads stopped or the store failed (for every tenant)."""
        return self.downloads_stopped is None and self.store.failure is None

    def store_failed(self, error: CollectorError) -> None:
        """Our own disk failed: stop fetching (the failure is the run's, not any item's)."""
        if self.downloads_stopped is None:
            self.downloads_stopped = error.reason
            self.summary.problem(error.reason)
            self.log.error("%s", error.reason)

    def stop_downloads(self, error: DownloadsStopped) -> None:
        """Stop this tenant's downloads for the run (metadata and transcripts go on)."""
        if self.downloads_stopped is None:
            self.downloads_stopped = error.reason
            self.downloads_resume_at = error.resume_at
            self.summary.problem(f"Downloads stopped: {error.reason}")
            self.log.warning("Downloads for %s stopped: %s", self.summary.label, error.reason)
