"""Check a recording-collector store's evidence chain with Python's standard library alone.

This file depends on nothing but Python 3.11's standard library, so it can be copied next to a
copy of a store and run where the collector was never installed:

    python3 archive_check.py STORE_FOLDER                 an embedded store (catalog.sqlite + files)
    python3 archive_check.py --export EXPORT.jsonl        a PostgreSQL + S3 store, through
                                                          `collector export --chain`
    ... --checkpoint FILE [--checkpoint FILE ...]         checkpoints kept outside the store

The chain's definition (the collector writes it with these same functions):

    event(n)  canonical JSON: keys sorted, separators "," and ":", ASCII only (json.dumps)
    hash(0)   64 zeros
    hash(n)   SHA-256 hex of  hash(n-1) + "\\n" + event(n)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64
"""The link before the first event."""


def canonical(event: dict[str, Any]) -> str:
    """An event as the chain hashes it: one line of ASCII JSON, keys sorted, no spaces."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def link(previous: str, event: str) -> str:
    """The link hash of an event (canonical text) that follows the link `previous`."""
    return hashlib.sha256(f"{previous}\n{event}".encode("ascii")).hexdigest()
