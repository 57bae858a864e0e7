"""The Imagicle plugin passes the core's conformance suite against its own emulator."""

from __future__ import annotations

from collector.testing import Emulation, SourceConformance
from collector_imagicle.testing import ImagicleEmulation


class TestImagicleConformance(SourceConformance):
    source_name = "imagicle"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return ImagicleEmulation(bad_data=bad_data)
