"""The Lyrebird plugin keeps the collector's promises against its own emulator."""

from collector.testing import Emulation, SourceConformance
from collector_lyrebird.testing import LyrebirdEmulation


class TestLyrebirdConformance(SourceConformance):
    """The whole conformance suite, run against two emulated Lyrebird accounts."""

    source_name = "lyrebird"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return LyrebirdEmulation(bad_data=bad_data)
