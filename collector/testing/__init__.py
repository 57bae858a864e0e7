"""Testing tools for plugin authors (needs pytest, a test dependency).

- `SourceConformance`, `Emulation`, `Expectations`: the suite a plugin's tests inherit; it runs
  the plugin against the plugin's own emulator (see `collector.emulator`) with faults on.
- `write_config`, `collect`, `inspect_store`, `find_secrets`, `query_catalog`, `sync_state`,
  `wait_until_committed`: run the collector in a test the way `collector run` does and check what
  it stored.
- `PostgresServer`, `S3Server`: a real PostgreSQL and a real S3 endpoint (SeaweedFS) on loopback,
  for testing a plugin on the scale-out backends.
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
from ._servers import PostgresServer, S3Server

__all__ = [
    "Emulation",
    "Expectations",
    "PostgresServer",
    "S3Server",
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
