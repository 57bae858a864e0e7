"""`collector new-plugin NAME [DIR]`: write a complete, installable plugin distribution to start from.

The skeleton is a working plugin for a made-up vendor, in the layout every plugin shares
(`_settings`, `_api`, `_mapping`, `_source`, `_emudata`, `emulator`, `_demo`, `testing`), built
the intended way: an auth strategy, `paginate` with a paginator, `Incremental` with an overlap,
`not_ready_on` for media still processing, and an emulator on `collector.emulator`. Its tests
(the whole conformance suite) pass as written, so an author replaces the made-up vendor with
theirs one file at a time and always has a green suite to come back to.

The skeleton is real files, in `template/` (package data, see pyproject.toml): a plugin named
`my_vendor`, valid Python that mypy and the linter check like any other code. Rendering copies
them, replacing the name in every file name and text in its four forms: `my_vendor` (the plugin's
name), `MyVendor` (its class-name form), `MY_VENDOR` (for environment variables) and `my-vendor`
(its distribution-name form). They import only `collector`, `collector.emulator` and
`collector.testing`, as a third-party plugin must.

May import: `archive_check`, `_base`, `_http`, `_sources`, `_storage`, `_runner`.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

NAME = re.compile(r"[a-z](?:[a-z0-9]|_(?=[a-z0-9])){0,39}")
TEMPLATE_NAME = "my_vendor"
"""The name the template plugin is written with; `render` replaces it (in its four forms)."""
_PLACEHOLDER = re.compile(r"my_vendor|MyVendor|MY_VENDOR|my-vendor")


class ScaffoldError(Exception):
    """The plugin cannot be written where asked; the message says why and what to do instead."""


def check_name(name: str) -> str:
    """`name` if it can name a plugin (and its `collector_<name>` package), else a ScaffoldError."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} cannot name a plugin: use up to 40 lowercase letters, digits and single "
            "underscores, starting with a letter (e.g. acme or acme_voice).")
    return name


def check_not_installed(name: str) -> None:
    """A ScaffoldError if `name` is taken on this machine: an installed plugin (entry point), a
    distribution `collector-<name>` or a package `collector_<name>`. Installing the new plugin
    would replace it (or be shadowed by it)."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, distribution, entry_points

    from collector._runner._plugins import ENTRY_POINT_GROUP

    taken = [f"the installed plugin {name!r}"] if any(e.name == name for e in entry_points(group=ENTRY_POINT_GROUP)) \
        else []
    try:
        distribution(f"collector-{name.replace('_', '-')}")
        taken.append(f"the installed distribution collector-{name.replace('_', '-')}")
    except PackageNotFoundError:
        pass
    if not taken and importlib.util.find_spec(f"collector_{name}") is not None:
        taken.append(f"the importable package collector_{name}")
    if taken:
        raise ScaffoldError(f"{name!r} is taken by {' and '.join(taken)}: installing a new plugin of that name would "
                            "replace it. Choose another name (e.g. the vendor's name with a suffix).")


def default_directory(name: str) -> Path:
    """Where `new_plugin` writes when no directory is given: `./collector-<name>`."""
    return Path(f"collector-{name.replace('_', '-')}")


def render(template: str, name: str) -> str:
    """A template's text (or relative path) with the plugin's names in place of `my_vendor`'s."""
    names = {"my_vendor": name, "MyVendor": "".join(part.capitalize() for part in name.split("_")),
             "MY_VENDOR": name.upper(), "my-vendor": name.replace("_", "-")}
    return _PLACEHOLDER.sub(lambda match: names[match.group(0)], template)


def template_files() -> dict[str, str]:
    """The template's files by relative path (`collector_my_vendor/_api.py`, ...), as text."""
    found: dict[str, str] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.name.startswith(".") or entry.name == "__pycache__" or entry.name.endswith((".pyc", ".egg-info")):
                continue  # left by a tool that ran on the template in place
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found[f"{prefix}{entry.name}"] = entry.read_text(encoding="utf-8")

    walk(files(__name__).joinpath("template"), "")
    return dict(sorted(found.items()))


def new_plugin(name: str, directory: Path | None = None) -> list[Path]:
    """Write the distribution of plugin `name` into `directory` (new or empty); return its files."""
    check_name(name)
    check_not_installed(name)
    target = directory if directory is not None else default_directory(name)
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} already exists and is not a directory; choose another directory.")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(f"{target} already exists and is not empty; choose another directory "
                            "(collector new-plugin NAME DIR) or remove it.")
    written: list[Path] = []
    try:
        for relative, template in template_files().items():
            path = target / render(relative, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(template, name), encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ScaffoldError(f"Cannot write the plugin into {target}: {exc.strerror or exc}.") from None
    return written
