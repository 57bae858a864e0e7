"""Prometheus metrics: what each tenant's latest run did, and where its store stands, from the catalog.

The metrics are read from the catalog (every tenant's latest run summary, its last complete run,
the latest exit code), not from the pass that just ended: a `run --tenant` keeps the other tenants'
series, a cluster worker's are those of every worker, and a fresh `schedule` answers `/metrics`
at once. Written to `[metrics] textfile` after every pass and tenant (the node_exporter textfile
collector's convention: a `.prom` file replaced atomically), and served on `[metrics] host:port`
(loopback by default) by `schedule` and `worker`, read anew at each scrape. Per tenant: requests,
429s, 509s, seconds waited on the rate limit, bytes and recordings stored, items pending, waiting
and failed, and when its last complete run ended; and the latest run's exit code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server, write_to_textfile

if TYPE_CHECKING:
    from collector._storage._catalog import Catalog

    from ._config import Config

GAUGES = {
    "requests": ("collector_requests", "Requests sent to the vendor in the tenant's last run"),
    "throttled": ("collector_throttled_responses", "429 answers in the tenant's last run"),
    "bandwidth_limited": ("collector_bandwidth_limited_responses", "509 answers in the tenant's last run"),
    "waited_seconds": ("collector_rate_limit_wait_seconds", "Seconds requests waited for a rate-limit slot"),
    "audio_bytes": ("collector_audio_bytes", "Audio bytes stored in the tenant's last run"),
    "new_recordings": ("collector_recordings_stored", "New recordings stored in the tenant's last run"),
    "deferred": ("collector_items_pending", "Items left to fetch after the tenant's last run"),
    "waiting": ("collector_items_waiting", "Items waiting for the vendor after the tenant's last run"),
    "failed_total": ("collector_items_failed", "Items failed or lost in the store"),
}
"""Every per-tenant gauge: the summary field it shows, its metric name and help text."""
SUCCESS = "collector_last_success_timestamp_seconds"
EXIT_CODE = "collector_run_exit_code"


def registry_from(catalog: Catalog) -> CollectorRegistry:
    """A registry of every tenant's metrics, read from the catalog."""
    registry = CollectorRegistry()
    labels = ("source", "tenant")
    gauges = {field: Gauge(name, text, labels, registry=registry) for field, (name, text) in GAUGES.items()}
    success = Gauge(SUCCESS, "When the tenant's last complete run ended", labels, registry=registry)
    exit_code = Gauge(EXIT_CODE, "The latest run's exit code", registry=registry)
    code = catalog.last_exit_code()
    if code is not None:
        exit_code.set(code)
    for summary in catalog.latest_summaries():
        for field, gauge in gauges.items():
            value = summary.get(field)
            if isinstance(value, (int, float)):
                gauge.labels(summary["source"], summary["tenant"]).set(float(value))
        if summary["last_success"]:
            moment = dt.datetime.fromisoformat(summary["last_success"].replace("Z", "+00:00"))
            success.labels(summary["source"], summary["tenant"]).set(moment.timestamp())
    return registry


def _registry(config: Config) -> CollectorRegistry | None:
    """The metrics of the configured store, or None before it exists (its catalog read-only)."""
    from collector._storage._store import read_only_catalog

    location = config.store_location
    if not location.has_catalog():
        return None
    catalog = read_only_catalog(location)
    try:
        return registry_from(catalog)
    finally:
        catalog.close()


def write_textfile(config: Config) -> None:
    """Write the store's metrics to `[metrics] textfile` (atomically), if one is configured."""
    if config.metrics.textfile is None or (registry := _registry(config)) is None:
        return
    path = (config.path.parent / config.metrics.textfile).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def serve(config: Config) -> None:
    """Serve the store's metrics on `[metrics] host:port` from a background thread, read from the
    catalog at each scrape (so they answer from the start, and follow every pass and worker)."""
    assert config.metrics.port is not None

    class FromCatalog:
        def collect(self) -> Iterator[Any]:
            registry = _registry(config)
            return iter(registry.collect()) if registry is not None else iter(())

    registry = CollectorRegistry()
    registry.register(FromCatalog())
    start_http_server(config.metrics.port, addr=config.metrics.host, registry=registry)
