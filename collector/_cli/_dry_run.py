"""`collector run --dry-run`: what a run would list and fetch, with nothing fetched or stored.

Each enabled tenant's source lists from its committed state exactly as a run would (these are real
requests to the vendor, within its limits), and every page is mapped and compared with the
catalog, read-only: how many recordings are new or changed, how many items would be quarantined,
and how much audio and how many transcripts the run would fetch. Nothing is downloaded, no state
moves, the store is not locked and not written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, TextIO

from collector._base._model import MediaAvailability, Recording
from collector._base._redact import redact
from collector._http._client import HttpClient, Traffic
from collector._runner._config import Config
from collector._runner._plugins import Plugins
from collector._sources._source import Source, SourceContext, SourceSettings
from collector._storage._catalog import Catalog
from collector._storage._store import read_only_catalog

log = logging.getLogger("collector.dry_run")


@dataclass
class DryRunTenant:
    """What one tenant's run would do."""

    label: str
    pages: int = 0
    listed: int = 0
    new: int = 0
    changed: int = 0
    rejected: int = 0
    audio: int = 0
    audio_bytes: int = 0
    transcripts: int = 0
    problem: str | None = None


def dry_run(config: Config, plugins: Plugins) -> list[DryRunTenant]:
    """List every enabled tenant as a run would, and count what it would store and fetch."""
    location = config.store_location
    catalog = read_only_catalog(location) if location.has_catalog() else None
    try:
        return asyncio.run(_all(config, plugins, catalog))
    finally:
        if catalog is not None:
            catalog.close()


async def _all(config: Config, plugins: Plugins, catalog: Catalog | None) -> list[DryRunTenant]:
    return list(await asyncio.gather(*(_tenant(s, plugins.sources[s.plugin], catalog)
                                       for s in config.enabled_sources)))


async def _tenant(settings: SourceSettings, source_cls: type[Source], catalog: Catalog | None) -> DryRunTenant:
    result = DryRunTenant(f"{settings.plugin}/{settings.tenant}")
    traffic = Traffic(settings.rate_limit or source_cls.default_rate_limit,
                      max_in_flight=settings.max_in_flight or source_cls.default_max_in_flight,
                      retry=settings.retry, timeout=settings.timeout)
    clients: list[HttpClient] = []

    def http(base_url: str, auth: Any, headers: dict[str, str] | None) -> HttpClient:
        clients.append(HttpClient(base_url, traffic, auth=auth, headers=headers))
        return clients[-1]

    async def audit(*args: Any) -> None:
        return None

    context = SourceContext(settings.plugin, settings.tenant, http, logging.LoggerAdapter(log, {}), audit)
    try:
        source = source_cls(settings, context)
        state = catalog.load_state(settings.plugin, settings.tenant) if catalog else None
        async for page in source.sync(state):
            result.pages += 1
            _count(result, source, page.items, catalog, settings)
        if catalog is not None:
            counts = catalog.work_counts(settings.plugin, settings.tenant)
            result.audio += sum(counts.get(f"audio_{s}", 0) for s in ("pending", "waiting")) if settings.audio else 0
            result.transcripts += (sum(counts.get(f"transcripts_{s}", 0) for s in ("pending", "waiting"))
                                   if settings.transcripts else 0)
    except Exception as exc:  # noqa: BLE001 - a dry run reports, it does not stop
        result.problem = redact(getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}")
    finally:
        for client in clients:
            await client.aclose()
    return result


def _count(result: DryRunTenant, source: Source, items: Any, catalog: Catalog | None,
           settings: SourceSettings) -> None:
    recordings: list[Recording] = []
    for item in items:
        result.listed += 1
        try:
            recordings.extend(r for r in source.parse(item) if isinstance(r, Recording))  # not a Revisit
        except Exception:  # noqa: BLE001 - what a run would quarantine
            result.rejected += 1
    known = _known(catalog, settings, [r.vendor_id for r in recordings])
    for recording in recordings:
        raw = json.dumps(recording.raw, sort_keys=True, default=str)
        if recording.vendor_id not in known:
            result.new += 1
            if settings.audio and recording.media is MediaAvailability.AVAILABLE:
                result.audio += 1
                result.audio_bytes += recording.media_size or 0
            result.transcripts += int(settings.transcripts)
        elif known[recording.vendor_id] != raw:
            result.changed += 1


def _known(catalog: Catalog | None, settings: SourceSettings, ids: list[str]) -> dict[str, str]:
    if catalog is None or not ids:
        return {}
    payloads = catalog.recorded_payloads(settings.plugin, settings.tenant, ids)
    return {vendor_id: json.dumps(raw, sort_keys=True, default=str) for vendor_id, raw in payloads.items()}


def render_dry_run(tenants: list[DryRunTenant], out: TextIO) -> None:
    """One paragraph per tenant: what its run would list, store and fetch."""
    for t in tenants:
        if t.problem:
            out.write(f"{t.label}: the listing would stop: {t.problem}\n")
        announced = f" ({t.audio_bytes:,} bytes announced)" if t.audio_bytes else ""
        out.write(f"{t.label}: would list {t.listed} items in {t.pages} page(s): {t.new} new, {t.changed} changed, "
                  f"{t.rejected} to quarantine; would fetch {t.audio} audio file(s){announced} and "
                  f"{t.transcripts} transcript(s).\n")
    out.write("Dry run: nothing was downloaded or stored, and no sync state moved.\n")
