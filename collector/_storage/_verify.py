"""`collector verify`: read stored files back and prove they are what the catalog says they are.

For each stored audio file and transcript in scope (tenants, a date range), in key order:

- it must exist, have the size the catalog recorded and the sha256 computed when it was stored;
- with `decode`, audio is decoded to the end again and must still match its recorded codec,
  sample rate, channels and duration (transcripts must still parse as JSON).

A file that passes gets `last_verified`. A missing or damaged one is a *finding*, kept in the
catalog with the time it was found: a damaged copy is moved to `.quarantine/<source>/<tenant>/damaged/`
(never deleted), and the item is queued for download again, so the next run repairs it; when the
vendor no longer lists its media, it is *lost* instead. Files under the tenants' folders that the
catalog does not know are listed (and recorded) too, once per complete pass.

Large archives are scrubbed a slice at a time, like restic's `check --read-data-subset`:
`max_bytes` and `max_time` stop a verify early and the position is kept per scope, so the next
verify continues where this one stopped; `max_rate` bounds the read rate (bytes a second) so a
scrub does not starve the disk. Exit codes: 0 clean, 1 problems found (and queued again), 6 lost.
"""

from __future__ import annotations

import collections
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TextIO

from collector import archive_check
from collector._base._exits import EXIT_LOST, EXIT_OK, EXIT_PARTIAL
from collector._base._time import iso, now_utc

from ._catalog import Catalog, Finding, Scope, StoredFile, VerifyPosition
from ._files import safe_segment
from ._store import Store

_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifyOptions:
    """How much a verify does: decode audio too, and the limits of one slice."""

    decode: bool = False
    max_bytes: int | None = None
    max_time: float | None = None
    max_rate: float | None = None


@dataclass
class VerifyResult:
    """What one verify checked and found."""

    files: int = 0
    bytes: int = 0
    findings: list[Finding] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    lost: int = 0
    cycle_complete: bool = False
    resumed: bool = False
    levels: collections.Counter[str] = field(default_factory=collections.Counter)
    """Intact audio files by evidence level (see `collector._storage._proof`; "unrecorded": stored before levels)."""
    derived: list[tuple[StoredFile, str, list[str]]] = field(default_factory=list)
    """Levels `--decode` derived for files stored without one (recorded with the slice)."""

    @property
    def exit_code(self) -> int:
        """0 clean, 1 problems found (queued again), 6 something is lost."""
        if self.lost:
            return EXIT_LOST
        return EXIT_PARTIAL if self.findings or self.orphans else EXIT_OK


class _Throttle:
    """Keeps reading at or below `rate` bytes a second."""

    def __init__(self, rate: float | None) -> None:
        self._rate, self._started, self._read = rate, time.monotonic(), 0

    def read(self, count: int) -> None:
        self._read += count
        if self._rate:
            ahead = self._read / self._rate - (time.monotonic() - self._started)
            if ahead > 0:
                time.sleep(ahead)


def verify_store(store: Store, scope: Scope, options: VerifyOptions = VerifyOptions(),
                 progress: Callable[[VerifyResult], None] | None = None) -> VerifyResult:
    """Verify the stored files in `scope`, from where the last verify of it stopped (hold the store's lock)."""
    catalog = store.catalog
    saved = catalog.verify_position(scope)
    result = VerifyResult(resumed=saved.position is not None)
    throttle = _Throttle(options.max_rate)
    started = time.monotonic()
    position = saved.position
    while True:
        batch = catalog.stored_files(scope, position)
        if not batch:
            break
        intact: list[StoredFile] = []
        for file in batch:
            if _over_limits(result, options, started):
                catalog.verified(intact)
                _record_levels(catalog, result)
                catalog.save_verify_position(scope, VerifyPosition(position, saved.files + result.files,
                                                                   saved.bytes + result.bytes))
                return _finish(store, scope, result)
            finding = _check(store, file, options, throttle, result)
            if finding is None:
                intact.append(file)
            else:
                _record(store, finding, result)
            position = file.position
            if progress is not None:
                progress(result)
        catalog.verified(intact)
        _record_levels(catalog, result)
    result.cycle_complete = True
    result.orphans = _orphans(store, scope)
    catalog.save_verify_position(scope, VerifyPosition(None, 0, 0))
    return _finish(store, scope, result)


