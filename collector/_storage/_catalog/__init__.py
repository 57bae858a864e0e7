"""The catalog: what the store holds, what is still to do, and every run's summary.

One SQLite file beside the audio (the embedded default), or a PostgreSQL database (scale-out),
with the same schema and queries (`_dialect` holds what differs), split by job:

- `_db`          the connection, transactions and the migration runner (`_postgres`: the
                 PostgreSQL connection, shaped like sqlite3's);
- `_chain`       the evidence chain: events appended in the transaction of the change they
                 record, and its checkpoints;
- `_schema`      the schema, as the migrations that build it;
- `_recordings`  `recordings` (normalized metadata plus the vendor payload, keyed (source, tenant,
                 vendor_id)), `sync_state` (written in the same transaction as the page of
                 recordings it covers), `quarantine` of bad items, `audit`;
- `_work`        `audio` and `transcripts`: one work row per recording and kind, and its
                 transitions (see `WorkKind`), plus `egress` for rolling budgets;
- `_revisits`    `revisits`: parents whose children the vendor attaches later, queued with their
                 listing page and visited until they settle (claims, visits, what `status` shows);
- `_runs`        `runs`, `run_tenants`, and the queries behind `status`;
- `_evidence`    `verify` (findings, positions), `report`, `export`, `reset` and `retry`;
- `_counts`      `vendor_counts` (the vendor's own count of each settled day) and the rows
                 `collector report` reads;
- `_cluster`     what workers on several machines share: tenant leases (fenced writes), rate-limit
                 ledgers, enqueued passes;
- `_pauses`      `route_pauses`: routes a vendor's quota closed for a tenant, until when;
- `_migration`   what `migrate-store` reads of one catalog and writes into another: every table,
                 its rows with their ids, the files rows name, the migration's marker.

Nothing outside this package runs SQL or touches a connection: the rest of the collector calls
typed methods (`query` is for tests and `collector.testing`, which read a finished run's catalog).

Each job is a mixin that inherits only what it builds on: every one the connection (`Database`);
`_work` and `_evidence` the chain they append to (`ChainCatalog`); `_recordings` the work it
queues (`WorkCatalog`). `Catalog` puts them together. Kept as mixins rather than parts held by a
`Catalog` object: a method of one job often writes another's rows in its own transaction (a page
of recordings queues their work and appends to the chain), which composition would turn into
objects passing a connection around.

Every method is one transaction. The catalog is used from one thread at a time (the store runs
it on a dedicated worker thread); SQLite runs in WAL mode so `collector status` can read during a
run.
"""

from ._chain import Checkpoint
from ._cluster import ClusterCatalog, LeaseLost, LedgerRow
from ._counts import CountsCatalog, DayCount, ReportRow
from ._db import CatalogVersionError
from ._evidence import EvidenceCatalog, Finding, Scope, StoredFile, VerifyPosition
from ._migration import MigrationCatalog, Table, schema_tables, snapshot_sqlite
from ._pauses import PausesCatalog
from ._postgres import PostgresTarget
from ._recordings import RecordingsCatalog
from ._revisits import DueParent, RevisitsCatalog, Visited
from ._rows import PageCounts, Rejected, StoredAudio, WorkPlan
from ._runs import RunsCatalog
from ._schema import LATEST as SCHEMA_VERSION
from ._work import AUDIO, KINDS, TRANSCRIPT, WorkKind


class Catalog(RecordingsCatalog, RevisitsCatalog, RunsCatalog, EvidenceCatalog, CountsCatalog, PausesCatalog,
              ClusterCatalog, MigrationCatalog):
    """The store's database (a SQLite file, or a `PostgresTarget`); each public method is one transaction."""


__all__ = ["AUDIO", "KINDS", "SCHEMA_VERSION", "TRANSCRIPT", "Catalog", "CatalogVersionError", "Checkpoint", "DayCount",
           "DueParent", "Finding", "LeaseLost", "LedgerRow", "PageCounts", "PostgresTarget", "Rejected", "ReportRow",
           "Scope", "StoredAudio", "StoredFile", "Table", "VerifyPosition", "Visited", "WorkKind", "WorkPlan",
           "schema_tables", "snapshot_sqlite"]
