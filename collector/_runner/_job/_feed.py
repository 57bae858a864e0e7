"""Handing claimed catalog items to a task's workers, waiting for the metadata task when empty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from collector._base._model import Recording

_IDLE_RECHECK = 1.0


class WorkFeed:
    """Claims due items in batches and hands them out; empty once metadata is done and nothing is due.

    The catalog is the only queue: an item claimed but not finished when the process dies is
    still due in the catalog, and the next run claims it again.
    """

    def __init__(self, claim: Callable[[], Awaitable[list[Recording]]], metadata_done: asyncio.Event,
                 work_added: asyncio.Event) -> None:
        self._claim = claim
        self._metadata_done = metadata_done
        self._work_added = work_added
        self._buffer: list[Recording] = []
        self._lock = asyncio.Lock()
        self._ahead: asyncio.Task[tuple[bool, list[Recording]]] | None = None

    async def _claim_now(self) -> tuple[bool, list[Recording]]:
        """(whether metadata was done before the claim began, what it claimed)."""
        finished = self._metadata_done.is_set()
        self._work_added.clear()
        return finished, await self._claim()

    async def next_batch(self, size: int) -> list[Recording]:
        """Up to `size` due items; an empty list once metadata is done and nothing is due.

        When the buffer runs empty, the next claim starts at once in the background, so a worker
        coming back for more does not wait for the catalog (shared by every tenant) as well.
        """
        async with self._lock:
            while not self._buffer:
                ahead, self._ahead = self._ahead, None
                finished, self._buffer = await (ahead if ahead is not None else self._claim_now())
                if self._buffer:
                    break
                if finished:
                    return []
                try:
                    await asyncio.wait_for(self._work_added.wait(), _IDLE_RECHECK)
                except TimeoutError:
                    pass
            batch, self._buffer = self._buffer[:size], self._buffer[size:]
            if not self._buffer and self._ahead is None:
                self._ahead = asyncio.create_task(self._claim_now())
            return batch

    async def aclose(self) -> None:
        """Cancel a claim made ahead that nobody will take (its items stay due in the catalog)."""
        if self._ahead is not None:
            self._ahead.cancel()
            try:
                await self._ahead
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the items stay due either way
                pass
            self._ahead = None
