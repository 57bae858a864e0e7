"""The Xima CCaaS plugin for recording-collector.

Registered through the `recording_collector` entry point `xima`, exactly as a third-party plugin
is; this module holds its hook implementations and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from collector import DemoFactory, hookimpl

from ._settings import XimaSettings
from ._source import XimaSource

__all__ = ["XimaSettings", "XimaSource"]


@hookimpl
def collector_register_sources(register: Callable[[type[XimaSource]], None]) -> None:
    """Provide the `xima` source."""
    register(XimaSource)


@hookimpl
def collector_register_demos(register: Callable[[str, DemoFactory], None]) -> None:
    """Offer three emulated Xima tenants (one emulator port each) to `collector demo`."""
    from ._demo import demo_tenants

    register("xima", demo_tenants)
