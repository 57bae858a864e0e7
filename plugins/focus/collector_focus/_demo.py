"""Three emulated Focus tenants for `collector demo`: plain, forced comments with wav-mono, and
short-lived tokens. Their transcripts are all done, so a demo pass completes (exit code 0) and a
second one finds nothing new.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._emudata import FocusTenant
from .emulator import FocusEmulator


@contextmanager
def demo_tenants() -> Iterator[list[dict[str, Any]]]:
    """Three demo tenants on one emulator: plain, forced comments with wav-mono, short-lived tokens."""
    tenants = [
        FocusTenant(client_id=410001, username="svc-acme-uk", api_key=_demo_key(410001), recordings=24),
        FocusTenant(client_id=410002, username="svc-globex", api_key=_demo_key(410002), recordings=36,
                    forced_comments=True),
        FocusTenant(client_id=410003, username="svc-initech", api_key=_demo_key(410003), recordings=18,
                    token_lifetime=4.0),
    ]
    emulator = FocusEmulator(tenants, rate_limit=(20, 1.0), seed=7)
    emulator.faults.set_rate(0.03)
    emulator.make_transcripts_ready()
    names = {410001: "acme-uk", 410002: "globex", 410003: "initech"}
    with emulator:
        sources = []
        for tenant in tenants:
            variable = f"COLLECTOR_DEMO_FOCUS_{tenant.client_id}_API_KEY"
            os.environ[variable] = tenant.api_key
            table: dict[str, Any] = {
                "plugin": "focus", "tenant": names[tenant.client_id], "base_url": emulator.url,
                "client_id": tenant.client_id, "username": tenant.username, "api_key": {"env": variable},
                "page_size": 10, "rate_limit": {"requests": 20, "per_seconds": 1.0},
                "retry": {"attempts": 6, "initial_wait": 0.05, "max_wait": 1.0},
            }
            if tenant.forced_comments:
                table.update(forced_comments=True, download_comment="Compliance archive (recording-collector demo)",
                             audio_format="wav-mono")
            sources.append(table)
        yield sources


def _demo_key(client_id: int) -> str:
    return "demo-" + hashlib.sha256(f"focus-demo-key:{client_id}".encode()).hexdigest()[:24]
