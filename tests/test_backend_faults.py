"""The scale-out backends failing under a real collection: S3 answering 500/503, slowly, or dropping
connections (through `FaultyProxy`, a real proxy in front of SeaweedFS), and PostgreSQL restarted
mid-run. What must hold every time: the catalog records nothing that is not stored (every stored
row's object exists with the catalog's size and sha256), no object lies in the bucket unrecorded,
a failure of the store spends no recording's attempts, and a later run (or the same one, when the
clients' retries cover the fault) stores everything."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.emulator import Request, Response, wav_stream
from collector.engine import EXIT_OK, EXIT_STORE, Plugins
from collector.testing import (
    FaultyProxy,
    PostgresServer,
    S3Server,
    collect,
    inspect_store,
    query_catalog,
    write_config,
)
from collector.testing._harness import location_of, scale_out

BIG_SECONDS = 600.0
"""A recording this long is a 9.6 MB WAV, above the store's 8 MiB part size (a put-if-absent is one
PUT all the same: obstore uploads in parts only when it may overwrite)."""


@pytest.fixture
def proxy(s3: S3Server) -> Iterator[FaultyProxy]:
    """A faulty proxy in front of the suite's S3 server (no faults until a test plans some)."""
    with FaultyProxy(s3.endpoint, seed=7) as running:
        running.slow_seconds = 0.2
        yield running


@pytest.fixture
def big_toy(Toy: type[Any]) -> Iterator[Any]:
    """A toy emulator with 8 recordings, the first 2 of them longer than one S3 part."""

    class BigToy(Toy):  # type: ignore[misc]
        def audio(self, request: Request, item_id: str) -> Response:
            item = self._item(item_id)
            if item["duration"] < BIG_SECONDS:
                return super().audio(request, item_id)  # type: ignore[no-any-return]
            self._auth(request)
            length, chunks = wav_stream(item_id, duration=item["duration"])
            return Response(200, chunks, "audio/wav", length=length)

    with BigToy(8) as emulator:
        for item in emulator.items[:2]:
            item["duration"] = BIG_SECONDS
            item["size"] = wav_stream(item["id"], duration=BIG_SECONDS)[0]
        yield emulator


def through(config: Path, s3: S3Server, proxy: FaultyProxy) -> Path:
    """Point the store's S3 client in `config` at the proxy (checks read the server directly)."""
    text = config.read_text(encoding="utf-8")
    assert text.count(s3.endpoint) == 1, text
    config.write_text(text.replace(s3.endpoint, proxy.endpoint), encoding="utf-8")
    return config


def check_store(store: Path, vendor_ids: set[str], *, complete: bool) -> None:
    """The store holds only what its catalog records, whole (`complete`: all of `vendor_ids`)."""
    contents = inspect_store(store)  # every stored audio row's object: size and sha256; no stray object
    assert not contents.problems, contents.problems
    location = location_of(store)
    assert location.s3 is not None
    from collector._storage._objects import S3Objects

    objects = S3Objects(location.s3, location.root)
    for vendor_id, path, size, sha in query_catalog(
            store, "SELECT vendor_id, path, size, sha256 FROM transcripts WHERE status='stored'"):
        data = b"".join(objects.chunks(path))
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha), vendor_id
    if complete:
        assert contents.audio["alpha"] == vendor_ids and contents.transcripts["alpha"] == vendor_ids


def unstored_attempts(store: Path) -> list[tuple[Any, ...]]:
    """(kind, vendor_id, status, attempts) of every audio and transcript not stored."""
    return query_catalog(store, "SELECT 'audio', vendor_id, status, attempts FROM audio WHERE status<>'stored' "
                                "UNION ALL SELECT 'transcript', vendor_id, status, attempts FROM transcripts "
                                "WHERE status<>'stored' ORDER BY 1, 2")


def test_s3_errors_and_slow_answers_during_a_collection_lose_nothing(
        postgres: PostgresServer, s3: S3Server, proxy: FaultyProxy, big_toy: Any, toy_source: Callable[..., Any],
        toy_plugins: Plugins, tmp_path: Path) -> None:
    for fault in ("500", "503", "slow"):  # each at least once on uploads and on checks, then at random
        proxy.inject(fault, on="PutObject")
        proxy.inject(fault, on="HeadObject")
    proxy.set_rate(0.3, ["500", "503", "slow"], on=["PUT", "POST", "HEAD", "GET"])
    with scale_out(postgres=postgres, s3=s3):
        config = through(write_config(tmp_path, [toy_source(big_toy)]), s3, proxy)
        result = collect(config, toy_plugins)
    assert result.exit_code == EXIT_OK, (result.store_failure, proxy.log)
    assert all(proxy.injected[(op, fault)] for op in ("PutObject", "HeadObject") for fault in ("500", "503", "slow"))
    check_store(tmp_path / "store", {item["id"] for item in big_toy.items}, complete=True)


