"""The Heron plugin keeps the collector's promises against its own emulator."""

from collector.testing import Emulation, SourceConformance
from collector_heron.testing import HeronEmulation


class TestHeronConformance(SourceConformance):
    """The whole conformance suite (real HTTP, faults, kills, resumes) on two emulated tenants."""

    source_name = "heron"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return HeronEmulation(bad_data=bad_data)
