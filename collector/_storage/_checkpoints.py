"""Checkpoints of the evidence chain: written at the end of every pass, and copied out of the store's reach.

A checkpoint is the chain's event count and head hash at a moment (`collector._storage._catalog._chain`).
It goes to the catalog (`checkpoints`), the run's summary and its log line, and, where `[evidence]`
says so, to places the store's writer cannot rewrite:

- `checkpoint_dir`: one new file per checkpoint, `checkpoint-<events>-<id>-<time>.json`, created
  exclusively (an existing file is never replaced), fsynced and made read-only; point it at a
  mount on another machine, or ship the folder elsewhere (mail it, print it, commit it);
- `checkpoint_object_lock_days` (S3 stores): one new object per checkpoint under
  `_checkpoints/`, put-if-absent with S3 Object Lock in compliance mode for that many days, so
  not even the bucket's owner can change or delete it before then.

A copy that cannot be written is reported (the log, the summary) and the pass goes on: the
checkpoint is still in the catalog, and the next pass's checkpoint covers everything before it.
`collector.archive_check --checkpoint FILE` compares copies with the chain.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from collector._base._settings_tables import EvidenceSettings

from ._catalog import Checkpoint
from ._files import fsync_dir
from ._store import Store

log = logging.getLogger("collector.evidence")

OBJECT_PREFIX = "_checkpoints/"


@dataclass(frozen=True)
class CheckpointResult:
    """A pass's checkpoint, where its copies went, and the copies that could not be written."""

    checkpoint: Checkpoint
    chain_id: str
    copies: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for the run's summary."""
        return {"events": self.checkpoint.events, "head": self.checkpoint.head, "at": self.checkpoint.at,
                "chain": self.chain_id, "copies": list(self.copies), "problems": list(self.problems)}

    def sentence(self) -> str:
        """One line for the summary and the log."""
        text = (f"Evidence chain checkpoint: {self.checkpoint.events:,} events, head {self.checkpoint.head[:16]}"
                + (f", copied to {', '.join(self.copies)}" if self.copies else ""))
        return text + "." + "".join(f" {problem}" for problem in self.problems)


def write_checkpoint(store: Store, settings: EvidenceSettings, run_id: int | None) -> CheckpointResult:
    """Record the chain's head in the catalog and write its copies (call on the store's thread)."""
    checkpoint = store.catalog.checkpoint(run_id)
    chain_id = store.catalog.chain_id()
    document = json.dumps(checkpoint.document(chain_id), sort_keys=True, indent=1).encode() + b"\n"
    stamp = checkpoint.at[:19].replace(":", "").replace("-", "")
    name = f"checkpoint-{checkpoint.events:012d}-{checkpoint.id:08d}-{stamp}Z.json"
    copies: list[str] = []
    problems: list[str] = []
    if settings.checkpoint_dir is not None:
        try:
            copies.append(str(_write_file(settings.checkpoint_dir, name, document)))
        except OSError as exc:
            problems.append(f"The checkpoint could not be written to {settings.checkpoint_dir} "
                            f"({exc.strerror or exc}); check [evidence] checkpoint_dir.")
    if settings.checkpoint_object_lock_days is not None:
        put_locked = getattr(store.objects, "put_locked", None)
        if put_locked is None:
            problems.append("[evidence] checkpoint_object_lock_days needs an S3 store ([store.s3]); the checkpoint "
                            "was not written to a bucket.")
        else:
            try:
                copies.append(put_locked(OBJECT_PREFIX + name, document, settings.checkpoint_object_lock_days))
            except OSError as exc:
                problems.append(f"The checkpoint could not be written to the bucket ({exc}); check that Object Lock "
                                "is enabled on it.")
    if copies:
        store.catalog.checkpoint_copied(checkpoint, copies)
    result = CheckpointResult(checkpoint, chain_id, tuple(copies), tuple(problems))
    log.log(logging.ERROR if problems else logging.INFO, result.sentence(),
            extra={"event": "checkpoint", **result.as_dict()})
    return result


def _write_file(folder: Path, name: str, data: bytes) -> Path:
    """Create `folder/name` with `data`, never replacing a file, fsynced and read-only."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(folder)
    return path