def test_connections_dropped_mid_upload_or_before_the_answer_are_survived_within_the_run(
        postgres: PostgresServer, s3: S3Server, proxy: FaultyProxy, big_toy: Any, toy_source: Callable[..., Any],
        toy_plugins: Plugins, tmp_path: Path) -> None:
    proxy.inject("drop_upload", on="PutObject", count=2)  # one of them is likely a big recording
    proxy.inject("drop_answer", on="PutObject", count=2)  # stored, but the client cannot know it
    proxy.inject("drop_answer", on="HeadObject")
    with scale_out(postgres=postgres, s3=s3):
        config = through(write_config(tmp_path, [toy_source(big_toy)]), s3, proxy)
        result = collect(config, toy_plugins)
    assert result.exit_code == EXIT_OK, result.store_failure
    assert proxy.count(fault="drop_upload") == 2 and proxy.count(fault="drop_answer") == 3
    landed = [r.target for r in proxy.log if r.operation == "PutObject" and r.fault == "drop_answer"]
    refused = [r.target for r in proxy.log if r.operation == "PutObject" and r.status == 412]
    assert set(landed) == set(refused), proxy.log  # each one's retry found it there (and adopted it)
    check_store(tmp_path / "store", {item["id"] for item in big_toy.items}, complete=True)  # adopted, not doubled


def test_an_s3_outage_longer_than_the_retries_records_nothing_unstored_and_spends_no_attempts(
        postgres: PostgresServer, s3: S3Server, proxy: FaultyProxy, big_toy: Any, toy_source: Callable[..., Any],
        toy_plugins: Plugins, tmp_path: Path) -> None:
    def outage_after_two_uploads() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            uploads = [r for r in list(proxy.log) if r.operation == "PutObject" and r.target.endswith(".wav")]
            if sum(r.status == 200 for r in uploads) >= 2:
                proxy.set_rate(1.0, ["503"], on=["PUT", "POST"])
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=outage_after_two_uploads, daemon=True)
    watcher.start()
    store = tmp_path / "store"
    ids = {item["id"] for item in big_toy.items}
    with scale_out(postgres=postgres, s3=s3):
        config = through(write_config(tmp_path, [toy_source(big_toy)]), s3, proxy)
        first = collect(config, toy_plugins)
        watcher.join()
        assert first.exit_code == EXIT_STORE, [s.as_dict() for s in first.summaries]
        assert first.store_failure and "s3://" in first.store_failure
        assert "nothing counts against any recording" in first.store_failure
        assert all(summary.failed == 0 for summary in first.summaries)
        assert len(query_catalog(store, "SELECT 1 FROM audio WHERE status='stored'")) >= 2
        left = unstored_attempts(store)
        assert left and all(status == "pending" and attempts == 0 for _, _, status, attempts in left), left
        check_store(store, ids, complete=False)
        proxy.clear()
        second = collect(config, toy_plugins)
    assert second.exit_code == EXIT_OK, (second.store_failure, [s.as_dict() for s in second.summaries])
    check_store(store, ids, complete=True)


