"""Fixtures for the Focus plugin's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector_focus.testing import FocusEmulation


@pytest.fixture
def focus() -> Iterator[FocusEmulation]:
    """A running two-tenant Focus emulation."""
    emulation = FocusEmulation()
    try:
        yield emulation
    finally:
        emulation.close()
