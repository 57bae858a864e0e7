"""Built-in plugin: a log line per finished tenant, with its counts as structured fields."""

from __future__ import annotations

import logging

from .._hookspecs import TenantEvent, hookimpl
from .._summary import summary_line

log = logging.getLogger("collector")


@hookimpl
def collector_tenant_finished(event: TenantEvent) -> None:
    """Log the tenant's summary (a live table on a terminal shows it already)."""
    if event.interactive:
        return
    fields = {**event.summary.log_fields(), **({"worker": event.worker, "pass": event.pass_name}
                                                  if event.worker else {})}
    log.info(summary_line(event.summary), extra=fields)
