"""Bounded downloads: the pace an audio body must keep, and the breaker for a vendor that drips.

A vendor that sends a body at a byte per second would hold a download worker (and its rate-limit
permit) until the vendor itself gives up, one recording after another. Two limits end such a
transfer, both per `[[sources]]` entry:

- **idle**: no byte for `download_idle_timeout` seconds;
- **rate**: fewer than `download_min_rate` bytes per second, averaged over the last
  `download_rate_interval` seconds (sliding). The first check happens once that much time has
  passed since the response headers arrived; `download_min_rate = 0` turns the rate check off.

Both count only the time the collector spends waiting for the vendor's bytes, from the headers'
arrival on: time spent on our own disk writes is never blamed on the vendor. A body read that
the HTTP client itself times out (the source's `timeout`) is the same stall and is treated alike.

A transfer below either limit raises `TransferAbandoned`; `fetch_audio` treats it as a broken
transfer (retried within the run with the tenant's backoff, then left for a later run as an
`ItemDeferred`). Each tenant has one `PaceGuard`: after `BREAKER_TRANSFERS` abandoned transfers in
a row, from at least `BREAKER_RECORDINGS` different recordings, with no completed body between
them, the tenant's downloads stop for the run (`DownloadsStopped`: the remaining items wait for the
next run without spending attempts). Requiring two recordings keeps one recording the vendor
always serves slowly from stopping the tenant's downloads in every run: it only spends its own
attempts.

The cost per chunk is two clock readings and a few additions: the limits are checked by one
timer that wakes at most every `interval / 16` seconds while a read waits (it is not re-armed per
chunk), and rate samples are taken at that granularity, not per chunk.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from collector._base._errors import DownloadsStopped
from collector._sources._source import SourceSettings

BREAKER_TRANSFERS = 3
"""Abandoned transfers in a row (none completed between them) that stop a tenant's downloads."""
BREAKER_RECORDINGS = 2
"""...provided they were transfers of at least this many different recordings."""
_STEPS = 16
"""Rate samples (and timer wake-ups while a read waits) per rate interval."""

_clock = time.monotonic


@dataclass(frozen=True)
class PaceLimits:
    """The pace a download must keep: at least `min_rate` bytes/s over `interval` seconds
    (sliding; 0 turns the check off), and never `idle` seconds without a byte."""

    min_rate: int
    interval: float
    idle: float

    @classmethod
    def of(cls, settings: SourceSettings) -> PaceLimits:
        """The limits a `[[sources]]` entry sets."""
        return cls(settings.download_min_rate, settings.download_rate_interval, settings.download_idle_timeout)


class TransferAbandoned(Exception):
    """A download fell below its pace limits and was given up; `detail` says what was observed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def reason(self) -> str:
        """The sentence recorded for the item when no retry is left in the run."""
        return f"The download was abandoned: {self.detail}."


class PaceGuard:
    """One tenant's pace limits and its breaker, shared by its download workers.

    `watch` wraps a body's chunks; `stop` is called (once) with the `DownloadsStopped` that ends
    the tenant's downloads when the breaker trips; `downloads_go_on` says whether the tenant may
    still fetch (an abandoned transfer is only retried while it may).
    """

    def __init__(self, limits: PaceLimits, stop: Callable[[DownloadsStopped], None],
                 downloads_go_on: Callable[[], bool]) -> None:
        self.limits = limits
        self._stop = stop
        self._downloads_go_on = downloads_go_on
        self._streak = 0
        self._recordings: set[str] = set()
        self._tripped = False

    def watch(self, chunks: AsyncIterable[bytes], recording: str) -> AsyncIterator[bytes]:
        """`chunks`, abandoned with `TransferAbandoned` when they fall below the limits.

        Iterate it in the task that reads the body (that task is interrupted when no byte comes).
        `recording` names the recording for the breaker.
        """
        return _PacedBody(chunks, self, recording)

    def may_retry(self) -> bool:
        """Whether an abandoned transfer may be tried again in this run (downloads have not stopped)."""
        return self._downloads_go_on()

    def completed(self) -> None:
        """A body arrived whole: the vendor is keeping pace, the streak starts again."""
        self._streak = 0
        self._recordings.clear()

    def abandoned(self, recording: str, error: TransferAbandoned) -> None:
        """A transfer was abandoned: count it, and stop the tenant's downloads if the breaker trips."""
        self._streak += 1
        self._recordings.add(recording)
        if self._tripped or self._streak < BREAKER_TRANSFERS or len(self._recordings) < BREAKER_RECORDINGS:
            return
        self._tripped = True
        self._stop(DownloadsStopped(
            f"The vendor is sending too slowly: {self._streak} downloads in a row were abandoned (the last one: "
            f"{error.detail}); the remaining audio waits for the next run."))


