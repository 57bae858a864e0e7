"""Two emulated MyVendor tenants for `collector demo`, with the same recordings every time.

No recording is still processing, so a demo pass completes (exit code 0) and a second one finds
nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ._emudata import Tenant
from .emulator import MyVendorEmulator

NEWEST = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
TENANTS = {"north": 12, "south": 7}


@contextmanager
def demo_tenants() -> Iterator[list[dict[str, Any]]]:
    """Start the emulator on 127.0.0.1 and yield a `[[sources]]` table per tenant."""
    variables = {name: f"COLLECTOR_DEMO_MY_VENDOR_{name.upper()}" for name in TENANTS}
    saved = {variable: os.environ.get(variable) for variable in variables.values()}
    with MyVendorEmulator(page_size_cap=5) as api:
        tables = []
        for name, count in TENANTS.items():
            tenant = api.add_tenant(Tenant(name))
            tenant.add_history(count, NEWEST, every=timedelta(minutes=11))
            os.environ[variables[name]] = tenant.api_key
            tables.append({"plugin": "my_vendor", "tenant": name, "base_url": api.url,
                           "api_key": {"env": variables[name]}, "start": "2026-03-01T00:00:00Z"})
        try:
            yield tables
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
