"""The catalog's schema, as the list of migrations that builds it.

A new catalog runs every migration in order; an existing one runs those after its version.
Never edit a migration that has shipped: add the next one, and a fixture written by the version
before it (`tests/fixtures/catalog-v<N>.sql`) for the test that opens it.

Versions:
1. the first schema (recordings, audio, transcripts, sync_state, quarantine, audit, egress, runs).
2. "waiting for the vendor" for both work kinds: transcripts' `not_ready` becomes `waiting`, their
   `none` becomes `unavailable`, `retry_until` becomes `wait_until`; audio gains `wait_until`.
3. evidence: `last_verified` on stored files, a sha256 and size for transcripts, `not_before` (when a
   deferred item can resume), `damaged` (when `verify` found the stored copy damaged or missing:
   such an item that cannot be fetched again is `lost`), `resolved` on quarantine entries that were
   later stored correctly,
   and the tables `findings` (what `verify` found), `listings` (the vendor's own count per listing
   window), `verify_positions` (where a sliced `verify` continues), `operations` (what `reset`,
   `retry` and `verify` did) and `restarts` (a pending `reset --from`).
4. queries that stay flat as a store grows: `due_at` (the recording's start while an item is due,
   NULL once settled) with a partial index the claims walk in order; a partial index of waiting
   items by `wait_until`; `tenant_counts` (recordings per tenant, kept in the page's transaction);
   `work_coverage` (every recording of a tenant has a row of a kind, so a run need not look for
   missing ones); a partial index of open quarantine entries by item (resolved when it is stored).
5. several workers: `tenant_leases`, `rate_ledgers`, `cluster_passes` (see `_cluster`).
6. evidence that proves (see `_chain` and `collector.archive_check`): each stored file's `evidence`
   level and the `checks` behind it, and its chain of custody (`fetched`, `endpoint`, `request_id`,
   `content_length`); the vendor's retention (`retain_until`, `legal_hold`) on recordings, and on
   stored audio whether a change of it is still to be applied to its object (`retention_due`); the
   append-only hash `chain` of evidence events, its `chain_head` and `checkpoints`; and
   `vendor_counts`, the vendor's own count of a settled day; the toolkit's `route_pauses` (a route
   the vendor's daily quota closed, until when) and `revisits` (listed items whose children the
   vendor attaches later, visited again until they settle: with how many children were found
   through each and how many visits in a row failed). Each stored file row names the chain
   event that recorded it as it is (`chain_seq`). The migration starts the chain with a genesis
   event that says from when it vouches, and one `adopted` event per file already stored.
"""

from __future__ import annotations

_V1 = """
CREATE TABLE IF NOT EXISTS recordings (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    call_id TEXT, start_utc TEXT NOT NULL, end_utc TEXT, duration REAL,
    direction TEXT NOT NULL, parties TEXT NOT NULL, tags TEXT NOT NULL,
    media TEXT NOT NULL, media_size INTEGER, extras TEXT NOT NULL, raw TEXT NOT NULL,
    first_seen TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE TABLE IF NOT EXISTS audio (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_run INTEGER, reason TEXT,
    path TEXT, sha256 TEXT, size INTEGER, container TEXT, codec TEXT, sample_rate INTEGER,
    channels INTEGER, decoded_duration REAL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE INDEX IF NOT EXISTS audio_todo ON audio (source, tenant, status);
CREATE TABLE IF NOT EXISTS transcripts (
    source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_run INTEGER, reason TEXT,
    retry_until TEXT NOT NULL, path TEXT, segments INTEGER, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant, vendor_id)
);
CREATE INDEX IF NOT EXISTS transcripts_todo ON transcripts (source, tenant, status);
CREATE TABLE IF NOT EXISTS sync_state (
    source TEXT NOT NULL, tenant TEXT NOT NULL, state TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (source, tenant)
);
CREATE TABLE IF NOT EXISTS quarantine (
    source TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, fingerprint TEXT NOT NULL,
    item_id TEXT, reason TEXT NOT NULL, payload TEXT, path TEXT,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, tenant, kind, fingerprint)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT NOT NULL,
    at TEXT NOT NULL, action TEXT NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS egress (
    source TEXT NOT NULL, tenant TEXT NOT NULL, at TEXT NOT NULL, bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS egress_by_tenant ON egress (source, tenant, at);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, exit_code INTEGER, outcome TEXT
);
CREATE TABLE IF NOT EXISTS run_tenants (
    run_id INTEGER NOT NULL, source TEXT NOT NULL, tenant TEXT NOT NULL, status TEXT NOT NULL,
    summary TEXT NOT NULL, PRIMARY KEY (run_id, source, tenant)
);
"""

