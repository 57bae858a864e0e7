"""The hooks a plugin can implement. All are synchronous and cheap: I/O lives in `Source` methods.

Implement them in your plugin's module with the `hookimpl` marker:

    from collector import hookimpl

    @hookimpl
    def collector_register_sources(register):
        register(MySource)

Every hook is called from one place, `collector._plugins.Plugins`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

if TYPE_CHECKING:
    from ._model import Recording
    from ._source import Source

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
