"""`route_pauses`: the routes a vendor's quota closed for a tenant, until when (see `collector._http._quotas`).

A pause is written the moment the HTTP client meets the quota (before the call that met it raises),
so a run killed right after still leaves later runs alone until its end; a run reads the pauses in
force when it starts, and lifts (deletes) those whose time has passed.
"""

from __future__ import annotations

from datetime import datetime

from collector._base._time import iso, now_utc, parse_iso
from collector._http._quotas import RoutePause

from ._db import Database


class PausesCatalog(Database):
    """Reading, recording and lifting route pauses."""

    def route_pauses(self, source: str, tenant: str) -> list[RoutePause]:
        """The tenant's pauses still in force, by route; those whose time has passed are lifted."""
        stamp = iso(now_utc())
        with self._transaction((source, tenant)) as db:
            db.execute("DELETE FROM route_pauses WHERE source=? AND tenant=? AND until<=?", (source, tenant, stamp))
            rows = db.execute("SELECT route, until, reason FROM route_pauses WHERE source=? AND tenant=? "
                              "ORDER BY route", (source, tenant)).fetchall()
        return [RoutePause(route, parse_iso(until), reason) for route, until, reason in rows]

    def pause_route(self, source: str, tenant: str, route: str, until: datetime, reason: str) -> None:
        """Record that `route` is paused until `until` (a later end already recorded wins)."""
        with self._transaction((source, tenant)) as db:
            db.execute(
                "INSERT INTO route_pauses (source, tenant, route, until, reason) VALUES (?,?,?,?,?) "
                "ON CONFLICT (source, tenant, route) DO UPDATE SET "
                "until=CASE WHEN excluded.until>route_pauses.until THEN excluded.until ELSE route_pauses.until END, "
                "reason=excluded.reason",
                (source, tenant, route, iso(until), reason))
