"""Install a test module as a plugin, the way the conformance suite expects one: an entry point.

The conformance suite finds the plugin it checks through its entry point (`Plugins()`), in this
process and in the `collector run` subprocesses it SIGKILLs. `installed_as_plugin` writes a
distribution's metadata (a dist-info folder with `entry_points.txt`) into a folder of its own, puts
that folder and this one on `sys.path` and `PYTHONPATH` while it is active, and takes them off
again afterwards: nothing is pip-installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector import ENTRY_POINT_GROUP

TESTS = Path(__file__).resolve().parent


@contextmanager
def installed_as_plugin(directory: Path, *, distribution: str, name: str, module: str) -> Iterator[None]:
    """While active, `module` (a module of this folder holding hook implementations) is the
    installed plugin `name` of `distribution`."""
    site = directory / "site"
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {module}\n")
    entries = [str(site), str(TESTS)]
    saved_path, saved_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path.extend(entry for entry in entries if entry not in sys.path)
    os.environ["PYTHONPATH"] = os.pathsep.join([*entries, *([saved_env] if saved_env else [])])
    try:
        yield
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_env