def _record_levels(catalog: Catalog, result: VerifyResult) -> None:
    """Keep the evidence levels `--decode` derived so far (then count them as recorded)."""
    if result.derived:
        catalog.evidence_found(result.derived)
        for _file, level, _ in result.derived:
            result.levels["unrecorded"] -= 1
            result.levels[level] += 1
        result.levels += collections.Counter()  # drop zero counts
        result.derived.clear()


def _finish(store: Store, scope: Scope, result: VerifyResult) -> VerifyResult:
    result.lost = store.catalog.lost_items(scope)
    store.catalog.record_operation(
        "verify", f"{result.files} files ({result.bytes:,} bytes) checked, {len(result.findings)} problem(s), "
        f"{len(result.orphans)} unknown file(s), {result.lost} lost; "
        + ("a full pass ended" if result.cycle_complete else "the next verify continues from here"))
    return result


def _over_limits(result: VerifyResult, options: VerifyOptions, started: float) -> bool:
    if options.max_bytes is not None and result.bytes >= options.max_bytes:
        return True
    return options.max_time is not None and time.monotonic() - started >= options.max_time


def _check(store: Store, file: StoredFile, options: VerifyOptions, throttle: _Throttle,
           result: VerifyResult) -> Finding | None:
    """None if the file is intact (counted by its evidence level), else what is wrong with it."""
    finding = _read_back(store, file, options, throttle, result)
    if finding is None and file.kind.name == "audio":
        result.levels[file.evidence or "unrecorded"] += 1
    return finding


def _read_back(store: Store, file: StoredFile, options: VerifyOptions, throttle: _Throttle,
               result: VerifyResult) -> Finding | None:
    try:
        size = store.objects.size(file.path)
    except (OSError, ValueError) as exc:
        return Finding(file, "unreadable", f"it cannot be read ({exc})")
    if size is None:
        return Finding(file, "missing", "no file at the recorded path")
    result.files += 1
    if file.size is not None and size != file.size:
        result.bytes += size
        return Finding(file, "size", f"{size:,} bytes where {file.size:,} were stored")
    digest = hashlib.sha256()
    try:
        for chunk in store.objects.chunks(file.path):
            digest.update(chunk)
            result.bytes += len(chunk)
            throttle.read(len(chunk))
    except OSError as exc:
        return Finding(file, "unreadable", f"it cannot be read ({exc.strerror or exc})")
    if file.sha256 is not None and digest.hexdigest() != file.sha256:
        return Finding(file, "sha256", "its content is not the content that was stored (sha256 differs)")
    if file.sha256 is None or options.decode:
        with store.objects.local_copy(file.path) as path:
            return _decode(path, file, result)
    return None


def _decode(path: Path, file: StoredFile, result: VerifyResult) -> Finding | None:
    if file.kind.name == "transcript":
        try:
            json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            return Finding(file, "decode", f"it is not a readable transcript ({type(exc).__name__})")
        return None
    from ._audio import AudioRejected, probe_audio
    from ._proof import VENDOR_SIZE, level_of, ordered

    try:
        probe = probe_audio(path, expected_duration=file.duration, expected_channels=file.channels,
                            expected_sample_rate=file.sample_rate, expected_codec=file.codec, decode=True)
    except AudioRejected as exc:
        return Finding(file, "decode", exc.reason.rstrip("."))
    if file.evidence is None:  # stored before levels were kept: what proves it now
        checks = set(probe.checks) | ({VENDOR_SIZE} if file.announced_size == file.size else set())
        result.derived.append((file, level_of(checks), ordered(checks)))
    return None


def _record(store: Store, finding: Finding, result: VerifyResult) -> None:
    """Keep a damaged copy in quarantine, then tell the catalog (which queues it again or marks it lost)."""
    file = finding.file
    if finding.problem != "missing":
        stamp = iso(now_utc(), "seconds").replace(":", "")
        name = PurePosixPath(file.path).name
        kept = str(PurePosixPath(".quarantine", safe_segment(file.key.source), safe_segment(file.key.tenant),
                                 "damaged", f"{stamp}-{name}"))
        try:
            if store.catalog.held(file.key):  # never deleted while the vendor holds it: a copy goes to quarantine
                store.objects.copy(file.path, kept)
                finding.moved_to = kept
                finding.detail += ("; the vendor's retention or legal hold keeps the original where it is (a copy "
                                   "is in quarantine)")
            else:
                moved = store.objects.move(file.path, kept)
                finding.moved_to = kept
                if not moved:
                    finding.detail += "; a retention lock keeps the original where it is (a copy is in quarantine)"
        except OSError:
            pass  # left where it is; the download that repairs it goes beside it
    finding.action = store.catalog.damaged(finding)
    result.findings.append(finding)


