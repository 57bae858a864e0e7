"""Three emulated Xima tenants for `collector demo`: one emulator (one port) per tenant.

The tenants hold the calls of the twelve hours before today's midnight (UTC), so a second demo
on the same day finds nothing new. Limits are scaled so the demo takes seconds: 3 requests per
0.3 s instead of per 10 s (same shape, 33 times faster), and the sweep uses 6-hour windows. The
emulator lists no recording late, so yesterday is counted (listed a second time) at once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from .emulator import XimaEmulator, XimaTenant

DEMO_RATE_LIMIT = (3, 0.3)
_TENANTS = (
    # (source tenant name, Xima tenant name, recordings, endpoint, response wrapper)
    ("acme-reno", "acme-ns", 18, "call-recording-info", None),
    ("globex-boise", "globex-cc", 12, "recordings", "data"),
    ("initech-denver", "initech", 15, "call-recording-info", None),
)


@contextmanager
def demo_tenants() -> Iterator[list[dict[str, Any]]]:
    """Start the three tenants' emulators and yield the `[[sources]]` tables that collect them."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sources: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for source_tenant, xima_name, count, endpoint, wrap in _TENANTS:
            token = "demo-" + hashlib.sha256(f"xima-demo-token:{xima_name}".encode()).hexdigest()[:32]
            tenant = XimaTenant(name=xima_name, token=token, recordings=count, anchor=midnight,
                                span=timedelta(hours=12), wrap=wrap)
            emulator = XimaEmulator(tenant, rate_limit=DEMO_RATE_LIMIT, seed=len(sources))
            emulator.faults.set_rate(0.03)
            stack.enter_context(emulator)
            variable = f"COLLECTOR_DEMO_XIMA_{xima_name.upper().replace('-', '_')}_TOKEN"
            os.environ[variable] = token
            sources.append({
                "plugin": "xima", "tenant": source_tenant, "base_url": emulator.url, "token": {"env": variable},
                "endpoint": endpoint, "start": (midnight - timedelta(days=1)).isoformat(),
                "window": "PT6H", "lookback": "PT12H", "settle_delay": "PT1H",
                "rate_limit": {"requests": DEMO_RATE_LIMIT[0], "per_seconds": DEMO_RATE_LIMIT[1]},
                "retry": {"attempts": 6, "initial_wait": 0.05, "max_wait": 1.0},
                "egress_budget": {"bytes": 50_000_000, "days": 5}, "count_after_hours": 0.0,
            })
        yield sources
