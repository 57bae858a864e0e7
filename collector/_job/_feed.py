"""Handing claimed catalog items to a task's workers, waiting for the metadata task when empty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .._model import Recording

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

    async def next_batch(self, size: int) -> list[Recording]:
        """Up to `size` due items; an empty list once metadata is done and nothing is due."""
        async with self._lock:
            while not self._buffer:
                finished = self._metadata_done.is_set()
                self._work_added.clear()
                self._buffer = await self._claim()
                if self._buffer:
                    break
                if finished:
                    return []
                try:
                    await asyncio.wait_for(self._work_added.wait(), _IDLE_RECHECK)
                except TimeoutError:
                    pass
            batch, self._buffer = self._buffer[:size], self._buffer[size:]
            return batch