def test_postgresql_restarted_mid_run_is_reconnected_and_the_run_finishes(
        postgres: PostgresServer, s3: S3Server, Toy: type[Any], toy_source: Callable[..., Any],
        toy_plugins: Plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from collector._storage._catalog._postgres import PostgresConnection

    store = tmp_path / "store"
    restarted: list[tuple[int, float]] = []
    reconnects: list[float] = []
    reconnect = PostgresConnection.reconnect

    def counted(self: PostgresConnection) -> None:
        reconnects.append(time.monotonic())
        reconnect(self)

    monkeypatch.setattr(PostgresConnection, "reconnect", counted)

    def restart_mid_run() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                stored = query_catalog(store, "SELECT COUNT(*) FROM audio WHERE status='stored'")[0][0]
            except Exception:  # noqa: BLE001 - the catalog is not made yet
                stored = 0
            if stored >= 3:
                postgres.restart()  # an immediate stop: every connection drops, in-flight transactions roll back
                restarted.append((stored, time.monotonic()))
                return
            time.sleep(0.02)

    with Toy(20) as toy, scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy, rate_limit={"requests": 8, "per_seconds": 1})])
        thread = threading.Thread(target=restart_mid_run, daemon=True)
        thread.start()
        result = collect(config, toy_plugins)
        ended = time.monotonic()
        thread.join()
    assert restarted, "the run ended before PostgreSQL could be restarted"
    stored_before, restart_done = restarted[0]
    assert stored_before < 20 and restart_done < ended
    assert reconnects, "the run never lost its connection"
    assert result.exit_code == EXIT_OK, (result.store_failure, [s.as_dict() for s in result.summaries])
    assert query_catalog(store, "SELECT COUNT(*) FROM recordings") == [(20,)]
    assert not unstored_attempts(store)
    check_store(store, {item["id"] for item in toy.items}, complete=True)


def test_the_proxy_relays_signed_requests_and_obstore_retries_its_faults_on_multipart_parts(
        s3: S3Server, proxy: FaultyProxy, tmp_path: Path) -> None:
    import obstore
    from obstore.store import S3Store

    bucket = s3.bucket()
    client = S3Store(bucket, **{**s3.client_options(), "endpoint": proxy.endpoint})
    data = os.urandom(3 * 5 * 1024 * 1024 + 123)
    (tmp_path / "file").write_bytes(data)
    for fault in ("500", "503", "drop_upload"):
        proxy.inject(fault, on="UploadPart")
    proxy.inject("503", on="CompleteMultipartUpload")
    proxy.inject("500", on="HEAD")
    proxy.inject("drop_answer", on="GetObject")
    obstore.put(client, "big", tmp_path / "file", chunk_size=5 * 1024 * 1024)  # overwrite mode: multipart
    assert obstore.head(client, "big")["size"] == len(data)
    assert bytes(obstore.get(client, "big").bytes()) == data
    direct = S3Store(bucket, **s3.client_options())
    assert bytes(obstore.get(direct, "big").bytes()) == data  # the server holds what was sent
    assert proxy.requests["UploadPart"] == 4 + 3 and proxy.requests["CompleteMultipartUpload"] == 2
    assert proxy.injected == {("UploadPart", "500"): 1, ("UploadPart", "503"): 1, ("UploadPart", "drop_upload"): 1,
                              ("CompleteMultipartUpload", "503"): 1, ("HeadObject", "500"): 1,
                              ("GetObject", "drop_answer"): 1}
    stranger = S3Store(bucket, **{**s3.client_options(), "endpoint": proxy.endpoint, "secret_access_key": "wrong"})
    with pytest.raises(Exception, match=r"(?i)signature|denied|forbidden|403"):
        obstore.get(stranger, "big")  # the proxy relays signatures, it does not stand in for them


def test_a_large_recording_goes_up_in_parts_put_if_absent_and_is_adopted_when_retried(
        s3: S3Server, proxy: FaultyProxy, tmp_path: Path) -> None:
    """Above one part, `S3Objects.put_file` checks the key, then uploads in parts (memory stays at
    a few parts); the same file again is adopted, other content under the key goes beside it."""
    from collector._storage._objects import S3Location, S3Objects, alternative_key

    objects = S3Objects(S3Location(bucket=s3.bucket(), endpoint=proxy.endpoint, access_key_id=s3.access_key,
                                   secret_access_key=s3.secret_key, path_style=True), tmp_path)
    data = os.urandom(20 * 1024 * 1024 + 17)
    sha = hashlib.sha256(data).hexdigest()

    def temp(content: bytes) -> Path:
        path = tmp_path / f"{os.urandom(4).hex()}.part"
        path.write_bytes(content)
        return path

    proxy.inject("503", on="UploadPart")
    assert objects.put_file(temp(data), "t/a.opus", sha, len(data)) == "t/a.opus"
    assert proxy.requests["UploadPart"] >= 3 + 1 and proxy.requests.get("PutObject", 0) == 0
    assert objects.put_file(temp(data), "t/a.opus", sha, len(data)) == "t/a.opus"  # a retry adopts it
    other = data[:-1] + b"!"
    other_sha = hashlib.sha256(other).hexdigest()
    assert objects.put_file(temp(other), "t/a.opus", other_sha, len(other)) == alternative_key("t/a.opus", other_sha)
    assert hashlib.sha256(b"".join(objects.chunks("t/a.opus"))).hexdigest() == sha  # never overwritten
    assert not list(tmp_path.glob("*.part"))