_V2 = """
ALTER TABLE transcripts RENAME COLUMN retry_until TO wait_until;
UPDATE transcripts SET status='waiting' WHERE status='not_ready';
UPDATE transcripts SET status='unavailable' WHERE status='none';
ALTER TABLE audio ADD COLUMN wait_until TEXT;
"""


_V3 = """
ALTER TABLE audio ADD COLUMN last_verified TEXT;
ALTER TABLE audio ADD COLUMN not_before TEXT;
ALTER TABLE audio ADD COLUMN damaged TEXT;
ALTER TABLE transcripts ADD COLUMN damaged TEXT;
ALTER TABLE transcripts ADD COLUMN sha256 TEXT;
ALTER TABLE transcripts ADD COLUMN size INTEGER;
ALTER TABLE transcripts ADD COLUMN last_verified TEXT;
ALTER TABLE transcripts ADD COLUMN not_before TEXT;
ALTER TABLE quarantine ADD COLUMN resolved TEXT;
CREATE TABLE findings (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, tenant TEXT NOT NULL, vendor_id TEXT, kind TEXT NOT NULL,
    problem TEXT NOT NULL, path TEXT, found TEXT NOT NULL, detail TEXT NOT NULL, action TEXT NOT NULL
);
CREATE INDEX findings_by_tenant ON findings (source, tenant, found);
CREATE INDEX audio_by_path ON audio (path);
CREATE INDEX transcripts_by_path ON transcripts (path);
CREATE TABLE listings (
    source TEXT NOT NULL, tenant TEXT NOT NULL, window_start TEXT NOT NULL, window_end TEXT NOT NULL,
    vendor_count INTEGER, listed INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (source, tenant, window_start, window_end)
);
CREATE TABLE verify_positions (
    scope TEXT PRIMARY KEY, position TEXT, files INTEGER NOT NULL, bytes INTEGER NOT NULL, updated TEXT NOT NULL
);
CREATE TABLE operations (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, command TEXT NOT NULL, source TEXT, tenant TEXT, detail TEXT NOT NULL
);
CREATE TABLE restarts (
    source TEXT NOT NULL, tenant TEXT NOT NULL, since TEXT, requested TEXT NOT NULL, PRIMARY KEY (source, tenant)
);
UPDATE quarantine SET resolved=(SELECT a.updated FROM audio a WHERE a.source=quarantine.source
    AND a.tenant=quarantine.tenant AND a.vendor_id=quarantine.item_id AND a.status='stored')
    WHERE kind='audio';
UPDATE quarantine SET resolved=(SELECT t.updated FROM transcripts t WHERE t.source=quarantine.source
    AND t.tenant=quarantine.tenant AND t.vendor_id=quarantine.item_id AND t.status='stored')
    WHERE kind='transcript';
UPDATE quarantine SET resolved=(SELECT r.updated FROM recordings r WHERE r.source=quarantine.source
    AND r.tenant=quarantine.tenant AND r.vendor_id=quarantine.item_id)
    WHERE kind='metadata';
"""


_V4 = """
ALTER TABLE audio ADD COLUMN due_at TEXT;
ALTER TABLE transcripts ADD COLUMN due_at TEXT;
UPDATE audio SET due_at=(SELECT r.start_utc FROM recordings r WHERE r.source=audio.source AND r.tenant=audio.tenant
    AND r.vendor_id=audio.vendor_id) WHERE status IN ('pending', 'waiting') OR (status='quarantined' AND attempts<5);
UPDATE transcripts SET due_at=(SELECT r.start_utc FROM recordings r WHERE r.source=transcripts.source
    AND r.tenant=transcripts.tenant AND r.vendor_id=transcripts.vendor_id) WHERE status IN ('pending', 'waiting');
CREATE INDEX audio_due ON audio (source, tenant, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX transcripts_due ON transcripts (source, tenant, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX audio_waiting ON audio (source, tenant, wait_until) WHERE status='waiting';
CREATE INDEX quarantine_open ON quarantine (source, tenant, kind, item_id) WHERE resolved IS NULL;
CREATE INDEX transcripts_waiting ON transcripts (source, tenant, wait_until) WHERE status='waiting';
CREATE TABLE tenant_counts (
    source TEXT NOT NULL, tenant TEXT NOT NULL, recordings INTEGER NOT NULL, PRIMARY KEY (source, tenant)
);
INSERT INTO tenant_counts SELECT source, tenant, COUNT(*) FROM recordings GROUP BY source, tenant;
CREATE TABLE work_coverage (source TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (source, tenant, kind));
"""

