"""MyVendor for recording-collector: the hook implementations only."""

from collections.abc import Callable

from collector import hookimpl

from ._source import MyVendorSource


@hookimpl
def collector_register_sources(register: Callable[[type[MyVendorSource]], None]) -> None:
    """Provide the `my_vendor` source."""
    register(MyVendorSource)


@hookimpl
def collector_register_demos(register: Callable[..., None]) -> None:
    """Offer emulated MyVendor tenants to `collector demo` (the emulator is imported only then)."""
    from ._demo import demo_tenants
    register("my_vendor", demo_tenants)
