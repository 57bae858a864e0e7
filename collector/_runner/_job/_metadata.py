"""The metadata task: pages from `Source.sync`, mapped by `Source.parse`, committed with their state.

`sync` is consumed one page ahead: while page n is mapped and committed, page n+1 is being
fetched (mapping page n+1 while page n commits was measured slower: the two threads fight over
the GIL). Each page's state is copied as JSON the moment the page is yielded, so a source that
keeps changing its own dict cannot change a state already handed over. Items that do not map are
quarantined with the reason, whatever the listing shape: an item that is not a JSON object (a
string, a number, null, a list where the vendor's list held objects) never reaches `parse`, and
an item `parse` raises on is quarantined with what it raised; the page's other items and its state
are committed all the same, and the listing goes on.
Parents whose children are still to come (`Revisit`s from `parse`) are recorded in the page's own
transaction and visited by the revisit task (`_revisits`), so the page never waits for them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector._base._dates import value_shape
from collector._base._errors import AuthenticationError, RequestFailed, TenantError, classify_request_failure
from collector._base._model import Recording
from collector._base._redact import redact
from collector._base._revisit import Revisit
from collector._sources._source import Page, Source, implements
from collector._storage._catalog import PageCounts, Rejected

from .._hookspecs import StoredEvent
from ._context import JobContext
from ._outcome import describe_error


async def run_metadata(job: JobContext) -> None:
    """Sync the tenant's metadata to the end (or until the vendor or a tenant error stops it)."""
    try:
        state = await job.store.call(job.store.catalog.load_state, job.settings.plugin, job.settings.tenant)
        async for page in _prefetch(_snapshots(job.source.sync(state))):
            await _commit(job, page)
        job.listing_complete = True
    except AuthenticationError as exc:
        job.halt(exc)
    except RequestFailed as exc:
        error = classify_request_failure(exc, item=False)
        if isinstance(error, AuthenticationError):
            job.halt(error)
        else:
            job.summary.problem(f"Metadata collection stopped: {error.reason}")
    except TenantError as exc:
        job.summary.problem(f"Metadata collection stopped: {exc.reason}")
    finally:
        job.listing_done.set()
        if not job.revisits:  # otherwise the revisit task says when no more recordings come
            job.metadata_done.set()
        job.work_added.set()


async def _snapshots(pages: AsyncIterator[Page]) -> AsyncIterator[Page]:
    """Each page with its state copied (as JSON) at the moment it was yielded."""
    async for page in pages:
        if page.state is not None:
            try:
                state = json.loads(json.dumps(page.state))
            except (TypeError, ValueError) as exc:
                raise TenantError(f"The plugin yielded a sync state that is not plain JSON ({exc}); "
                                  "nothing after the last committed page was kept.") from None
            page = Page(page.items, state, page.listing)
        yield page


async def _commit(job: JobContext, page: Page) -> None:
    settings = job.settings
    parsed = parse_items(job.source, settings.plugin, settings.tenant, page.items)
    counts = await job.store.call(job.store.catalog.commit_page, settings.plugin, settings.tenant, parsed.recordings,
                                  parsed.rejects, page.state, job.plan, page.listing, parsed.revisits)
    committed(job, parsed, counts)
    if parsed.revisits:
        job.parents_added.set()


@dataclass
class Parsed:
    """A page's items as `Source.parse` mapped them: recordings, parents whose children are still to
    come, and the items quarantined with the reason."""

    recordings: list[Recording] = field(default_factory=list)
    revisits: list[Revisit] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)


def committed(job: JobContext, parsed: Parsed, counts: PageCounts) -> None:
    """Count what a committed page (or visit) changed, wake the work tasks, tell the plugins."""
    summary = job.summary
    summary.new_recordings += counts.new
    summary.updated_recordings += counts.updated
    summary.quarantined += counts.quarantined
    for reject in parsed.rejects:
        job.log.warning("Quarantined a %s item: %s", summary.label, reject.reason)
    if counts.new or counts.updated:
        job.work_added.set()
    if counts.new and job.plugins.wants_stored_events:
        for recording in parsed.recordings:
            if recording.vendor_id in counts.new_ids:
                job.plugins.recording_stored(StoredEvent("metadata", recording))


def parse_items(source: Source, plugin: str, tenant: str, items: Iterable[Mapping[str, Any]]) -> Parsed:
    """Map every item with `source.parse`; an item that does not map (or maps wrongly) is rejected
    with the reason, whatever else its page holds."""
    parsed = Parsed()
    revisits = implements(source, "children")
    for item in items:
        if not isinstance(item, Mapping):
            parsed.rejects.append(Rejected(
                None, f"The vendor listed an item that is not a JSON object ({value_shape(item)}).", item))
            continue
        try:
            results = list(source.parse(item))
            recordings = [r for r in results if isinstance(r, Recording)]
            parents = [r for r in results if isinstance(r, Revisit)]
            if len(recordings) + len(parents) != len(results):
                raise TypeError("parse returned something that is neither a Recording nor a Revisit")
            for recording in recordings:
                if recording.source != plugin or recording.tenant != tenant:
                    raise ValueError(f"the plugin labelled a recording {recording.source}/{recording.tenant}")
            if parents and not revisits:
                raise TypeError("parse returned a Revisit, but the plugin does not implement Source.children "
                                "to visit it")
        except Exception as exc:  # noqa: BLE001 - any mapping failure quarantines the item
            parsed.rejects.append(Rejected(_item_id(source, item), redact(describe_error(exc)), item))
        else:
            parsed.recordings.extend(recordings)
            parsed.revisits.extend(parents)
    return parsed


def _item_id(source: Source, item: Any) -> str | None:
    """The item's id for the quarantine listing, if the source can tell it."""
    try:
        return source.item_id(item)
    except Exception:  # noqa: BLE001 - the item is bad already; an id is a nicety
        return None


async def _prefetch(pages: AsyncIterator[Page], depth: int = 1) -> AsyncIterator[Page]:
    """Iterate `pages` while fetching up to `depth` pages ahead (fetch overlaps commit)."""
    queue: asyncio.Queue[Page | BaseException | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for page in pages:
                await queue.put(page)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put(exc)
            return
        await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        try:
            await task
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the consumer's outcome wins
            pass
