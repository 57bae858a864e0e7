"""The Focus plugin for recording-collector (Native Focus REST API).

Registered through the `recording_collector` entry point `focus`, exactly as a third-party plugin
is; this module holds its hook implementations and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from collector import DemoFactory, hookimpl

from ._settings import FocusSettings
from ._source import FocusSource

__all__ = ["FocusSettings", "FocusSource"]


@hookimpl
def collector_register_sources(register: Callable[[type[FocusSource]], None]) -> None:
    """Provide the `focus` source."""
    register(FocusSource)


@hookimpl
def collector_register_demos(register: Callable[[str, DemoFactory], None]) -> None:
    """Offer three emulated Focus tenants to `collector demo`."""
    from ._demo import demo_tenants

    register("focus", demo_tenants)