class _PacedBody:
    """The chunks of one body, timed (see the module docstring for what is measured)."""

    def __init__(self, chunks: AsyncIterable[bytes], guard: PaceGuard, recording: str) -> None:
        limits = guard.limits
        self._chunks = aiter(chunks)
        self._guard = guard
        self._recording = recording
        self._idle = limits.idle
        self._min_rate = limits.min_rate
        self._interval = limits.interval
        checks_rate = limits.min_rate > 0
        self._step = limits.interval / _STEPS if checks_rate else limits.idle
        self._received = 0
        self._elapsed = 0.0  # seconds spent waiting for the vendor's bytes so far
        self._next_sample = self._step if checks_rate else math.inf
        self._samples: deque[tuple[float, int]] = deque([(0.0, 0)])  # (elapsed, bytes received by then)
        self._waiting_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._verdict: str | None = None

    def __aiter__(self) -> _PacedBody:
        return self

    async def __anext__(self) -> bytes:
        self._waiting_since = started = _clock()
        if self._timer is None:
            self._arm(self._step)
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._disarm()
            self._guard.completed()
            raise
        except asyncio.CancelledError:
            # Ours (the timer's verdict) unless someone else cancelled the task as well.
            if self._verdict is None or self._task is None or self._task.uncancel() > 0:
                self._disarm()
                raise
            raise self._abandon(self._verdict) from None
        except httpx.ReadTimeout:
            raise self._abandon(f"no byte arrived for {_seconds(_clock() - started)} "
                                "(the request timeout)") from None
        except BaseException:
            self._disarm()
            raise
        finally:
            self._waiting_since = None
        self._elapsed += _clock() - started
        self._received += len(chunk)
        if self._elapsed >= self._next_sample and (verdict := self._sample(self._elapsed)) is not None:
            raise self._abandon(verdict)
        return chunk

    def _abandon(self, verdict: str) -> TransferAbandoned:
        self._disarm()
        error = TransferAbandoned(verdict)
        self._guard.abandoned(self._recording, error)
        return error

    def _sample(self, elapsed: float) -> str | None:
        """Note the bytes received by `elapsed`; say why the transfer is too slow, if it is."""
        samples = self._samples
        samples.append((elapsed, self._received))
        self._next_sample = elapsed + self._step
        horizon = elapsed - self._interval
        if horizon < 0:
            return None
        while len(samples) > 1 and samples[1][0] <= horizon:
            samples.popleft()
        since, before = samples[0]
        span, got = elapsed - since, self._received - before
        if got >= self._min_rate * span:
            return None
        return (f"{got:,} bytes in the last {_seconds(span)}, below the minimum of "
                f"{self._min_rate:,} bytes/s")

    def _arm(self, delay: float) -> None:
        if self._task is None:
            self._task = asyncio.current_task()
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        """The timer: while a read waits, judge the idle time and the rate; otherwise rest (the
        next read arms it again)."""
        self._timer = None
        started = self._waiting_since
        if started is None or self._task is None:
            return
        now = _clock()
        waited = now - started
        if waited >= self._idle:
            verdict: str | None = f"no byte arrived for {_seconds(waited)} (the idle timeout is {_seconds(self._idle)})"
        else:
            elapsed = self._elapsed + waited
            verdict = self._sample(elapsed) if elapsed >= self._next_sample else None
        if verdict is not None:
            self._verdict = verdict
            self._task.cancel()
            return
        self._arm(max(0.0, min(started + self._idle, now + self._step) - now))


def _seconds(value: float) -> str:
    return f"{value:.3g} s"
