"""The one place where an exception becomes an outcome for a work item, and the outcome is recorded.

Every task (downloads, transcripts) hands whatever went wrong with an item to `settle_item`,
which asks `outcome_of` what it means (by the error's class, see `collector._base._errors`) and records
it in the catalog, the summary and the log:

    BadStatus / NoAnswer        classified (`classify_request_failure`), then as below
    ItemDeferred, other errors  DEFERRED        retried next run; an attempt counted
    ItemNotReady                WAITING         asked again next run (not before the vendor's
                                                estimate, if it gave one); no attempt counted
    ItemUnavailable             UNAVAILABLE     final
    ItemRejected                QUARANTINED     kept with the reason
    DownloadsStopped            STOP_DOWNLOADS  this tenant's downloads stop for the run
    RoutePaused                 ROUTE_PAUSED    the vendor's quota closed the item's route: the item
                                                is left as it was (no attempt, no write) for a
                                                later run; the summary names the pause
    AuthenticationError, TenantError  STOP_TENANT  every task of the tenant stops
    StoreFailure                STORE_FAILED    our own disk failed: downloads stop everywhere,
                                                nothing counts against the item
    RunError                    STOP_RUN        re-raised: the run cannot go on
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from collector._base._errors import (
    CollectorError,
    DownloadsStopped,
    ItemDeferred,
    ItemError,
    ItemNotReady,
    ItemRejected,
    ItemUnavailable,
    RequestFailed,
    RoutePaused,
    RunError,
    StoreFailure,
    TenantError,
    classify_request_failure,
)
from collector._base._model import Recording
from collector._base._redact import redact
from collector._storage._catalog import AUDIO, WorkKind

from ._context import JobContext


class Outcome(enum.Enum):
    """What happens to a work item (or its tenant) after an error."""

    DEFERRED = "deferred"
    WAITING = "waiting"
    UNAVAILABLE = "unavailable"
    QUARANTINED = "quarantined"
    STOP_DOWNLOADS = "stop_downloads"
    ROUTE_PAUSED = "route_paused"
    STOP_TENANT = "stop_tenant"
    STORE_FAILED = "store_failed"
    STOP_RUN = "stop_run"


@dataclass(frozen=True)
class Verdict:
    """An outcome and the taxonomy error that explains it; `unexpected` marks a bug's exception."""

    outcome: Outcome
    error: CollectorError
    unexpected: bool = False


_BY_CLASS: list[tuple[type[CollectorError], Outcome]] = [
    (StoreFailure, Outcome.STORE_FAILED),
    (RunError, Outcome.STOP_RUN),
    (DownloadsStopped, Outcome.STOP_DOWNLOADS),
    (RoutePaused, Outcome.ROUTE_PAUSED),
    (TenantError, Outcome.STOP_TENANT),
    (ItemNotReady, Outcome.WAITING),
    (ItemUnavailable, Outcome.UNAVAILABLE),
    (ItemRejected, Outcome.QUARANTINED),
    (ItemError, Outcome.DEFERRED),
]


def outcome_of(exc: BaseException) -> Verdict:
    """What `exc`, raised while fetching one work item, means for that item and its tenant."""
    if isinstance(exc, RequestFailed):
        exc = classify_request_failure(exc, item=True)
    if isinstance(exc, CollectorError):
        for cls, outcome in _BY_CLASS:
            if isinstance(exc, cls):
                return Verdict(outcome, exc)
        return Verdict(Outcome.DEFERRED, ItemDeferred(exc.reason))
    return Verdict(Outcome.DEFERRED, ItemDeferred(describe_error(exc, "The item could not be fetched")),
                   unexpected=True)


async def settle_item(job: JobContext, kind: WorkKind, recording: Recording, exc: BaseException) -> None:
    """Record in the catalog, the summary and the log what `exc` means for one work item."""
    verdict = outcome_of(exc)
    error, key = verdict.error, recording.key
    reason = redact(error.reason)
    catalog, summary = job.store.catalog, job.summary
    if verdict.unexpected:
        job.log.error("Unexpected error fetching %s of %s: %s", kind.name, key, reason, exc_info=exc)
    match verdict.outcome:
        case Outcome.STOP_RUN:
            raise error
        case Outcome.STORE_FAILED:
            job.store_failed(error)
        case Outcome.STOP_TENANT:
            job.halt(error)
        case Outcome.STOP_DOWNLOADS:
            assert isinstance(error, DownloadsStopped)
            job.stop_downloads(error)
        case Outcome.ROUTE_PAUSED:
            pass  # untouched: no attempt spent; the pause is in the catalog and the run summary
        case Outcome.WAITING:
            wait = job.plan.media_wait if kind is AUDIO else job.plan.transcript_wait
            ready_at = error.ready_at if isinstance(error, ItemNotReady) else None
            await job.store.call(catalog.waiting, kind, key, reason, wait, ready_at)
        case Outcome.UNAVAILABLE:
            summary.unavailable += 1
            await job.store.call(catalog.unavailable, kind, key, reason)
        case Outcome.QUARANTINED:
            summary.quarantined += 1
            assert isinstance(error, ItemRejected)
            kept: Any = getattr(error, "kept_at", None)
            await job.store.call(catalog.quarantined, kind, key, reason, payload=error.payload,
                                 max_attempts=job.settings.max_attempts, path=kept, size=getattr(error, "size", 0),
                                 sha256=getattr(error, "sha256", None))
            job.log.warning("Quarantined %s of %s: %s", kind.name, key, reason)
        case Outcome.DEFERRED:
            if await job.store.call(catalog.deferred, kind, key, reason, job.settings.max_attempts):
                summary.failed += 1
            job.log.warning("Could not fetch %s of %s: %s", kind.name, key, reason)


def describe_error(exc: BaseException, lead: str = "The item does not map to a recording") -> str:
    """A sentence for a mapping or validation failure, never including the offending input."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in error['loc']) or 'item'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:5]
        ]
        return f"{lead}: " + "; ".join(parts) + "."
    if isinstance(exc, CollectorError):
        return exc.reason
    if isinstance(exc, KeyError) and exc.args:
        return f"{lead}: it has no {exc.args[0]!r} field."
    text = str(exc) or "no detail"
    return f"{lead}: {type(exc).__name__}: {text}."
