"""Heron (docs/heron-api.md) for recording-collector: the hook implementations only."""

from collections.abc import Callable

from collector import hookimpl

from ._source import HeronSource


@hookimpl
def collector_register_sources(register: Callable[[type[HeronSource]], None]) -> None:
    """Provide the `heron` source."""
    register(HeronSource)
