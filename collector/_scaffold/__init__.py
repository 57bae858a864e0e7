"""`collector new-plugin NAME [DIR]`: write a complete, installable plugin distribution to start from.

The skeleton is a working plugin for a made-up vendor, in the layout every plugin shares
(`_settings`, `_api`, `_mapping`, `_source`, `_emudata`, `emulator`, `_demo`, `testing`), built
the intended way: an auth strategy, `paginate` with a paginator, `Incremental` with an overlap,
`not_ready_on` for media still processing, and an emulator on `collector.emulator`. Its tests
(the whole conformance suite) pass as written, so an author replaces the made-up vendor with
theirs one file at a time and always has a green suite to come back to.

The templates are Python strings (`_package`: the distribution and the plugin code; `_emulation`:
the emulator, the demo, the conformance adapter and the tests) in which `{{name}}` (the plugin's
name), `{{Name}}` (its class-name form), `{{NAME}}` (for environment variables) and `{{dist}}`
(its distribution-name form) are replaced. They import only `collector`, `collector.emulator`
and `collector.testing`, as a third-party plugin must.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._emulation import EMULATION
from ._package import PACKAGE

NAME = re.compile(r"[a-z](?:[a-z0-9]|_(?=[a-z0-9])){0,39}")
_PLACEHOLDER = re.compile(r"\{\{(name|Name|NAME|dist)\}\}")


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

    from .._plugins import ENTRY_POINT_GROUP

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
    """A template with the plugin's names filled in."""
    names = {"name": name, "Name": "".join(part.capitalize() for part in name.split("_")),
             "NAME": name.upper(), "dist": name.replace("_", "-")}
    return _PLACEHOLDER.sub(lambda match: names[match.group(1)], template)


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
        for relative, template in {**PACKAGE, **EMULATION}.items():
            path = target / render(relative, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(template, name), encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ScaffoldError(f"Cannot write the plugin into {target}: {exc.strerror or exc}.") from None
    return written
