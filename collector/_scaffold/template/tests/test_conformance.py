"""The MyVendor plugin keeps the collector's promises against its own emulator."""

from collector.testing import Emulation, SourceConformance
from collector_my_vendor.testing import MyVendorEmulation


class TestMyVendorConformance(SourceConformance):
    """The whole conformance suite (real HTTP, faults, kills, resumes) on two emulated tenants."""

    source_name = "my_vendor"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return MyVendorEmulation(bad_data=bad_data)
