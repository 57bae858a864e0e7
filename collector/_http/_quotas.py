"""Routes the vendor's quotas have closed for a tenant, until when, and why.

A vendor with a daily quota on some routes ("at most 1,000 downloads a day") answers 429 with a
`Retry-After` of the next midnight once it is spent. Retrying that within the run would only
burn attempts and keep the tenant waiting, so the HTTP client pauses the *route* instead: a
category of calls the plugin names with `route=` ("downloads", "transcripts"; calls that name
none are the "default" route). The threshold between an ordinary 429 (retried after a few
seconds) and a quota is `RetrySettings.quota_after` (10 minutes by default): rate limits ask for
seconds, quotas for hours. An error code an `ErrorCodes` table maps to `RoutePaused` pauses the
route too, until the answer's Retry-After, its rate-limit reset, or else the next midnight UTC.

A pause is kept in the catalog (`route_pauses`), so a later run before its end does not call the
route at all, and it is lifted once its time has passed. Items whose call was paused spend no
attempt; the rest of the tenant's work goes on, and the run summary names every pause in force.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector._base._errors import RoutePaused
from collector._base._time import iso

DEFAULT_ROUTE = "default"
"""The route of calls that name none."""

ROUTE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
"""What a route category's name looks like: lowercase letters, digits, `_` and `-`, up to 32."""

_ROUTE = re.compile(ROUTE_PATTERN)


def check_route(name: str) -> str:
    """`name` if it is a usable route category name; ValueError otherwise."""
    if not isinstance(name, str) or not _ROUTE.match(name):
        raise ValueError(f"a route category is 1-32 lowercase letters, digits, '_' or '-', not {name!r}")
    return name


def next_midnight(now: datetime | None = None) -> datetime:
    """The next midnight UTC after `now`: when most daily quotas reset."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)


@dataclass(frozen=True)
class RoutePause:
    """One route closed by the vendor's quota: until when (aware, UTC), and the vendor's words."""

    route: str
    until: datetime
    reason: str

    def sentence(self) -> str:
        """How the run summary says it."""
        return f"{self.route} paused by the vendor's quota until {iso(self.until, 'seconds')}: {self.reason}"


class RoutePauses:
    """The routes of one tenant that are paused, shared by every HTTP client of the tenant.

    `on_pause`, set by the job, records a new pause in the catalog before the call that met it
    raises; `load` brings in the pauses earlier runs recorded.
    """

    def __init__(self) -> None:
        self.paused: dict[str, RoutePause] = {}
        """The pauses in force (or whose end has not been noticed yet), by route: empty, the
        HTTP client checks nothing more on a request."""
        self._seen: dict[str, RoutePause] = {}
        self.on_pause: Callable[[RoutePause], Awaitable[None]] | None = None

    def load(self, pauses: Iterable[RoutePause]) -> None:
        """Honour pauses recorded by earlier runs (those still in force)."""
        for pause in pauses:
            self._keep(pause)

    def check(self, route: str) -> None:
        """Raise `RoutePaused` if `route` is paused now; a pause whose time has passed is lifted."""
        pause = self.paused.get(route)
        if pause is None:
            return
        if pause.until <= datetime.now(UTC):
            del self.paused[route]
            return
        raise RoutePaused(pause.sentence(), pause.route, pause.until)

    async def pause(self, route: str, until: datetime, reason: str) -> RoutePaused:
        """Pause `route` until `until` (a later end wins), record it, and return the error to raise."""
        current = self.paused.get(route)
        pause = RoutePause(route, max(until, current.until) if current else until, reason)
        self._keep(pause)
        if self.on_pause is not None:
            await self.on_pause(pause)
        return RoutePaused(pause.sentence(), pause.route, pause.until)

    def in_force(self) -> list[RoutePause]:
        """Every pause that held during this run (for the summary), by route."""
        return [self._seen[route] for route in sorted(self._seen)]

    def _keep(self, pause: RoutePause) -> None:
        self.paused[pause.route] = pause
        self._seen[pause.route] = pause
