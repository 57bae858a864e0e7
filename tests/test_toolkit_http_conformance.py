"""The conformance suite's HTTP-shape checks, run against a vendor that has every shape.

`tests/shapes/collector_shapes.py` is a plugin written the way the README's toolkit sections
teach (an error table, a "try again" predicate, a route with its own limit and a daily quota, URLs
handed out in JSON, "not ready" with an estimate); its emulation declares every `HttpShapes` trait,
so the whole suite, those checks included, runs against it. It is installed the way a user installs
a plugin: a distribution (dist-info with an entry point) on the path, for this process and the
subprocesses the suite starts. Only the embedded store: the shapes do not touch the backends.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from collector.testing import Emulation, SourceConformance

SHAPES = Path(__file__).resolve().parent / "shapes"


@pytest.fixture(scope="module")
def shapes_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the plugin's distribution metadata (its entry point)."""
    site = tmp_path_factory.mktemp("shapes-site")
    dist = site / "collector_shapes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: collector-shapes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[recording_collector]\nshapes = collector_shapes\n")
    return site


class TestShapesConformance(SourceConformance):
    """Every promise, and every HTTP-shape check, for the Shapes vendor."""

    source_name = "shapes"
    backends = ("embedded",)  # HTTP shapes, the change feed's sync state and a token file touch no path the
    # store backends take differently; the shipped plugins' and the revisit/batch suites run on both.

    @pytest.fixture(autouse=True)
    def installed(self, shapes_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for folder in (SHAPES, shapes_site):
            monkeypatch.syspath_prepend(str(folder))
        paths = [str(SHAPES), str(shapes_site), os.environ.get("PYTHONPATH", "")]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
        importlib.invalidate_caches()

    def start_emulation(self, *, bad_data: bool = False) -> Emulation:
        from collector_shapes import ShapesEmulation

        return ShapesEmulation(bad_data=bad_data)
