"""Where a store keeps its files: a local folder (the embedded default) or an S3 bucket.

Both are addressed by the same keys, the store-relative paths `_files` builds
(`<source>/<tenant>/YYYY/MM/DD/<name>.<ext>`, `.quarantine/...`), and give the same promises:

- `put_file` stores a verified temporary file under its key **only if nothing is there yet**, or
  adopts what is there when it has the same size and sha256 (a retried upload after a crash); a
  different object already at the key is kept, and the new one goes beside it under a key that
  names its sha256, so nothing is ever overwritten. It returns the key the file is stored under,
  which is what the catalog records. Locally: fsync, rename, fsync of the folder. On S3: a
  streamed upload (multipart above 8 MiB, every part with its SHA-256 checksum), the whole file's
  sha256 in the object's metadata (`x-amz-meta-sha256`), then a HEAD to check it arrived whole.
- `chunks` reads an object back in pieces (memory flat) for `verify`; `size` says whether it is
  there; `local_copy` gives a file to decode; `move` keeps a damaged copy in quarantine (on S3: a
  copy, then the original deleted, unless a retention lock refuses it, which `verify` reports);
  `keys` lists what lies under a prefix, for `verify`'s unknown files.

obstore (a Rust S3 client) is imported only when a bucket is configured. It retries 5xx, 429 and
timeouts by itself with backoff; what still fails raises `OSError`, so the store treats it as a
failure of its own (downloads stop, nothing counts against a recording). One gap: obstore never
retries a put-if-absent whose connection broke (or timed out), since the object may have landed
and "create" is not idempotent to it; `put_file` tries such an upload again itself (our
put-if-absent-or-adopt is safe to repeat), else one dropped connection stopped the run's downloads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ._files import finish_file, fsync_dir, move_into_place, store_path, temp_file, write_atomic

_PART = 8 * 1024 * 1024
_READ = 1 << 20
_CLIENTS = 16
"""Clients kept for locked uploads (one per retain-until day and hold)."""
_UPLOAD_TRIES = 5
"""Tries of one upload that fails with obstore's GenericError (see the module docstring)."""


class BucketError(OSError):
    """The S3 bucket failed: unreachable, missing, refusing the credentials (the message names it)."""


