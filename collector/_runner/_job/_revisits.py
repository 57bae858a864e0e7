"""The revisit task: parents whose children the vendor attaches later, visited until they settle.

A source whose `parse` returns a `Revisit` for a parent (a conversation listed before its
recordings exist) gets this task beside its listing. The listing page commits at once, the
parent with it (`revisits` table, see `collector._storage._catalog._revisits`); this task then visits each
pending parent once it is due (at once when it is listed, or from the `not_before` the plugin gave,
then `revisit_interval` after each visit), through `Source.children` and so within the tenant's
rate limits. What a visit
found is mapped by `parse` (bad items quarantined) and committed in one transaction with the
parent's new state: settled when the plugin says it is complete, due again later when not,
expired when it is still incomplete at a visit at or after its deadline. A run killed between a
visit and its commit leaves the parent due, and the next run visits it again.

While the listing goes on, the task waits for parents to fall due (or for a page that names new
ones), and a parent falls due again every `revisit_interval` (a long listing visits it several
times; not with an interval of 0). Once the listing has ended, it visits those due then that this
run has not visited yet, and ends: a run never waits for a vendor to attach children, and a
parent not yet due is visited by a later run. Only then is the
job's `metadata_done` set, so the download and transcript tasks take in the children found.

What a failed visit means is decided by the error's class, as for any item (`outcome_of`):
`ItemNotReady` is a visit that found nothing yet; `ItemUnavailable` (or a 403) ends the parent
as `unavailable`; credentials refused stop the tenant; our own disk failing stops the run's
downloads; anything else is recorded with the parent and it is visited again on a later run (past
its deadline, `max_attempts` failures in a row expire it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from collector._base._errors import ItemNotReady
from collector._base._redact import redact
from collector._base._revisit import Children
from collector._base._time import now_utc
from collector._storage._catalog import DueParent, Visited

from ._context import JobContext
from ._metadata import Parsed, committed, parse_items
from ._outcome import Outcome, outcome_of

_MOST_AT_ONCE = 4
"""Visits in flight at once at most (the tenant's `max_in_flight` bounds them too)."""


@dataclass
class _Tally:
    """What this run's visits did, for the run summary."""

    visited: int = 0
    settled: int = 0
    expired: int = 0
    unavailable: int = 0
    failed: int = 0
    children: int = 0

    def note(self) -> str | None:
        """One sentence for the summary, or None when no parent was visited."""
        if not self.visited:
            return None
        parts = [f"{self.settled} settled"]
        parts += [f"{n} {what}" for n, what in ((self.expired, "expired at their deadline with children still to "
                                                 "come (see `collector status`)"),
                                                (self.unavailable, "no longer at the vendor"),
                                                (self.failed, "failed and wait for a later run")) if n]
        return (f"Revisits: {self.visited} parent{'s' if self.visited != 1 else ''} visited, {', '.join(parts)}; "
                f"{self.children} new recording{'s' if self.children != 1 else ''} found through them.")


async def run_revisits(job: JobContext) -> None:
    """Visit the tenant's due parents beside the listing; end once the listing has ended and none is due."""
    tally = _Tally()
    settings, catalog = job.settings, job.store.catalog
    limit = min(_MOST_AT_ONCE, settings.max_in_flight or type(job.source).default_max_in_flight)
    at_once = asyncio.Semaphore(limit)
    try:
        while job.store.failure is None:
            listing_over = job.listing_done.is_set()
            again = not listing_over and job.plan.revisit_interval > timedelta(0)
            job.parents_added.clear()
            due = await job.store.call(catalog.claim_revisits, settings.plugin, settings.tenant, job.run_id,
                                       job.claim_size(limit), again=again)
            if due:
                await asyncio.gather(*(_visit(job, parent, at_once, tally) for parent in due))
                continue
            if listing_over:
                break
            await _wait_for_more(job, again)
    finally:
        if (note := tally.note()) is not None:
            job.summary.notes.append(note)
        job.metadata_done.set()
        job.work_added.set()


async def _wait_for_more(job: JobContext, again: bool) -> None:
    """Until the listing ends, a page names new parents, or the next pending parent falls due."""
    settings = job.settings
    due = await job.store.call(job.store.catalog.next_revisit_due, settings.plugin, settings.tenant, job.run_id,
                               again=again)
    timeout = None if due is None else max(0.0, (due - now_utc()).total_seconds())
    waits = [asyncio.ensure_future(job.listing_done.wait()), asyncio.ensure_future(job.parents_added.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


async def _visit(job: JobContext, parent: DueParent, at_once: asyncio.Semaphore, tally: _Tally) -> None:
    settings, store = job.settings, job.store
    item_id = parent.revisit.item_id
    async with at_once:
        if job.store.failure is not None:
            return
        try:
            found = await job.source.children(parent.revisit)
            if not isinstance(found, Children):
                raise TypeError(f"Source.children returned {type(found).__name__}, not Children")
        except asyncio.CancelledError:
            raise
        except ItemNotReady:
            found = Children()  # nothing yet: a visit like any other (it may be the one past the deadline)
        except Exception as exc:  # noqa: BLE001 - the outcome is decided by the error's class
            await _failed(job, parent, exc, tally)
            return
    parsed = parse_items(job.source, settings.plugin, settings.tenant, found.items)
    parsed = Parsed(parsed.recordings, [r for r in parsed.revisits if r.item_id != item_id or not found.complete],
                    parsed.rejects)
    counts = await store.call(store.catalog.commit_page, settings.plugin, settings.tenant, parsed.recordings,
                              parsed.rejects, None, job.plan, None, parsed.revisits,
                              Visited(item_id, found.complete))
    committed(job, parsed, counts)
    tally.visited += 1
    tally.children += counts.new
    if counts.revisits:
        job.parents_added.set()
    if counts.visited == "settled":
        tally.settled += 1
    elif counts.visited == "expired":
        tally.expired += 1
        job.log.warning("The %s parent %r expired: its deadline passed with children still to come.",
                        job.summary.label, item_id, extra={"event": "revisit_expired", "item": item_id})


async def _failed(job: JobContext, parent: DueParent, exc: BaseException, tally: _Tally) -> None:
    """Decide what a failed visit means (see the module docstring) and record it."""
    verdict = outcome_of(exc)
    error, settings, store = verdict.error, job.settings, job.store
    item_id, reason = parent.revisit.item_id, redact(verdict.error.reason)
    if verdict.unexpected:
        job.log.error("Unexpected error visiting the %s parent %r: %s", job.summary.label, item_id, reason,
                      exc_info=exc)
    match verdict.outcome:
        case Outcome.STOP_RUN:
            raise error
        case Outcome.STORE_FAILED:
            job.store_failed(error)
            return
        case Outcome.STOP_TENANT:
            job.halt(error)
            return
        case Outcome.UNAVAILABLE:
            tally.visited += 1
            tally.unavailable += 1
            await store.call(store.catalog.revisit_unavailable, settings.plugin, settings.tenant, item_id, reason)
            return
    tally.visited += 1
    status = await store.call(store.catalog.revisit_failed, settings.plugin, settings.tenant, item_id, reason,
                              job.plan.revisit_interval, settings.max_attempts)
    if status == "expired":
        tally.expired += 1
    else:
        tally.failed += 1
    job.log.warning("Could not visit the %s parent %r: %s", job.summary.label, item_id, reason)
