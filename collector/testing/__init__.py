"""Testing tools for plugin authors (needs pytest, a test dependency).

- `SourceConformance`, `Emulation`, `Expectations`: the suite a plugin's tests inherit; it runs
  the plugin against the plugin's own emulator (see `collector.emulator`) with faults on.
- `write_config`, `collect`, `inspect_store`, `find_secrets`, `query_catalog`, `sync_state`,
  `wait_until_committed`: run the collector in a test the way `collector run` does and check what
  it stored.
"""

from ._conformance import Emulation, Expectations, SourceConformance
from ._harness import (
    StoreContents,
    collect,
    find_secrets,
    inspect_store,
    query_catalog,
    sync_state,
    wait_until_committed,
    write_config,
)

__all__ = [
    "Emulation",
    "Expectations",
    "SourceConformance",
    "StoreContents",
    "collect",
    "find_secrets",
    "inspect_store",
    "query_catalog",
    "sync_state",
    "wait_until_committed",
    "write_config",
]
