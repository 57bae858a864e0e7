"""Two emulated Imagicle accounts for `collector demo`: a static administrator token, and client
credentials with short-lived tokens and the (undocumented) audio route through `audio_url_template`.

Their transcriptions are all done, so a demo pass completes (exit code 0) and a second one finds
nothing new.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._emudata import Account
from .emulator import DEMO_BASE, ImagicleEmulator


@contextmanager
def demo_accounts() -> Iterator[list[dict[str, Any]]]:
    """Two demo accounts on one emulator: a static administrator token, and client credentials with
    short-lived tokens and the (undocumented) audio route switched on through `audio_url_template`."""
    token, secret = _demo_secret("acme-token"), _demo_secret("globex-secret")
    accounts = [
        Account("acme", seed=1, base_time=DEMO_BASE, recordings=30, static_tokens={token: "admin"}),
        Account("globex", seed=2, base_time=DEMO_BASE, recordings=20, clients={"globex-collector": secret},
                token_lifetime=4.0),
    ]
    emulator = ImagicleEmulator(accounts, rate_limit=(20, 1.0), serve_audio=True, seed=11)
    emulator.faults.set_rate(0.03)
    variables = {"COLLECTOR_DEMO_IMAGICLE_ACME_TOKEN": token, "COLLECTOR_DEMO_IMAGICLE_GLOBEX_SECRET": secret}
    emulator.make_transcripts_ready()
    with emulator:
        os.environ.update(variables)
        common = {"base_url": emulator.api_url, "start_date": "2026-01-01T00:00:00Z", "window_hours": 24.0 * 14,
                  "page_size": 10, "settle_seconds": 60.0, "rate_limit": {"requests": 20, "per_seconds": 1.0},
                  "retry": {"attempts": 6, "initial_wait": 0.05, "max_wait": 1.0}}
        yield [
            {"plugin": "imagicle", "tenant": "acme", **common,
             "token": {"env": "COLLECTOR_DEMO_IMAGICLE_ACME_TOKEN"}},
            {"plugin": "imagicle", "tenant": "globex", **common,
             "oauth": {"token_url": emulator.token_url, "client_id": "globex-collector",
                       "client_secret": {"env": "COLLECTOR_DEMO_IMAGICLE_GLOBEX_SECRET"},
                       "scope": "voice-analytics/recordings.read"},
             "audio_url_template": "/v1/recordings/{id}/audio"},
        ]


def _demo_secret(label: str) -> str:
    return "demo-" + base64.b32encode(label.encode()).decode().rstrip("=").lower()
