"""Fixtures for the Xima plugin's tests (real HTTP to the plugin's emulators)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector_xima.testing import XimaEmulation


@pytest.fixture
def xima() -> Iterator[XimaEmulation]:
    """Three running Xima tenants (three emulators, three ports), ten recordings each."""
    emulation = XimaEmulation(tenants=3)
    try:
        yield emulation
    finally:
        emulation.close()
