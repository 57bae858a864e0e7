"""Fixtures for the Imagicle plugin's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector_imagicle.testing import ImagicleEmulation


@pytest.fixture
def imagicle() -> Iterator[ImagicleEmulation]:
    """A running two-account Imagicle emulation ("one": client credentials and audio; "two": static token)."""
    emulation = ImagicleEmulation()
    try:
        yield emulation
    finally:
        emulation.close()
