"""The Xima plugin passes the core's conformance suite against its own emulators."""

from __future__ import annotations

from collector.testing import Emulation, SourceConformance
from collector_xima.testing import XimaEmulation


class TestXimaConformance(SourceConformance):
    source_name = "xima"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return XimaEmulation(bad_data=bad_data)
