"""Built-in plugin: Prometheus metrics after every pass and tenant, and the server of long-running commands."""

from __future__ import annotations

import logging

from .._hookspecs import PassEvent, PassKind, TenantEvent, hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:  # a type only: loading the plugins (`collector plugins`) does not read the configuration
    from .._config import Config

log = logging.getLogger("collector")


@hookimpl
def collector_service_started(config: Config, kind: PassKind) -> None:
    """`schedule` and `worker` serve `/metrics` on `[metrics] host:port`, from the catalog at once."""
    if config.metrics.port is None:
        return
    from .._metrics import serve

    serve(config)
    log.info("Serving metrics on http://%s:%d/metrics", config.metrics.host, config.metrics.port)


@hookimpl
def collector_tenant_finished(event: TenantEvent) -> None:
    """A cluster worker's tenant is a pass of its own for the textfile: written after each."""
    if event.kind == "worker":
        _write(event.config)


@hookimpl
def collector_pass_finished(event: PassEvent) -> None:
    """Every pass rewrites the textfile with every tenant's latest series."""
    _write(event.config)


def _write(config: Config) -> None:
    if config.metrics.textfile is None:
        return
    from .._metrics import write_textfile

    write_textfile(config)