_V5 = """
CREATE TABLE tenant_leases (
    source TEXT NOT NULL, tenant TEXT NOT NULL, epoch INTEGER NOT NULL, worker TEXT, expires REAL NOT NULL,
    PRIMARY KEY (source, tenant)
);
CREATE TABLE rate_ledgers (account TEXT PRIMARY KEY, slots TEXT NOT NULL);
CREATE TABLE cluster_passes (name TEXT PRIMARY KEY, enqueued TEXT NOT NULL, tenants INTEGER NOT NULL);
"""


_V6 = """
ALTER TABLE recordings ADD COLUMN retain_until TEXT;
ALTER TABLE recordings ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audio ADD COLUMN evidence TEXT;
ALTER TABLE audio ADD COLUMN checks TEXT;
ALTER TABLE audio ADD COLUMN fetched TEXT;
ALTER TABLE audio ADD COLUMN endpoint TEXT;
ALTER TABLE audio ADD COLUMN request_id TEXT;
ALTER TABLE audio ADD COLUMN content_length INTEGER;
ALTER TABLE audio ADD COLUMN chain_seq INTEGER;
ALTER TABLE audio ADD COLUMN retention_due INTEGER;
ALTER TABLE transcripts ADD COLUMN evidence TEXT;
ALTER TABLE transcripts ADD COLUMN fetched TEXT;
ALTER TABLE transcripts ADD COLUMN chain_seq INTEGER;
CREATE INDEX audio_by_chain ON audio (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX transcripts_by_chain ON transcripts (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX audio_retention_due ON audio (source, tenant) WHERE retention_due=1;
CREATE INDEX recordings_by_start ON recordings (source, tenant, start_utc);
CREATE INDEX run_tenants_by_tenant ON run_tenants (source, tenant, run_id);
CREATE INDEX audit_by_item ON audit (source, tenant, vendor_id);
CREATE INDEX recordings_held ON recordings (source, tenant, vendor_id) WHERE legal_hold=1 OR retain_until IS NOT NULL;
CREATE TABLE chain (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE chain_head (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, run_id INTEGER, events INTEGER NOT NULL, head TEXT NOT NULL,
    copies TEXT
);
CREATE TABLE route_pauses (
    source TEXT NOT NULL, tenant TEXT NOT NULL, route TEXT NOT NULL, until TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (source, tenant, route)
);
CREATE TABLE revisits (
    source TEXT NOT NULL, tenant TEXT NOT NULL, item_id TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
    first_seen TEXT NOT NULL, due_at TEXT, deadline TEXT NOT NULL, visits INTEGER NOT NULL DEFAULT 0,
    last_run INTEGER, reason TEXT, updated TEXT NOT NULL, children INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, tenant, item_id)
);
CREATE INDEX revisits_due ON revisits (source, tenant, due_at) WHERE due_at IS NOT NULL;
CREATE TABLE vendor_counts (
    source TEXT NOT NULL, tenant TEXT NOT NULL, day TEXT NOT NULL, zone TEXT NOT NULL,
    day_start TEXT NOT NULL, day_end TEXT NOT NULL, vendor_count INTEGER NOT NULL, method TEXT NOT NULL,
    missing TEXT, at TEXT NOT NULL,
    PRIMARY KEY (source, tenant, day)
);
"""


def statements(sql: str) -> list[str]:
    """A migration's statements, one by one."""
    return [statement for statement in sql.split(";") if statement.strip()]


MIGRATIONS: list[tuple[int, str]] = [(1, _V1), (2, _V2), (3, _V3), (4, _V4), (5, _V5), (6, _V6)]
"""(version reached, its SQL in SQLite's types) in order; `_dialect.postgres_ddl` translates it."""

LATEST = MIGRATIONS[-1][0]
