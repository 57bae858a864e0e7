"""Prometheus metrics: what each run did per tenant, and where its store stands.

Every run writes them to `[metrics] textfile` (the node_exporter textfile collector's convention:
a `.prom` file replaced atomically), and `collector schedule` serves the latest on
`[metrics] host:port` (loopback by default) with prometheus-client. Per tenant: requests, 429s,
509s, seconds waited on the rate limit, bytes and recordings stored, items pending and failed,
and when its last successful run ended.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, start_http_server, write_to_textfile

if TYPE_CHECKING:
    from ._config import Config
    from ._run import RunResult

_GAUGES = {
    "requests": ("collector_requests", "Requests sent to the vendor in the last run"),
    "throttled": ("collector_throttled_responses", "429 answers in the last run"),
    "bandwidth_limited": ("collector_bandwidth_limited_responses", "509 answers in the last run"),
    "waited_seconds": ("collector_rate_limit_wait_seconds", "Seconds requests waited for a rate-limit slot"),
    "audio_bytes": ("collector_audio_bytes", "Audio bytes stored in the last run"),
    "new_recordings": ("collector_recordings_stored", "New recordings stored in the last run"),
    "deferred": ("collector_items_pending", "Items left to fetch after the last run"),
    "waiting": ("collector_items_waiting", "Items waiting for the vendor after the last run"),
    "failed_total": ("collector_items_failed", "Items failed or lost in the store"),
}


def registry_for(result: RunResult, previous: dict[tuple[str, str], float] | None = None) -> CollectorRegistry:
    """A registry holding the run's metrics (`previous`: last success times from earlier runs)."""
    registry = CollectorRegistry()
    labels = ("source", "tenant")
    gauges = {field: Gauge(name, text, labels, registry=registry) for field, (name, text) in _GAUGES.items()}
    success = Gauge("collector_last_success_timestamp_seconds", "When the tenant's last complete run ended",
                    labels, registry=registry)
    exit_code = Gauge("collector_run_exit_code", "The last run's exit code", registry=registry)
    exit_code.set(result.exit_code)
    successes = dict(previous or {})
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    for summary in result.summaries:
        for field, gauge in gauges.items():
            gauge.labels(summary.source, summary.tenant).set(float(getattr(summary, field)))
        if summary.status.value == "ok":
            successes[(summary.source, summary.tenant)] = now
    for (source, tenant), moment in successes.items():
        success.labels(source, tenant).set(moment)
    return registry


class MetricsState:
    """What `schedule` serves: the latest run's registry, and each tenant's last success so far."""

    def __init__(self) -> None:
        self.successes: dict[tuple[str, str], float] = {}
        self.registry = CollectorRegistry()

    def update(self, result: RunResult) -> CollectorRegistry:
        """Take a finished run into account; returns its registry."""
        self.registry = registry_for(result, self.successes)
        for summary in result.summaries:
            if summary.status.value == "ok":
                self.successes[(summary.source, summary.tenant)] = dt.datetime.now(dt.timezone.utc).timestamp()
        return self.registry


_STATE = MetricsState()


def record_run(config: Config, result: RunResult) -> None:
    """Take a finished run into the served metrics, and write them to `[metrics] textfile` if set."""
    registry = _STATE.update(result)
    if config.metrics.textfile is not None:
        path = (config.path.parent / config.metrics.textfile).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)


def serve(config: Config) -> None:
    """Serve the latest metrics on `[metrics] host:port` from a background thread (for `schedule`)."""
    assert config.metrics.port is not None

    class Latest:
        def collect(self) -> object:
            return _STATE.registry.collect()

    registry = CollectorRegistry()
    registry.register(Latest())  # type: ignore[arg-type]
    start_http_server(config.metrics.port, addr=config.metrics.host, registry=registry)
