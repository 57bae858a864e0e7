"""The Imagicle plugin passes the core's conformance suite against its own emulator."""

from __future__ import annotations

from collector_imagicle.testing import ImagicleEmulation

from collector.testing import Emulation, SourceConformance


class TestImagicleConformance(SourceConformance):
    source_name = "imagicle"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return ImagicleEmulation(bad_data=bad_data)
