"""Core test fixtures: a tiny "toy" vendor (emulator + source plugin) that exercises the core
without depending on any real vendor's plugin.

The toy API: `GET /items?after=N&limit=K` -> {"items": [...], "next": N'} in id order (an empty
page ends a pass); `GET /audio/{id}` -> WAV audio; `GET /transcript/{id}` -> segments, or 204 while
not ready. Bearer-token auth. Items carry `id`, `start` (ISO), `duration` (s) and `size`.

Also `plugin_venv`: a throwaway virtualenv that installs a plugin distribution the way a user
does, for the tests of the tutorial's plugin and of `collector new-plugin`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import collector
from collector import (
    HttpClient,
    Page,
    Recording,
    Secret,
    Source,
    SourceContext,
    SourceSettings,
    StaticBearerAuth,
    StoredEvent,
    Transcript,
    TranscriptResult,
    TranscriptSegment,
    TranscriptState,
    hookimpl,
)
from collector.emulator import EmulatorError, EmulatorServer, Request, Response, synth_audio
from collector.engine import Plugins
from collector.testing import write_config

BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class ToyEmulator(EmulatorServer):
    """The toy vendor: paged items, WAV audio, transcripts, one bearer token."""

    def __init__(self, count: int = 10, *, token: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.token = token or os.urandom(10).hex()
        self.items: list[dict[str, Any]] = []
        self.not_ready: set[str] = set()
        self.audio_status: dict[str, int] = {}
        self.add(count)
        self.add_route("GET", "/items", "metadata", self.list_items)
        self.add_route("GET", r"/audio/(?P<item_id>[^/]+)", "audio", self.audio)
        self.add_route("GET", r"/transcript/(?P<item_id>[^/]+)", "transcript", self.transcript)

    def add(self, count: int) -> list[str]:
        """New items arrive."""
        added: list[str] = []
        for _ in range(count):
            n = len(self.items)
            item: dict[str, Any] = {"id": f"t{n:04d}", "start": (BASE + timedelta(minutes=n)).isoformat(),
                                    "duration": 1.0 + n % 3, "size": 16044 + 16000 * (n % 3)}
            self.items.append(item)
            added.append(item["id"])
        return added

    def _auth(self, request: Request) -> None:
        if request.bearer != self.token:
            raise EmulatorError(401, "The token is not valid.")

    def list_items(self, request: Request) -> Response:
        self._auth(request)
        after, limit = int(request.query.get("after", 0)), int(request.query.get("limit", 5))
        page = self.items[after:after + limit]
        return Response.json({"items": page, "next": after + len(page)})

    def _item(self, item_id: str) -> dict[str, Any]:
        item = next((i for i in self.items if i.get("id") == item_id), None)
        if item is None:
            raise EmulatorError(404, "No such item.")
        return item

    def audio(self, request: Request, item_id: str) -> Response:
        self._auth(request)
        item = self._item(item_id)
        if item_id in self.audio_status:
            raise EmulatorError(self.audio_status[item_id], "Refused.")
        return Response(200, synth_audio(item_id, duration=item["duration"], fmt="wav"), "audio/wav")

    def transcript(self, request: Request, item_id: str) -> Response:
        self._auth(request)
        item = self._item(item_id)
        if item_id in self.not_ready:
            return Response(204, b"")
        return Response.json({"segments": [{"start": 0.0, "end": item["duration"], "text": f"Hello {item_id}."}]})


class ToySettings(SourceSettings):
    """Settings of a toy tenant."""

    base_url: str
    token: Secret
    page_size: int = 5
    warning: str | None = None  # said with context.warn() after each pass, to test partial outcomes


class ToySource(Source):
    """The toy vendor's source."""

    name = "toy"
    Settings = ToySettings
    settings: ToySettings

    def __init__(self, settings: ToySettings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http: HttpClient = context.http(settings.base_url, StaticBearerAuth(settings.token))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        after = (state or {}).get("after", 0)
        while True:
            data = await self.http.json("GET", "/items", params={"after": after, "limit": self.settings.page_size})
            yield Page(data["items"], {"after": data["next"]})
            if not data["items"]:
                if self.settings.warning:
                    self.context.warn(self.settings.warning)
                return
            after = data["next"]

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        return [Recording(source=self.context.source, tenant=self.context.tenant, vendor_id=item["id"],
                          start=item["start"], duration=item["duration"], media_size=item.get("size"),
                          retain_until=item.get("retain_until"), legal_hold=bool(item.get("legal_hold")),
                          raw=dict(item))]

    async def fetch_transcripts(self, recordings: Sequence[Recording]) -> Mapping[str, TranscriptResult]:
        results: dict[str, TranscriptResult] = {}
        for r in recordings:
            response = await self.http.request("GET", f"/transcript/{r.vendor_id}")
            if response.status_code == 204:
                results[r.vendor_id] = TranscriptState.NOT_READY
            else:
                segments = [TranscriptSegment(**s) for s in response.json()["segments"]]
                results[r.vendor_id] = Transcript(vendor_id=r.vendor_id, segments=segments, raw=response.json())
        return results

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        return self.http.stream("GET", f"/audio/{recording.vendor_id}")


class ToyPlugin:
    """Registers the toy source; records every stored event it is told about."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    @hookimpl
    def collector_register_sources(self, register: Callable[[type[Source]], None]) -> None:
        register(ToySource)

    @hookimpl
    def collector_recording_stored(self, event: StoredEvent) -> None:
        self.events.append(event)


@pytest.fixture
def toy_plugin() -> ToyPlugin:
    """A fresh toy plugin instance."""
    return ToyPlugin()


@pytest.fixture
def toy_plugins(toy_plugin: ToyPlugin) -> Plugins:
    """A plugin manager holding only the toy plugin (no entry points)."""
    return Plugins(entry_points_group=None, extra=[toy_plugin])


@pytest.fixture
def toy() -> Iterator[ToyEmulator]:
    """A running toy emulator with 10 items."""
    with ToyEmulator(10) as emulator:
        yield emulator


def _toy_source(emulator: ToyEmulator, tenant: str = "alpha", **settings: Any) -> dict[str, Any]:
    variable = f"TOY_TOKEN_{emulator.port}"
    os.environ[variable] = emulator.token
    return {"plugin": "toy", "tenant": tenant, "base_url": emulator.url, "token": {"env": variable},
            "retry": {"attempts": 3, "initial_wait": 0.01, "max_wait": 0.05},
            "rate_limit": {"requests": 500, "per_seconds": 1}, **settings}


@pytest.fixture
def toy_source() -> Callable[..., dict[str, Any]]:
    """`toy_source(emulator, tenant="alpha", **settings)`: a [[sources]] table for a toy tenant
    (its token put in an environment variable)."""
    return _toy_source


@pytest.fixture
def toy_source_class() -> type[Source]:
    """The toy source class, to subclass in a test."""
    return ToySource


@pytest.fixture
def Toy() -> type[ToyEmulator]:  # a class, named like one
    """The toy emulator class, to start more toy tenants."""
    return ToyEmulator


@pytest.fixture
def fake_plugin(tmp_path: Path) -> Callable[[str, str], dict[str, str]]:
    """`fake_plugin(name, module_source)`: install a plugin distribution by files alone (dist-info
    plus module) in a temporary folder; returns an environment for subprocesses that see it."""

    def install(name: str, module_source: str) -> dict[str, str]:
        directory = tmp_path / "site"
        dist = directory / f"{name}-1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[recording_collector]\n{name} = {name}_module\n")
        (directory / f"{name}_module.py").write_text(module_source)
        return {**os.environ, "PYTHONPATH": str(directory)}

    return install


@pytest.fixture
def toy_config(tmp_path: Path, toy: ToyEmulator) -> Path:
    """A config collecting the toy emulator into tmp_path/store."""
    return write_config(tmp_path, [_toy_source(toy)])


# -- throwaway virtualenvs: a plugin installed the way a user installs it ------------------------

class PluginVenv:
    """A virtualenv of its own (never .venv) into which a plugin is pip-installed as a user does.

    It is made without pip or setuptools: a .pth file makes .venv's site-packages (collector, its
    dependencies, pytest, pip and setuptools) and the directory holding the `collector` package
    importable, so nothing is downloaded, and `python -m pip install` installs into this
    virtualenv. The plugins installed editable in .venv show up as broken here (their metadata is
    visible, their code is not: an editable install's import hook does not run for a directory
    named in a .pth); `collector plugins` says so and nothing else minds.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(self.root)], check=True,
                       capture_output=True)
        self.python = self.root / "bin" / "python"
        site = Path(self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
        shared = [sysconfig.get_paths()["purelib"], str(Path(collector.__file__).resolve().parent.parent)]
        (site / "recording_collector_dev.pth").write_text("\n".join(dict.fromkeys(shared)) + "\n")

    def run(self, *args: str, cwd: Path | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run this virtualenv's python with `args`; `check` raises (with its output) on failure."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "COLLECTOR_CONFIG") and not k.startswith("PYTEST_")}
        done = subprocess.run([str(self.python), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def install(self, project: Path) -> None:
        """`pip install --no-deps --no-build-isolation --no-index` a plugin distribution's directory."""
        self.run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(project))


@pytest.fixture
def plugin_venv(tmp_path: Path) -> PluginVenv:
    """A fresh throwaway virtualenv for installing a plugin distribution (see `PluginVenv`)."""
    return PluginVenv(tmp_path / "venv")
