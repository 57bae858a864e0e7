"""Lyrebird (docs/lyrebird-api.md) for recording-collector: the hook implementations only."""

from collections.abc import Callable

from collector import hookimpl

from ._source import LyrebirdSource


@hookimpl
def collector_register_sources(register: Callable[[type[LyrebirdSource]], None]) -> None:
    """Provide the `lyrebird` source."""
    register(LyrebirdSource)


@hookimpl
def collector_register_demos(register: Callable[..., None]) -> None:
    """Offer emulated Lyrebird accounts to `collector demo` (the emulator is imported only then)."""
    from ._demo import demo_accounts
    register("lyrebird", demo_accounts)
