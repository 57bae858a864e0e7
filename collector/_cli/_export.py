"""`collector export`: every recording in scope with its files, as JSON lines or CSV, streamed.

Rows come from the catalog in batches and are written as they come, so memory stays flat however
many recordings there are (1,000,000 rows take no more than 1,000). Ids and text are written
exactly as the catalog holds them: JSON escapes what UTF-8 cannot carry, and CSV is written with
`surrogatepass` so that reading it back the same way gives the catalog's values exactly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from collector._storage._catalog import Catalog, Scope

FIELDS = ("source", "tenant", "vendor_id", "call_id", "start", "end", "duration", "direction", "parties", "tags",
          "media", "media_size", "extras", "audio_status", "audio_path", "audio_sha256", "audio_size", "codec",
          "sample_rate", "channels", "audio_duration", "last_verified", "transcript_status", "transcript_path",
          "transcript_sha256", "retain_until", "legal_hold", "audio_evidence", "audio_checks", "audio_fetched",
          "audio_endpoint", "audio_request_id", "audio_content_length", "audio_chain_event", "transcript_fetched",
          "transcript_chain_event", "audit")
"""Every exported field. Per stored file, the chain of custody: when it was fetched, from which
endpoint (method and path, no query string), the vendor's request id, the Content-Length the
answer announced, its sha256, what proved it (`audio_evidence`, `audio_checks`: see
`collector._storage._proof`) and the evidence chain event that recorded it; per recording, the vendor's
retention (`retain_until`, `legal_hold`) and our audit rows ([time, action, detail], e.g. the
justification sent with a download)."""
_JSON_COLUMNS = {"parties", "tags", "extras", "audio_checks", "audit"}


def export_records(catalog: Catalog, scope: Scope) -> Iterable[dict[str, Any]]:
    """The recordings in `scope`, one dict per recording (nested fields parsed)."""
    for row in catalog.export_rows(scope):
        record = dict(zip(FIELDS, row, strict=True))
        for name in _JSON_COLUMNS:
            if record[name] is not None:
                record[name] = json.loads(record[name])
        record["legal_hold"] = bool(record["legal_hold"])
        yield record


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns how many."""
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n")
        count += 1
    return count


def write_csv(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    """A header, then one row per recording (parties, tags and extras as JSON); returns how many."""
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    count = 0
    for record in records:
        writer.writerow([json.dumps(record[f], ensure_ascii=False) if f in _JSON_COLUMNS else
                         ("" if record[f] is None else record[f]) for f in FIELDS])
        count += 1
    return count
