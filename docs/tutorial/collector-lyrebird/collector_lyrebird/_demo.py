"""Two emulated Lyrebird accounts for `collector demo`, with the same recordings every time.

Every recording is `completed`, `deleted` or `restricted` (none is still processing), so a demo
pass completes (exit code 0) and a second one finds nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.emulator import StorageServer

from ._emudata import Account
from .emulator import LyrebirdEmulator

NEWEST = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
ACCOUNTS = {"harbour": 14, "meadow": 9}


@contextmanager
def demo_accounts() -> Iterator[list[dict[str, Any]]]:
    """Start the API and storage hosts on 127.0.0.1; yield a `[[sources]]` table per account."""
    variables = {name: f"COLLECTOR_DEMO_LYREBIRD_{name.upper()}" for name in ACCOUNTS}
    saved = {variable: os.environ.get(variable) for variable in variables.values()}
    with StorageServer() as storage, LyrebirdEmulator(storage, page_size_cap=5) as api:
        tables = []
        for name, count in ACCOUNTS.items():
            account = api.add_account(Account(name))
            account.add_history(count, NEWEST, every=timedelta(minutes=11))
            os.environ[variables[name]] = account.token
            tables.append({"plugin": "lyrebird", "tenant": name, "base_url": api.url,
                           "account_sid": account.sid, "auth_token": {"env": variables[name]},
                           "start": "2026-03-01T00:00:00Z"})
        try:
            yield tables
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
