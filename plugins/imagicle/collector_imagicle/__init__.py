"""The Imagicle Voice Analytics plugin for recording-collector (the "v1/recordings" API).

Registered through the `recording_collector` entry point `imagicle`, exactly as a third-party
plugin is; this module holds its hook implementations and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from collector import DemoFactory, hookimpl

from ._settings import Filters, ImagicleSettings, OAuthSettings
from ._source import ImagicleSource

__all__ = ["Filters", "ImagicleSettings", "ImagicleSource", "OAuthSettings"]


@hookimpl
def collector_register_sources(register: Callable[[type[ImagicleSource]], None]) -> None:
    """Provide the `imagicle` source."""
    register(ImagicleSource)


@hookimpl
def collector_register_demos(register: Callable[[str, DemoFactory], None]) -> None:
    """Offer two emulated Imagicle accounts to `collector demo` (static token; client credentials)."""
    from ._demo import demo_accounts

    register("imagicle", demo_accounts)
