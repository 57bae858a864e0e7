"""Testing tools for plugin authors (needs pytest, a test dependency).

- `SourceConformance`, `Emulation`, `Expectations`: the suite a plugin's tests inherit; it runs
  the plugin against the plugin's own emulator (see `collector.emulator`) with faults on.
- `write_config`, `collect`, `inspect_store`, `find_secrets`, `query_catalog`, `sync_state`,
  `wait_until_committed`: run the collector in a test the way `collector run` does and check what
  it stored.
- `PostgresServer`, `S3Server`: a real PostgreSQL and a real S3 endpoint (SeaweedFS) on loopback,
  for testing a plugin on the scale-out backends; `scale_out` makes `write_config` put stores
  there; `location_of` says where a store's catalog and files are.
- `WorkerProcesses`, `overlapping_workers`: `collector worker` processes for cluster tests, and
  the check that a vendor never saw two workers at once for one tenant.
"""

from ._conformance import SourceConformance
from ._emulation import Emulation, Expectations
from ._fault_proxy import FaultyProxy
from ._harness import (
    StoreContents,
    collect,
    find_secrets,
    inspect_store,
    location_of,
    query_catalog,
    scale_out,
    sync_state,
    wait_until_committed,
    write_config,
)
from ._servers import PostgresServer, S3Server
from ._workers import WorkerProcesses, overlapping_workers

__all__ = [
    "Emulation",
    "Expectations",
    "FaultyProxy",
    "PostgresServer",
    "S3Server",
    "SourceConformance",
    "StoreContents",
    "WorkerProcesses",
    "collect",
    "find_secrets",
    "inspect_store",
    "location_of",
    "overlapping_workers",
    "query_catalog",
    "scale_out",
    "sync_state",
    "wait_until_committed",
    "write_config",
]