def _orphans(store: Store, scope: Scope) -> list[str]:
    """Files under the scope's tenant folders that the catalog does not know (recorded as findings):
    on S3 these include objects a retention lock kept after `verify` moved their copy to quarantine."""
    found: list[str] = []
    tenants = scope.tenants or tuple(store.catalog.tenants())
    for source, tenant in tenants:
        for key in store.objects.keys(f"{safe_segment(source)}/{safe_segment(tenant)}/"):
            if not store.catalog.known_path(key):
                store.catalog.orphan(source, tenant, key)
                found.append(key)
    return found


def checkpoint_files(folder: Path | None) -> list[Path]:
    """The checkpoint copies in an `[evidence] checkpoint_dir` (none if unset or absent)."""
    return sorted(folder.glob("checkpoint-*.json")) if folder is not None and folder.is_dir() else []


def check_chain(store: Store, checkpoints: Sequence[Path] = ()) -> archive_check.Result:
    """`verify --chain`: the evidence chain's links, its checkpoints (the catalog's and `checkpoints`)
    and the catalog's stored rows against it, by `collector.archive_check` (the files themselves
    are what a plain `verify` reads). A PostgreSQL catalog is exported to a scratch SQLite file
    first, exactly as `collector export --chain` would write it."""
    catalog = store.catalog
    if catalog.dialect.name == "sqlite":
        return archive_check.check_database(str(catalog.path), checkpoint_files=checkpoints)
    store.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.temp_dir) as scratch:
        database = str(Path(scratch) / "chain.sqlite")
        archive_check.load_export((json.dumps(record) for record in catalog.chain_export()), database)
        return archive_check.check_database(database, checkpoint_files=checkpoints)


def render_verify(result: VerifyResult, out: TextIO, *, as_json: bool) -> None:
    """What a verify checked, found and did: every finding, every unknown file, the totals."""
    if as_json:
        json.dump({
            "files": result.files, "bytes": result.bytes, "cycle_complete": result.cycle_complete,
            "resumed": result.resumed, "lost": result.lost, "exit_code": result.exit_code,
            "evidence": dict(result.levels),
            "findings": [{"source": f.file.key.source, "tenant": f.file.key.tenant, "vendor_id": f.file.key.vendor_id,
                          "kind": f.file.kind.name, "problem": f.problem, "detail": f.detail, "path": f.file.path,
                          "action": f.action, "kept_at": f.moved_to} for f in result.findings],
            "unknown_files": result.orphans,
        }, out, indent=2)
        out.write("\n")
        return
    for finding in result.findings:
        key = finding.file.key
        kept = f"; the damaged copy is kept at {finding.moved_to}" if finding.moved_to else ""
        what = "LOST" if finding.action == "lost" else "queued to be fetched again"
        out.write(f"{key.source}/{key.tenant} {finding.file.kind.name} {key.vendor_id!r}: {finding.problem} "
                  f"({finding.detail}): {what}{kept}.\n")
    for path in result.orphans:
        out.write(f"unknown file (the catalog has no recording for it): {path}\n")
    state = ("a full pass is complete" if result.cycle_complete
             else "stopped at its limit; the next verify continues from here")
    out.write(f"Verified {result.files} files ({result.bytes:,} bytes): {len(result.findings)} problem(s), "
              f"{len(result.orphans)} unknown file(s), {result.lost} lost; {state}.\n")
    if result.levels:
        from ._proof import DESCRIPTIONS, LEVELS

        out.write("Intact audio by evidence: " + "; ".join(
            f"{result.levels[level]} {DESCRIPTIONS[None if level == 'unrecorded' else level]}"
            for level in (*LEVELS, "unrecorded") if result.levels.get(level)) + ".\n")
