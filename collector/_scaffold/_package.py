"""The distribution and the plugin code of the skeleton: `pyproject.toml`, the README, the hooks,
the settings, the API calls, the mapping and the source.
"""

from __future__ import annotations

PACKAGE: dict[str, str] = {
    "pyproject.toml": r'''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "collector-{{dist}}"
version = "0.1.0"
description = "recording-collector plugin for {{Name}}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["recording-collector>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This is all it takes to register a plugin: an entry point in the `recording_collector` group
# whose name is the plugin's name (`plugin = "{{name}}"` in a [[sources]] entry) and whose value is
# the module holding its hook implementations.
[project.entry-points.recording_collector]
{{name}} = "collector_{{name}}"

[tool.setuptools.packages.find]
include = ["collector_{{name}}*"]

[tool.pytest.ini_options]
addopts = "-p no:cacheprovider"
testpaths = ["tests"]
''',

    "README.md": r'''# collector-{{dist}}

A recording-collector plugin for {{Name}}:
`plugin = "{{name}}"` in a `[[sources]]` entry collects one {{Name}} tenant.

Written by `collector new-plugin {{name}}`, it is a complete plugin for a made-up vendor
whose API is described at the top of `collector_{{name}}/_api.py`. Replace that vendor with yours,
file by file, and keep the tests passing: the README of recording-collector has a tutorial that
does exactly that ("Writing a plugin").

## Layout

| file | its one job |
|---|---|
| `collector_{{name}}/__init__.py` | the hook implementations, nothing else |
| `collector_{{name}}/_settings.py` | the settings model of a `[[sources]]` entry |
| `collector_{{name}}/_api.py` | raw HTTP calls and checks of what they answer |
| `collector_{{name}}/_mapping.py` | the vendor's JSON to `collector.Recording` (pure) |
| `collector_{{name}}/_source.py` | the `Source`: listing, parsing, audio |
| `collector_{{name}}/_emudata.py` | deterministic fake data |
| `collector_{{name}}/emulator.py` | the vendor emulator (built on `collector.emulator`) |
| `collector_{{name}}/_demo.py` | the emulated tenants `collector demo` collects |
| `collector_{{name}}/testing.py` | the conformance adapter (a `collector.testing.Emulation`) |
| `tests/test_conformance.py` | the conformance suite, inherited |

## Configuration

```toml
[[sources]]
plugin = "{{name}}"
tenant = "main"
base_url = "https://api.{{dist}}.example"
api_key = { env = "{{NAME}}_API_KEY" }
start = 2026-01-01T00:00:00Z        # collect recordings created from then on
```

Every key the collector accepts for any source (`rate_limit`, `max_in_flight`, `retry`, ...) works
too; see the collector's `config.example.toml`.

## Develop

```sh
pip install -e ".[test]"     # into the environment that has recording-collector
python -m pytest             # the conformance suite, against the emulator, over real HTTP
collector demo               # a real collection from the emulator into ./collector-demo
```

## Vendor notes

Write down here what the vendor's documentation leaves open and what the plugin decided.
''',

    "collector_{{name}}/__init__.py": r'''"""{{Name}} for recording-collector: the hook implementations only."""

from collections.abc import Callable

from collector import hookimpl

from ._source import {{Name}}Source


@hookimpl
def collector_register_sources(register: Callable[[type[{{Name}}Source]], None]) -> None:
    """Provide the `{{name}}` source."""
    register({{Name}}Source)


@hookimpl
def collector_register_demos(register: Callable[..., None]) -> None:
    """Offer emulated {{Name}} tenants to `collector demo` (the emulator is imported only then)."""
    from ._demo import demo_tenants
    register("{{name}}", demo_tenants)
''',

    "collector_{{name}}/_settings.py": r'''"""The settings of a `[[sources]]` entry with `plugin = "{{name}}"`."""

from typing import Annotated

from collector import Secret, SourceSettings, http_url
from pydantic import AfterValidator, AwareDatetime, Field

EXAMPLE_URL = "https://api.{{dist}}.example"


class {{Name}}Settings(SourceSettings):
    """One {{Name}} tenant: where its API is, its API key, and from when to collect.

    Every key `SourceSettings` defines (rate_limit, max_in_flight, retry, ...) is accepted too.
    """

    base_url: Annotated[str, AfterValidator(lambda url: http_url(url, example=EXAMPLE_URL))]
    api_key: Secret = Field(description='the API key: { env = "NAME" } or { file = "/path" }')
    start: AwareDatetime = Field(description="collect recordings created at or after this")
    page_size: int = Field(default=100, ge=1, le=500, description="recordings per listing page")
''',

    "collector_{{name}}/_api.py": r'''"""{{Name}}'s API as the source uses it: the raw HTTP calls, and what their answers must hold.

The skeleton talks to a made-up API; replace it with your vendor's, as its documentation says:

    GET /v1/recordings?since=<ISO 8601>&limit=<n>[&cursor=<c>]     newest first
        -> {"recordings": [...], "next_cursor": "<c>" or null}
    GET /v1/recordings/{id}/audio     the WAV file; 409 while the recording is still processing

Every request carries `Authorization: Bearer <api key>`; at most 20 requests a second and 4 in
flight per key are allowed (429 beyond).
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx
from collector import (CursorPaginator, HttpClient, Incremental, ListedPage, iso, paginate,
                       path_segment)

PAGES = CursorPaginator("next_cursor", param="cursor")


def recordings(http: HttpClient, run: Incremental, page_size: int) -> AsyncIterator[ListedPage]:
    """The recordings created since `run.since`, newest first, page by page (or from `run.resume`).

    `paginate` checks that every answer holds a `recordings` list: one that does not stops the
    tenant with a clear message, and the listing's position is not advanced.
    """
    return paginate(http, "/v1/recordings", paginator=PAGES, items="recordings",
                    params={"since": iso(run.since), "limit": page_size}, resume=run.resume)


def audio(http: HttpClient, recording_id: str) -> AbstractAsyncContextManager[httpx.Response]:
    """A recording's audio, streamed (the core verifies it); 409: the vendor is still processing."""
    url = f"/v1/recordings/{path_segment(recording_id)}/audio"  # any id stays one path segment
    return http.stream("GET", url, not_ready_on=(409,))
''',

    "collector_{{name}}/_mapping.py": r'''"""{{Name}}'s recording JSON to `collector.Recording`: pure functions, no I/O."""

from collections.abc import Mapping
from typing import Any

from collector import Direction, MediaAvailability, Party, Recording

MEDIA = {"ready": MediaAvailability.AVAILABLE, "processing": MediaAvailability.PROCESSING,
         "purged": MediaAvailability.NONE}
DIRECTION = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}


def to_recording(item: Mapping[str, Any], source: str, tenant: str) -> Recording:
    """One listed recording, normalized; raise (anything) to quarantine the item with the reason."""
    return Recording(
        source=source, tenant=tenant, vendor_id=item["id"], start=item["started_at"],
        duration=item["duration_seconds"], media=MEDIA[item["status"]],
        direction=DIRECTION.get(item.get("direction", ""), Direction.UNKNOWN),
        parties=[Party(number=item.get("caller"), role="caller"),
                 Party(number=item.get("callee"), role="callee")],
        raw=dict(item))
''',

    "collector_{{name}}/_source.py": r'''"""The {{Name}} source: one tenant's recordings, listed incrementally, and their audio."""

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
from collector import (Incremental, Page, RateLimit, Recording, Source, SourceContext,
                       StaticBearerAuth)

from . import _api, _mapping
from ._settings import {{Name}}Settings


class {{Name}}Source(Source):
    """One {{Name}} tenant."""

    name = "{{name}}"
    Settings = {{Name}}Settings
    settings: {{Name}}Settings
    default_rate_limit = RateLimit(requests=20, per_seconds=1)  # what the vendor documents
    default_max_in_flight = 4  # the vendor's limit on requests in flight, if it has one
    # How late the vendor may list a recording, and a margin. A watermark is safe only where the
    # vendor documents that bound: otherwise see the README's "Toolkit: choosing a listing strategy".
    overlap = timedelta(minutes=10)

    def __init__(self, settings: {{Name}}Settings, context: SourceContext) -> None:
        super().__init__(settings, context)
        self.http = context.http(settings.base_url, StaticBearerAuth(settings.api_key))

    async def sync(self, state: dict[str, Any] | None) -> AsyncIterator[Page]:
        """Recordings created since the newest one the last pass saw, minus the overlap."""
        run = Incremental(state, start=self.settings.start, overlap=self.overlap,
                          restart_from=self.context.restart_from)  # after `collector reset --from`
        async for listed in _api.recordings(self.http, run, self.settings.page_size):
            yield run.page(listed, time="created_at")

    def parse(self, item: Mapping[str, Any]) -> Iterable[Recording]:
        """One listed recording."""
        return [_mapping.to_recording(item, self.context.source, self.context.tenant)]

    def open_audio(self, recording: Recording) -> AbstractAsyncContextManager[httpx.Response]:
        """The recording's audio."""
        return _api.audio(self.http, recording.vendor_id)
''',
}