class Objects(Protocol):
    """A store's files, by key."""

    where: str
    """Where they are, for messages (a folder, or s3://bucket/prefix)."""

    def put_file(self, temp: Path, key: str, sha256: str, size: int, *, retention: Retention | None = None) -> str:
        """Store `temp` under `key` (or beside it, see the module docstring), locked as `retention`
        says where the backend can lock; returns the key used."""

    def apply_retention(self, key: str, retention: Retention) -> str | None:
        """Bring an existing object's lock to `retention` (a legal hold set or lifted, a retention
        extended); None when done, else why not (a sentence)."""

    def copy(self, key: str, to: str) -> None:
        """Copy an object to another key, leaving it where it is (a held item's damaged copy)."""

    def put_bytes(self, key: str, data: bytes, *, keep: bool = False) -> str:
        """Store `data` (a transcript, ours) under `key`; returns the key used. A folder rewrites the
        file atomically unless `keep` (the recording is held: changed content goes beside it); a
        bucket never overwrites: changed content goes beside it, as `put_file`."""

    def size(self, key: str) -> int | None:
        """The object's size, or None if there is none."""

    def holds(self, key: str, size: int, sha256: str) -> bool:
        """Whether the object at `key` is exactly this file, its size and sha256 (a resumed copy skips
        it); False when there is none, or it cannot be read."""

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, piece by piece (raises OSError if it cannot be read)."""

    def local_copy(self, key: str) -> Any:
        """A context manager giving a local file with the object's bytes (for decoding it)."""

    def move(self, key: str, to: str) -> bool:
        """Move an object to another key; False if it had to stay (locked)."""

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix` (a folder-like prefix ending in "/")."""


@dataclass(frozen=True)
class Retention:
    """How an object is locked (S3 Object Lock): kept until `until` (compliance mode), and on legal
    hold while `legal_hold` is set."""

    until: str
    """The retain-until date-time as S3 writes it ("2035-04-29T23:59:59Z"; sorts as it compares)."""
    legal_hold: bool = False


def retention_for(minimum_days: float | None, vendor_until: datetime | None = None,
                  legal_hold: bool = False) -> Retention | None:
    """The lock for a source's audio: None when the source uses no Object Lock (`object_lock_days`
    unset); otherwise kept until the later of `minimum_days` from now and the vendor's own date,
    rounded up to the end of that UTC day (so a day's uploads share one client), on legal hold
    when the vendor holds the recording."""
    if minimum_days is None:
        return None
    end = datetime.now(UTC) + timedelta(days=minimum_days)
    if vendor_until is not None and vendor_until > end:
        end = vendor_until
    return Retention(end.strftime("%Y-%m-%dT23:59:59Z"), legal_hold)


def _retained_until(days: float | None) -> str:
    """When a retention of `days` from now ends, as `retention_for` rounds it; "" for none."""
    retention = retention_for(days)
    return retention.until if retention else ""


def alternative_key(key: str, sha256: str) -> str:
    """Where a file goes when another one already holds its key: its sha256 in the name."""
    path = PurePosixPath(key)
    return str(path.with_name(f"{path.stem}-{sha256[:16]}{path.suffix}"))


class LocalObjects:
    """Files in a folder: the embedded store."""

    def __init__(self, root: Path, temp_dir: Path) -> None:
        self.root = root
        self.where = str(root)
        self._temp_dir = temp_dir

    def path(self, key: str) -> Path:
        """The file of a key (never outside the folder)."""
        return store_path(self.root, Path(key))

    def _same(self, path: Path, sha256: str, size: int) -> bool:
        if path.stat().st_size != size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_READ):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def put_file(self, temp: Path, key: str, sha256: str, size: int, *, retention: Retention | None = None) -> str:
        """See `Objects.put_file` (a folder has no retention lock: the catalog's retention guards it)."""
        for candidate in (key, alternative_key(key, sha256)):
            final = self.path(candidate)
            if not final.exists():
                move_into_place(temp, final)
                return candidate
            if self._same(final, sha256, size):
                temp.unlink(missing_ok=True)
                fsync_dir(final.parent)
                return candidate
        raise FileExistsError(f"{key} and {alternative_key(key, sha256)} both hold other content")

    def put_bytes(self, key: str, data: bytes, *, keep: bool = False) -> str:
        """See `Objects.put_bytes` (a transcript is rewritten whole when it changes, it is ours,
        unless its recording is held)."""
        if keep and self.path(key).exists():
            with temp_file(self._temp_dir) as (temp, handle):
                handle.write(data)
                finish_file(handle)
                return self.put_file(temp, key, hashlib.sha256(data).hexdigest(), len(data))
        write_atomic(self.path(key), data, self._temp_dir)
        return key

    def size(self, key: str) -> int | None:
        """See `Objects.size`."""
        try:
            return self.path(key).stat().st_size
        except (OSError, ValueError):
            return None

    def holds(self, key: str, size: int, sha256: str) -> bool:
        """See `Objects.holds` (the file is read again)."""
        try:
            return self._same(self.path(key), sha256, size)
        except (OSError, ValueError):
            return False

    def chunks(self, key: str) -> Iterator[bytes]:
        """See `Objects.chunks`."""
        with self.path(key).open("rb") as handle:
            while chunk := handle.read(_READ):
                yield chunk

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """See `Objects.local_copy`: the file itself."""
        yield self.path(key)

    def move(self, key: str, to: str) -> bool:
        """See `Objects.move`."""
        move_into_place(self.path(key), self.path(to))
        return True

    def copy(self, key: str, to: str) -> None:
        """See `Objects.copy` (atomically: a temporary copy, fsynced, renamed)."""
        with temp_file(self._temp_dir) as (temp, handle), self.path(key).open("rb") as original:
            shutil.copyfileobj(original, handle, _READ)
            finish_file(handle)
            move_into_place(temp, self.path(to))

    def apply_retention(self, key: str, retention: Retention) -> str | None:
        """See `Objects.apply_retention`: a folder has no lock to change (the catalog's retention
        keeps every command from deleting or overwriting the file)."""
        return None

    def keys(self, prefix: str) -> Iterator[str]:
        """See `Objects.keys`."""
        folder = self.path(prefix.rstrip("/"))
        for directory, _, names in os.walk(folder):
            for name in sorted(names):
                yield str((Path(directory) / name).relative_to(self.root))


@dataclass(frozen=True)
class S3Location:
    """A bucket and what it takes to reach it (resolved secrets: never printed)."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    path_style: bool = True

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class S3Objects:
    """Objects in an S3 bucket (AWS, MinIO, Ceph, SeaweedFS, ...)."""

    def __init__(self, location: S3Location, temp_dir: Path) -> None:
        import obstore
        from obstore import exceptions

        self._obstore: Any = obstore
        self._exceptions: Any = exceptions
        self._location = location
        self._temp_dir = temp_dir
        self.where = str(location)
        self._stores: dict[Retention | None, Any] = {}
        self.store = self._store(None)

    def _store(self, retention: Retention | None) -> Any:
        """The client whose uploads are locked as `retention` says (None: no lock). The lock is a
        header of the client's, so there is one client per retain-until day and hold: the most
        recently used few are kept."""
        if retention not in self._stores:
            from obstore.store import S3Store as Client

            S3Store: Any = Client
            location = self._location
            headers: dict[str, str] = {}
            if retention is not None:
                headers = {"x-amz-object-lock-mode": "COMPLIANCE",
                           "x-amz-object-lock-retain-until-date": retention.until}
                if retention.legal_hold:
                    headers["x-amz-object-lock-legal-hold"] = "ON"
            options: dict[str, Any] = {"timeout": "120s", "connect_timeout": "10s"}
            if location.endpoint and location.endpoint.startswith("http://"):
                options["allow_http"] = True
            if headers:
                options["default_headers"] = headers
            config: dict[str, Any] = {"region": location.region,
                                      "virtual_hosted_style_request": not location.path_style,
                                      "checksum_algorithm": "SHA256"}
            if location.endpoint:
                config["endpoint"] = location.endpoint
            if location.access_key_id:
                config["access_key_id"] = location.access_key_id
                config["secret_access_key"] = location.secret_access_key
            if len(self._stores) > _CLIENTS:
                del self._stores[next(key for key in self._stores if key is not None)]  # the least recently used
            self._stores[retention] = S3Store(location.bucket, prefix=location.prefix or None, client_options=options,
                                              retry_config={"max_retries": 8, "retry_timeout": timedelta(seconds=120)},
                                              **config)
        client = self._stores.pop(retention)
        self._stores[retention] = client  # most recently used last
        return client

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (self._exceptions.BaseError, OSError)

    @contextmanager
    def _as_os_errors(self, key: str) -> Iterator[None]:
        """S3 failures as `BucketError` (an OSError: the store's own failure), naming the bucket and key."""
        try:
            yield
        except (self._exceptions.NotFoundError, FileNotFoundError) as exc:
            raise FileNotFoundError(f"{self.where}{key}: no such object") from exc
        except BucketError:
            raise
        except self._errors() as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            raise BucketError(f"{self.where}{key}: {first}") from exc

    def check(self) -> None:
        """Ask the bucket for one key, so that a wrong bucket, endpoint or key is found before any
        download (`config check`, and every store's start): a `BucketError` naming the bucket."""
        try:
            for _ in self._obstore.list(self.store, None, chunk_size=1):
                break
        except self._errors() as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            raise BucketError(f"{self.where}: {first}") from exc

    def _head(self, key: str) -> Any:
        """The object's metadata and attributes (a HEAD request)."""
        return self._obstore.get(self.store, key, options={"head": True})

    def _meta(self, key: str) -> tuple[int, str | None]:
        result = self._head(key)
        return result.meta["size"], result.attributes.get("sha256")

    def put_file(self, temp: Path, key: str, sha256: str, size: int, *, retention: Retention | None = None) -> str:
        """See `Objects.put_file`."""
        store = self._store(retention)
        for candidate in (key, alternative_key(key, sha256)):
            with self._as_os_errors(candidate):
                try:
                    self._put_if_absent(store, candidate, temp, sha256, retention.until if retention else None)
                except self._exceptions.AlreadyExistsError:
                    if self._meta(candidate) == (size, sha256):
                        temp.unlink(missing_ok=True)
                        return candidate  # a retried upload that finds its own object adopts it
                    continue
                if self._meta(candidate) != (size, sha256):
                    raise OSError(f"{self.where}{candidate}: the uploaded object is not the file that was sent")
            temp.unlink(missing_ok=True)
            return candidate
        raise FileExistsError(f"{self.where}{key} and {alternative_key(key, sha256)} both hold other content")

    def _put_if_absent(self, store: Any, key: str, temp: Path, sha256: str, retained_until: str | None) -> None:
        """Upload `temp` to `key` unless something is there (AlreadyExistsError); an upload that
        failed otherwise is tried again, as obstore does not for a broken connection: a retry of
        one that landed finds it there, and `put_file` adopts it.

        obstore sends a put-if-absent as one PUT, holding the whole file in memory; above one
        part (8 MiB) the key is checked first instead and the file goes up in parts (4 in flight:
        32 MiB at most, however large the recording), each with its SHA-256 checksum. Two
        uploads of one key at once cannot happen (one worker holds a tenant); were one to slip in
        between the check and the upload, the HEAD after it finds another sha256 and the upload
        is a failure, not a silent overwrite.
        """
        large = temp.stat().st_size > _PART
        if large:
            try:
                self._meta(key)
            except (self._exceptions.NotFoundError, FileNotFoundError):
                pass
            else:
                raise self._exceptions.AlreadyExistsError(f"{key} exists")
        for attempt in range(1, _UPLOAD_TRIES + 1):
            try:
                self._obstore.put(store, key, temp, mode="overwrite" if large else "create", chunk_size=_PART,
                                  max_concurrency=4,
                                  attributes={"sha256": sha256, "Content-Type": "application/octet-stream",
                                              **({"retain-until": retained_until} if retained_until else {})})
                return
            except self._exceptions.GenericError:
                if attempt == _UPLOAD_TRIES:
                    raise
            time.sleep(0.25 * attempt)

    def put_locked(self, key: str, data: bytes, retain_days: float) -> str:
        """Put a small object (a checkpoint) that nobody may change or delete for `retain_days`
        (S3 Object Lock, compliance mode), never replacing one; returns where it went."""
        with self._as_os_errors(key):
            self._obstore.put(self._store(retention_for(retain_days)), key, data, mode="create",
                              attributes={"Content-Type": "application/json"})
        return f"{self.where}{key}"

    def put_bytes(self, key: str, data: bytes, *, keep: bool = False) -> str:
        """See `Objects.put_bytes` (a bucket never overwrites, held or not)."""
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._temp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return self.put_file(Path(name), key, hashlib.sha256(data).hexdigest(), len(data))
        finally:
            Path(name).unlink(missing_ok=True)  # moved into the bucket, or failed: the scratch copy goes

    def size(self, key: str) -> int | None:
        """See `Objects.size`."""
        try:
            with self._as_os_errors(key):
                return int(self._obstore.head(self.store, key)["size"])
        except FileNotFoundError:
            return None

    def holds(self, key: str, size: int, sha256: str) -> bool:
        """See `Objects.holds`: the object's `sha256` metadata is what `put_file` wrote after the server
        checked every part's checksum."""
        try:
            with self._as_os_errors(key):
                return self._meta(key) == (size, sha256)
        except (OSError, ValueError):
            return False

    def chunks(self, key: str) -> Iterator[bytes]:
        """See `Objects.chunks`."""
        with self._as_os_errors(key):
            for chunk in self._obstore.get(self.store, key).stream(min_chunk_size=_READ):
                yield bytes(chunk)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """See `Objects.local_copy`: downloaded to the scratch folder, deleted afterwards."""
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._temp_dir, suffix=PurePosixPath(key).suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in self.chunks(key):
                    handle.write(chunk)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    def move(self, key: str, to: str) -> bool:
        """See `Objects.move`."""
        with self._as_os_errors(key):
            self._obstore.copy(self.store, key, to)
            until = self._head(key).attributes.get("retain-until")
            if until and str(until) > _retained_until(0):
                # Under a retention lock the version cannot go: a delete would only hide it behind a
                # delete marker. It stays visible where it is, and `verify` lists it as kept.
                return False
            try:
                self._obstore.delete(self.store, key)
            except (self._exceptions.PermissionDeniedError, self._exceptions.GenericError):
                return False  # refused by the server: the copy is in quarantine, the original stays
        return True

    def copy(self, key: str, to: str) -> None:
        """See `Objects.copy`."""
        with self._as_os_errors(key):
            self._obstore.copy(self.store, key, to)

    def apply_retention(self, key: str, retention: Retention) -> str | None:
        """See `Objects.apply_retention`: `PUT ?legal-hold`, then `PUT ?retention` (compliance mode
        can only be extended: a shorter date is refused by S3 and the longer one stays)."""
        from urllib.parse import quote

        from . import _s3_requests as s3

        location = self._location
        host = location.endpoint or f"https://s3.{location.region}.amazonaws.com"
        url = f"{host.rstrip('/')}/{location.bucket}/{quote(location.prefix + key, safe='/-_.~')}"
        if not location.access_key_id or not location.secret_access_key:
            return "no S3 credentials are configured for the lock's requests"
        problems = []
        for query, body in (("legal-hold", s3.legal_hold_body(retention.legal_hold)),
                            ("retention", s3.retention_body(
                                datetime.fromisoformat(retention.until.replace("Z", "+00:00"))))):
            try:
                status, answer = s3.send(s3.signed_request("PUT", f"{url}?{query}=", location.access_key_id,
                                                           location.secret_access_key, region=location.region,
                                                           body=body))
            except OSError as exc:
                problems.append(f"{query}: {exc}")
                continue
            if status >= 300 and not (query == "retention" and status in (400, 403)):
                problems.append(f"{query}: HTTP {status} {answer[:120].decode('utf-8', 'replace')}")
        return "; ".join(problems) or None

    def keys(self, prefix: str) -> Iterator[str]:
        """See `Objects.keys`."""
        with self._as_os_errors(prefix):
            for batch in self._obstore.list(self.store, prefix):
                for meta in batch:
                    yield str(meta["path"])
