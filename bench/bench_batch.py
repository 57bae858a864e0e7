"""Benchmark: requests per stored recording for a vendor whose recommended download path is a batch job.

Kestrel, an emulated vendor (defined here), lists calls a page of 100 at a time and serves each
recording's audio at a short-lived URL, which it hands out two ways:

- per recording: `GET /api/calls/{id}/link` -> `{"url"}`, then the URL (what a plugin without the
  batch hook does: `open_audio`, two requests per recording);
- in batches: `POST /api/batches {"ids": [...]}` (at most `--batch-size`), then `GET /api/batches/{id}`
  until it is ready (about `--ready-after` seconds later; `retry_after` says when to ask again), then
  one URL per id (`open_audio_batch`).

One collection pass runs two tenants of `--recordings` recordings each, side by side: `single`
(plugin `kestrel`, per-recording downloads) and `batch` (plugin `kestrel_batch`), exactly as
`collector run` does, and prints for each: requests the vendor received by kind, stored audio
files, requests per stored recording, URLs refused as expired, the span from its first request to
its last, and the pass's wall time. The store
is checked afterwards (every file present, sha256 as recorded, nothing doubled).

Usage:
    .venv/bin/python bench/bench_batch.py                              # 500 recordings, batches of 50
    .venv/bin/python bench/bench_batch.py --url-ttl 2 --recordings 300  # URLs expire mid-batch: renewed
    .venv/bin/python bench/bench_batch.py --url-ttl 2 --recordings 300 --undeclared-ttl   # ... on a 403
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from collector import (
    HttpClient,
    Page,
    Recording,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    hookimpl,
    iso,
    now_utc,
    path_segment,
)
from collector.emulator import EmulatorError, EmulatorServer, Request, Response, synth_audio
from collector.engine import Plugins
from collector.testing import collect, inspect_store, write_config

PAGE = 100


class KestrelEmulator(EmulatorServer):
    """Kestrel's API: calls, per-recording links, batch jobs, and the files at expiring URLs."""

    def __init__(self, *, batch_size: int, ready_after: float, url_ttl: float) -> None:
        super().__init__()
        self.batch_size, self.ready_after, self.url_ttl = batch_size, ready_after, url_ttl
        self.tenants: dict[str, list[dict[str, Any]]] = {}
        self.tokens: dict[str, str] = {}
        self.audio: dict[str, bytes] = {}
        self.batches: dict[str, tuple[float, list[str]]] = {}
        self._ids = itertools.count(1)
        self._key = os.urandom(16)
        self._lock = threading.Lock()
        self.add_route("GET", "/api/calls", "listing", self.calls)
        self.add_route("GET", r"/api/calls/(?P<cid>[^/]+)/link", "link", self.link)
        self.add_route("POST", "/api/batches", "batch submit", self.submit)
        self.add_route("GET", r"/api/batches/(?P<bid>[^/]+)", "batch poll", self.poll)
        self.add_route("GET", r"/files/(?P<cid>[^/]+)", "audio", self.file)

    def add_tenant(self, name: str, count: int) -> str:
        token = os.urandom(12).hex()
        self.tokens[token] = name
        calls = []
        for number in range(count):
            call_id = f"{name}-{number:06d}"
            body = synth_audio(call_id, duration=1.0 + number % 3, fmt="wav")
            self.audio[call_id] = body
            calls.append({"id": call_id, "started": iso(now_utc() - timedelta(hours=2, seconds=number)),
                          "seconds": 1.0 + number % 3, "bytes": len(body)})
        self.tenants[name] = calls
        return token

    def rate_limit_key(self, request: Request) -> str:
        return self.tokens.get(request.bearer or "", "") or request.query.get("t", "none")

    def _tenant(self, request: Request) -> str:
        name = self.tokens.get(request.bearer or "")
        if name is None:
            raise EmulatorError(401, "Unknown token.")
        return name

    def calls(self, request: Request) -> Response:
        calls = self.tenants[self._tenant(request)]
        start = int(request.query.get("cursor", "0"))
        page = calls[start:start + PAGE]
        return Response.json({"calls": page, "next": start + len(page) if start + len(page) < len(calls) else None})

    def _signed(self, tenant: str, call_id: str) -> str:
        expires = f"{time.time() + self.url_ttl:.3f}"
        signature = hmac.new(self._key, f"{call_id}\n{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{self.url}/files/{path_segment(call_id)}?t={tenant}&expires={expires}&signature={signature}"

    def link(self, request: Request, cid: str) -> Response:
        return Response.json({"url": self._signed(self._tenant(request), cid)})

    def submit(self, request: Request) -> Response:
        tenant = self._tenant(request)
        ids = (request.json() or {}).get("ids") or []
        if len(ids) > self.batch_size:
            raise EmulatorError(400, f"At most {self.batch_size} ids per batch.")
        with self._lock:
            batch_id = f"b{next(self._ids)}"
            self.batches[batch_id] = (time.monotonic() + self.ready_after, list(ids))
        return Response.json({"batch_id": batch_id, "tenant": tenant}, 202)

    def poll(self, request: Request, bid: str) -> Response:
        tenant = self._tenant(request)
        ready_at, ids = self.batches[bid]
        if time.monotonic() < ready_at:
            return Response.json({"state": "running", "retry_after": 0.2})
        return Response.json({"state": "ready", "items": [{"id": i, "url": self._signed(tenant, i)} for i in ids]})

    def file(self, request: Request, cid: str) -> Response:
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        good = hmac.new(self._key, f"{cid}\n{expires}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, signature) or float(expires) < time.time():
            raise EmulatorError(403, "The link has expired.")
        return Response(200, self.audio[cid], "audio/wav")


class KestrelSettings(SourceSettings):
    """One Kestrel tenant."""

    base_url: str
    token: Secret
    batch_size: int = 50
    url_ttl: float = 60.0
    declare_ttl: bool = True


class KestrelSource(Source):
    """Per-recording downloads: a link, then the file (`open_audio`)."""

    name = "kestrel"
    Settings = KestrelSettings
    settings: KestrelSettings

    def __init__(self, settings: KestrelSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http: HttpClient = context.http(settings.base_url, StaticBearerAuth(settings.token))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        cursor = (state or {}).get("cursor", 0)
        while cursor is not None:
            body = await self.http.json("GET", "/api/calls", params={"cursor": cursor})
            cursor = body["next"]
            yield Page(body["calls"], {"cursor": cursor})

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                          start=item["started"], duration=item["seconds"], media_size=item["bytes"], raw=dict(item))]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        return self._linked(recording.vendor_id)

    def _linked(self, call_id: str) -> AbstractAsyncContextManager[httpx.Response]:
        http = self.http

        class Linked:
            async def __aenter__(self) -> httpx.Response:
                link = await http.json("GET", f"/api/calls/{path_segment(call_id)}/link")
                self._stream = http.stream("GET", link["url"])
                return await self._stream.__aenter__()

            async def __aexit__(self, *exc: Any) -> None:
                await self._stream.__aexit__(*exc)

        return Linked()


class KestrelBatchSource(KestrelSource):
    """Batch downloads: submit up to `batch_size` ids, poll until ready, one URL each."""

    name = "kestrel_batch"

    def __init__(self, settings: KestrelSettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.audio_batch_size = settings.batch_size
        if settings.declare_ttl:  # otherwise the core learns of an expiry from the 403 (audio_batch_expired_on)
            self.audio_batch_lifetime = timedelta(seconds=settings.url_ttl)

    async def open_audio_batch(
            self, recordings: Sequence[Recording],
    ) -> Mapping[str, AbstractAsyncContextManager[httpx.Response] | Exception]:
        batch = await self.http.json("POST", "/api/batches", json={"ids": [r.vendor_id for r in recordings]})
        status_url = f"/api/batches/{batch['batch_id']}"
        while (state := await self.http.json("GET", status_url))["state"] != "ready":  # noqa: ASYNC110 - polling the vendor
            await asyncio.sleep(state["retry_after"])
        return {item["id"]: self.http.stream("GET", item["url"]) for item in state["items"]}


class KestrelPlugin:
    """Registers both sources."""

    @hookimpl
    def collector_register_sources(self, register: Callable[[type[Source]], None]) -> None:
        register(KestrelSource)
        register(KestrelBatchSource)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=500, help="recordings per tenant")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--ready-after", type=float, default=0.25, help="seconds until a batch job is ready")
    parser.add_argument("--url-ttl", type=float, default=60.0, help="seconds a file URL stays valid")
    parser.add_argument("--rate", type=int, default=200, help="each tenant's rate limit, requests per second")
    parser.add_argument("--workers", type=int, default=2, help="download_workers")
    parser.add_argument("--undeclared-ttl", action="store_true",
                        help="the plugin does not tell the core how long URLs last (renewed on a 403 instead)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, KestrelEmulator(
            batch_size=args.batch_size, ready_after=args.ready_after, url_ttl=args.url_ttl) as api:
        sources = []
        for tenant, plugin in (("single", "kestrel"), ("batch", "kestrel_batch")):
            variable = f"BENCH_KESTREL_{tenant.upper()}"
            os.environ[variable] = api.add_tenant(tenant, args.recordings)
            sources.append({"plugin": plugin, "tenant": tenant, "base_url": api.url, "token": {"env": variable},
                            "batch_size": args.batch_size, "url_ttl": args.url_ttl, "transcripts": False,
                            "declare_ttl": not args.undeclared_ttl,
                            "download_workers": args.workers, "rate_limit": {"requests": args.rate, "per_seconds": 1}})
        config = write_config(Path(scratch), sources)
        started = time.monotonic()
        result = collect(config, Plugins(entry_points_group=None, extra=[KestrelPlugin()]))
        wall = time.monotonic() - started
        contents = inspect_store(Path(scratch) / "store")
        by_tenant: dict[str, Counter[str]] = {name: Counter() for name in api.tenants}
        for request in api.log:
            by_tenant.setdefault(request.key, Counter())[request.kind] += 1
        print(f"Kestrel: {args.recordings} recordings per tenant, batches of at most {args.batch_size}, "
              f"ready after {args.ready_after} s, URLs valid {args.url_ttl} s; one pass in {wall:.1f} s "
              f"(exit code {result.exit_code}); store problems: {len(contents.problems)}")
        print(f"{'tenant':8} {'requests':>8} {'stored':>6} {'per stored':>10} {'expired':>7} {'span s':>6}  by kind")
        for summary in result.summaries:
            counts = by_tenant[summary.tenant]
            total = sum(counts.values())
            stored = len(contents.audio[summary.tenant])
            expired = sum(1 for r in api.log if r.key == summary.tenant and r.status == 403)
            times = [r.at for r in api.log if r.key == summary.tenant]
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
            print(f"{summary.tenant:8} {total:8d} {stored:6d} {total / max(stored, 1):10.2f} {expired:7d} "
                  f"{max(times) - min(times):6.1f}  {kinds}")
        bodies = [digest for digests in api.served_audio.values() for digest in digests]
        print(f"audio bodies sent whole: {len(bodies)} ({len(bodies) - len(set(bodies))} doubled); "
              f"largest batch asked for: {max((len(ids) for _, ids in api.batches.values()), default=0)}")


if __name__ == "__main__":
    main()