def _signed(s3: S3Server, method: str, target: str) -> Any:
    """A raw S3 request signed with the server's key (obstore has no versioned delete)."""
    from collector._storage._s3_requests import signed_request

    request = signed_request(method, f"{s3.endpoint}{urllib.parse.quote(target, safe='/?=&')}", s3.access_key,
                             s3.secret_key)
    return urllib.request.urlopen(request, timeout=10)


def test_object_lock_keeps_a_sources_audio_and_verify_lists_what_a_lock_holds(
        postgres: PostgresServer, s3: S3Server, toy: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`object_lock_days`: the audio is uploaded under a compliance-mode retention, so it cannot be
    deleted; a copy verify finds damaged is quarantined, and the original the lock keeps is listed."""
    import json

    import obstore
    from obstore.store import S3Store

    from collector.engine import cli

    locked = s3.bucket(object_lock=True)
    with scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy, object_lock_days=1)])
        text = config.read_text(encoding="utf-8")
        bucket = location_of(tmp_path / "store").s3.bucket  # type: ignore[union-attr]
        config.write_text(text.replace(f'"{bucket}"', f'"{locked}"'), encoding="utf-8")
        assert collect(config, toy_plugins).exit_code == EXIT_OK
    store = tmp_path / "store"
    (path, sha), *_ = query_catalog(store, "SELECT path, sha256 FROM audio WHERE status='stored' ORDER BY path")
    client = S3Store(locked, **s3.client_options(), prefix="store/")
    head = _signed(s3, "HEAD", f"/{locked}/store/{path}")
    assert head.headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert head.headers["x-amz-object-lock-retain-until-date"]
    with pytest.raises(urllib.error.HTTPError):  # the retention lock refuses to delete the version
        _signed(s3, "DELETE", f"/{locked}/store/{path}?versionId={head.headers['x-amz-version-id']}")
    from collector._storage._catalog import Catalog

    catalog = Catalog(location_of(store).catalog_target)  # the catalog says otherwise: the copy reads as damaged
    with catalog._transaction() as db:
        db.execute("UPDATE audio SET sha256=? WHERE path=?", ("0" * 64, path))
    catalog.close()
    capsys.readouterr()
    with scale_out(postgres=postgres, s3=s3):  # the S3 keys' environment variables
        code = cli(["--config", str(config), "verify", "--json"], toy_plugins)
    report = json.loads(capsys.readouterr().out)
    assert code == 1, report  # problems found, queued to be fetched again
    text = json.dumps(report)
    assert "retention lock" in text and path in text, report
    assert obstore.head(client, path)["size"] > 0  # never deleted
    assert sha != "0" * 64


def test_a_wrong_bucket_or_database_is_named_by_config_check_and_stops_a_run_before_any_download(
        postgres: PostgresServer, s3: S3Server, toy: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not "check the disk and the store's folder": the bucket or the database, by name, and at once."""
    from collector.engine import cli

    with scale_out(postgres=postgres, s3=s3):
        config = write_config(tmp_path, [toy_source(toy)])
        bucket = location_of(tmp_path / "store").s3.bucket  # type: ignore[union-attr]
        config.write_text(config.read_text().replace(f'"{bucket}"', '"no-such-bucket"'))
        capsys.readouterr()
        assert cli(["--config", str(config), "config", "check"], toy_plugins) == 2
        err = capsys.readouterr().err
        assert "store.s3: the bucket does not answer as it should (s3://no-such-bucket/" in err, err
        result = collect(config, toy_plugins)
        assert result.exit_code == EXIT_STORE and "its S3 bucket did not answer" in (result.store_failure or "")
        assert "no-such-bucket" in (result.store_failure or "") and "the disk is not the problem" in (
            result.store_failure or "")
        assert toy.count(kind="audio") == 0 and toy.count(kind="metadata") == 0  # nothing asked of the vendor
        dsn = location_of(tmp_path / "store").postgres.dsn  # type: ignore[union-attr]
        config.write_text(config.read_text().replace(dsn, dsn.rsplit("/", 1)[0] + "/no_such_database"))
        capsys.readouterr()
        assert cli(["--config", str(config), "config", "check"], toy_plugins) == 2
        assert "store.postgresql: the database does not answer as it should" in capsys.readouterr().err
