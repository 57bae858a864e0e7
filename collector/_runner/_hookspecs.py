"""The hooks a plugin can implement. All are synchronous: I/O of a source lives in `Source` methods.

Registration: `collector_register_sources`, `collector_register_demos`. A store's events:
`collector_recording_stored`. The pass lifecycle, the same for `run`, `schedule`, `demo`,
`worker` and `enqueue --wait`: `collector_service_started`, `collector_pass_started`,
`collector_tenant_finished`, `collector_pass_finished`; the collector's own metrics, verify
after a pass and summary logging are built-in plugins on these hooks (`collector._runner._builtins`),
registered exactly as an external plugin is.

Implement them in your plugin's module with the `hookimpl` marker:

    from collector import hookimpl

    @hookimpl
    def collector_register_sources(register):
        register(MySource)

Every hook is called from one place, `collector._runner._plugins.Plugins`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

if TYPE_CHECKING:
    from collector._base._model import Recording
    from collector._sources._source import Source

    from ._config import Config
    from ._summary import TenantSummary

hookspec = pluggy.HookspecMarker("collector")
hookimpl = pluggy.HookimplMarker("collector")

DemoFactory = Callable[[], AbstractContextManager[list[dict[str, Any]]]]
"""Starts a plugin's emulators and yields `[[sources]]` tables that collect from them."""


@dataclass(frozen=True)
class StoredEvent:
    """Something about one recording was committed to the store.

    `kind` says what: "metadata" (a new recording was committed), "audio" or "transcript" (a
    verified file is in place at `path`, relative to the store root).
    """

    kind: Literal["metadata", "audio", "transcript"]
    recording: Recording
    path: Path | None = None


PassKind = Literal["run", "schedule", "demo", "worker", "enqueue"]
"""Which command runs a pass: `collector run`, a pass of `schedule`, `demo`, a cluster `worker`
(one tenant's job of a distributed pass), or `enqueue --wait` (a distributed pass, seen whole)."""


@dataclass(frozen=True)
class PassEvent:
    """A pass of collection starting or finished (the same for every command that runs one).

    At the start only `kind`, `config` and `interactive` are set; at the end also the pass's run id
    (None for a distributed pass, whose tenants' runs are the workers'), every tenant's summary,
    the exit code, and why the store failed if it did.
    """

    kind: PassKind
    config: Config
    interactive: bool = False
    """A live progress table is on a terminal (summaries need not be logged line by line)."""
    run_id: int | None = None
    summaries: tuple[TenantSummary, ...] = ()
    exit_code: int | None = None
    store_failure: str | None = None


@dataclass(frozen=True)
class TenantEvent:
    """One tenant's job of a pass finished, with its summary (`summary.status`: ok, partial,
    stopped, failed; `summary.messages` say why)."""

    kind: PassKind
    config: Config
    summary: TenantSummary
    run_id: int
    interactive: bool = False
    worker: str | None = None
    """The cluster worker that ran it (`kind` "worker")."""
    pass_name: str | None = None
    """The distributed pass it belongs to (`kind` "worker")."""


@hookspec
def collector_service_started(config: Config, kind: PassKind) -> None:
    """A long-running command started (`schedule`, or a cluster `worker`): start what lives as long
    as it does (the built-in metrics plugin starts its `/metrics` server here)."""


@hookspec
def collector_pass_started(event: PassEvent) -> None:
    """A pass is about to collect: `event` carries the command running it and the configuration
    (a plugin may note the start time, or check something outside the store before any request)."""


@hookspec
def collector_tenant_finished(event: TenantEvent) -> None:
    """A tenant's job ended, in whatever command ran it (an alert on a stopped tenant goes here)."""


@hookspec
def collector_pass_finished(event: PassEvent) -> None:
    """A pass ended and its summaries are in the catalog: metrics, a verify slice, notifications.

    Like every lifecycle hook: synchronous, called on the command's main thread after the pass (a
    slow implementation delays only what follows the pass); an exception is logged with the
    plugin's name and ignored, never changing the pass's outcome.
    """


@hookspec
def collector_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Register the `Source` classes this plugin provides, by calling `register(SourceClass)`.

    Called once when the plugins are loaded. Each class's `name` is the `plugin = "..."` value
    that selects it in a `[[sources]]` entry; two plugins registering the same name is a
    start-up error naming both.
    """


@hookspec
def collector_recording_stored(event: StoredEvent) -> None:
    """Act on a recording just committed to the store (index it, notify a system, ...).

    Called after the commit, on the collector's event loop: return quickly and do not block
    (hand slow work to a thread or queue of your own). An exception is logged and ignored: it
    never stops the run, and the recording stays stored.
    """


@hookspec
def collector_register_demos(register: Callable[[str, DemoFactory], None]) -> None:
    """Offer demo tenants for `collector demo`, by calling `register(name, factory)`.

    `factory()` returns a context manager that starts the plugin's emulators on 127.0.0.1,
    sets any environment variables its secrets reference, yields a list of `[[sources]]`
    tables (dicts) that collect from those emulators, and stops them on exit.
    """
