"""The Focus plugin passes the core's conformance suite against its own emulator."""

from __future__ import annotations

from collector.testing import Emulation, SourceConformance
from collector_focus.testing import FocusEmulation


class TestFocusConformance(SourceConformance):
    source_name = "focus"

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        return FocusEmulation(bad_data=bad_data)
