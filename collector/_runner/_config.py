"""Loading and checking the TOML configuration: every problem at once, each with file and key path.

The file has a few tables and a list:

    [store]        where the store lives (relative paths are relative to the config file)
    [scheduler]    the cron expression `collector schedule` follows, time zone, concurrency
    [logging]      text or JSON log lines, level
    [verify]       a slice of `collector verify` after every scheduled pass
    [metrics]      Prometheus metrics: a text file per run, a port `schedule` serves
    [[sources]]    one entry per vendor tenant: `plugin` picks the source type, `tenant` names
                   the entry, the rest is validated by that plugin's own settings model

Values are typed as TOML types them: `enabled = "yes"` or `page_size = "500"` are errors, not
silently coerced (a string in a file is a string). Environment variables override the tables
(`COLLECTOR_STORE__PATH=/data`, `COLLECTOR_SCHEDULER__MAX_JOBS=16`): they are text by nature, so
they are parsed, and a bad one is reported naming the variable. Secrets are references
(`{ env = "NAME" }`, `{ file = "path" }`, a relative path being relative to the config file,
see `Secret`). Each source entry is validated by its plugin's model and errors are reported with
the entry's location prefixed, which reads better than one dynamic union of every plugin's model.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter, ValidationError

from collector._base._errors import ConfigError
from collector._base._secret import PLAIN_TEXT, Secret
from collector._base._settings_tables import (
    TABLES,
    ClusterSettings,
    EvidenceSettings,
    FileSettings,
    LoggingSettings,
    MetricsSettings,
    SchedulerSettings,
    StoreSettings,
    VerifySettings,
)

if typing.TYPE_CHECKING:  # types only: `status`, `report` and `export` read the tables, not the sources,
    # and must not pay for the plugins' HTTP stack (httpx, the source models) at start-up
    from collector._sources._source import Source, SourceSettings
    from collector._storage._store import StoreLocation

ENV_PREFIX = "COLLECTOR_"


class _PluginState(Protocol):
    @property
    def error(self) -> str | None: ...


class InstalledPlugins(Protocol):
    """What loading a configuration needs of the installed plugins: a `collector.engine.Plugins`.

    Named here rather than imported, as the plugins' hooks receive a `Config`: the source classes
    by plugin name, and what is wrong with a plugin that is installed but broken.
    """

    @property
    def sources(self) -> Mapping[str, type[Source]]: ...

    @property
    def infos(self) -> Mapping[str, _PluginState]: ...


@dataclass
class Config:
    """A validated configuration: ready to run."""

    path: Path
    store: StoreSettings
    scheduler: SchedulerSettings
    logging: LoggingSettings
    sources: list[SourceSettings]
    verify: VerifySettings = field(default_factory=VerifySettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    warnings: list[str] = field(default_factory=list)

    @property
    def store_path(self) -> Path:
        """The store directory, resolved against the configuration file's folder."""
        return (self.path.parent / self.store.path).resolve()

    @property
    def store_location(self) -> StoreLocation:
        """Where the store's folder, catalog and files are (see `StoreSettings`)."""
        return store_location(self.store_path, self.store)

    @property
    def enabled_sources(self) -> list[SourceSettings]:
        """The source entries that take part in runs."""
        return [s for s in self.sources if s.enabled]


def load_config(path: Path, plugins: InstalledPlugins, *, check_store: bool = False) -> Config:
    """Read, validate and return the configuration, or raise ConfigError listing every problem.

    `check_store` also checks that the store can be created and written (`config check`).
    """
    where = str(path)
    raw = _read_toml(path)
    problems: list[str] = []
    settings = _file_settings(path, raw, problems)
    entries = raw.get("sources", [])
    if not isinstance(entries, list):
        problems.append(f"{where}: sources: expected [[sources]] tables.")
        entries = []
    sources = _validate_sources(path, entries, plugins, problems)
    if not entries and not problems:
        problems.append(f"{where}: sources: no [[sources]] entries; add at least one (see config.example.toml).")
    config = Config(path, settings.store, settings.scheduler, settings.logging, sources, settings.verify,
                    settings.metrics, settings.cluster, settings.evidence)
    if check_store and not problems:
        problems.extend(_store_problems(where, config.store_path))
        problems.extend(_backend_problems(where, config))
    if problems:
        raise ConfigError(problems)
    config.warnings = _plain_secret_warnings(where, sources)
    return config


def store_location(root: Path, settings: StoreSettings) -> StoreLocation:
    """A `StoreLocation` from the `[store]` table (secrets resolved, never printed)."""
    from collector._storage._catalog import PostgresTarget
    from collector._storage._objects import S3Location
    from collector._storage._store import StoreLocation

    postgres = settings.postgresql
    s3 = settings.s3
    return StoreLocation(
        root=root,
        postgres=PostgresTarget(postgres.dsn, postgres.password.get_secret_value() if postgres.password else None)
        if postgres else None,
        s3=S3Location(s3.bucket, s3.prefix, s3.endpoint, s3.region,
                      s3.access_key_id.get_secret_value() if s3.access_key_id else None,
                      s3.secret_access_key.get_secret_value() if s3.secret_access_key else None,
                      s3.path_style) if s3 else None,
        reconnect_seconds=postgres.reconnect_seconds if postgres else 60.0,
        min_free_bytes=settings.min_free_bytes,
    )


def read_store_location(path: Path) -> tuple[StoreLocation, list[tuple[str, str]]]:
    """Where the store is and the configured (plugin, tenant) names, without validating sources.

    For commands that only read the store (`status`, `report`, `export`): they must work without
    the secrets, which a person looking at a store often does not have in their environment.
    """
    location, _, tenants = read_tables(path)
    return location, tenants


def read_tables(path: Path) -> tuple[StoreLocation, FileSettings, list[tuple[str, str]]]:
    """The store's location, the file's tables (`[evidence]`, ...) and the configured (plugin,
    tenant) names, without validating the source entries (see `read_store_location`)."""
    raw = _read_toml(path)
    problems: list[str] = []
    settings = _file_settings(path, {**raw, "sources": []}, problems)
    if problems:
        raise ConfigError(problems)
    tenants = [
        (entry["plugin"], entry["tenant"])
        for entry in raw.get("sources", [])
        if isinstance(entry, dict) and isinstance(entry.get("plugin"), str) and isinstance(entry.get("tenant"), str)
    ]
    return store_location((path.parent / settings.store.path).resolve(), settings.store), settings, tenants


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or a ConfigError naming the file (and the line, for a syntax error)."""
    if path.is_dir():
        raise ConfigError([f"{path}: is a directory, not a configuration file (give the .toml file with --config)."])
    if not path.is_file():
        raise ConfigError([f"{path}: the configuration file does not exist (give one with --config)."])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: TOML syntax error: {exc}."]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the file: {exc}."]) from None


def _context(path: Path) -> dict[str, Any]:
    return {"config_dir": path.parent.resolve()}


def _file_settings(path: Path, raw: dict[str, Any], problems: list[str]) -> FileSettings:
    """The tables, from the file (typed as TOML types them) and the environment (parsed)."""
    where = str(path)
    problems.extend(f"{where}: {key_path(loc)}: {text}" for loc, text in _type_problems(FileSettings, raw, ()))
    merged = {**raw, "sources": []}
    for _variable, table, key, value in _environment_overrides(problems):
        target = merged.get(table)
        merged[table] = {**(target if isinstance(target, dict) else {}), key: value}
    try:
        return FileSettings.model_validate(merged, context=_context(path))
    except ValidationError as exc:
        problems.extend(_describe(where, exc, prefix=(), model=FileSettings))
        return FileSettings()


def _environment_overrides(problems: list[str]) -> Iterator[tuple[str, str, str, Any]]:
    """`COLLECTOR_<TABLE>__<KEY>` variables, parsed as their keys' types (a bad one names the variable)."""
    for variable, text in sorted(os.environ.items()):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        table, _, key = variable[len(ENV_PREFIX):].lower().partition("__")
        model = TABLES.get(table)
        if model is None:
            problems.append(f"environment variable {variable}: there is no [{table}] table to override "
                            f"(known: {', '.join(sorted(TABLES))}).")
            continue
        info = model.model_fields.get(key)
        if info is None:
            hint = difflib.get_close_matches(key, list(model.model_fields), n=1)
            problems.append(f"environment variable {variable}: [{table}] has no key {key!r}"
                            f"{f' (did you mean {hint[0]!r}?)' if hint else ''}.")
            continue
        try:
            value = TypeAdapter(info.annotation or str).validate_python(text, strict=False)
            model.model_validate({key: value})
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            problems.append(f"environment variable {variable}: {_explain(first, model)}")
            continue
        yield variable, table, key, value


def _validate_sources(path: Path, entries: list[Any], plugins: InstalledPlugins,
                      problems: list[str]) -> list[SourceSettings]:
    where = str(path)
    validated: list[SourceSettings] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(entries):
        at = f"sources[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: {at}: expected a table ([[sources]]).")
            continue
        plugin = entry.get("plugin")
        source_cls = plugins.sources.get(plugin) if isinstance(plugin, str) else None
        if source_cls is None:
            problems.append(f"{where}: {at}.plugin: {_unknown_plugin(plugin, plugins)}")
            continue
        typed = _type_problems(source_cls.Settings, entry, ("sources", index))
        problems.extend(f"{where}: {key_path(loc)}: {text}" for loc, text in typed)
        try:
            settings = source_cls.Settings.model_validate(entry, context=_context(path))
        except ValidationError as exc:
            problems.extend(p for p in _describe(where, exc, prefix=("sources", index), model=source_cls.Settings)
                            if not any(p.startswith(f"{where}: {key_path(loc)}:") for loc, _ in typed))
            continue
        if typed:
            continue
        key = (settings.plugin, settings.tenant)
        if key in seen:
            problems.append(
                f"{where}: {at}.tenant: '{settings.tenant}' is already used by sources[{seen[key]}] "
                f"(plugin {settings.plugin}); each tenant of a plugin needs its own name."
            )
            continue
        seen[key] = index
        validated.append(settings)
    return validated


# -- TOML types ------------------------------------------------------------------------------------

_WRONG_TYPE = {bool: "expected true or false (without quotes).", int: "expected a whole number (without quotes).",
               float: "expected a number (without quotes)."}


def _scalar(annotation: Any) -> type | None:
    """bool, int or float if that is all the annotation allows (None aside), else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = {_scalar(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return found.pop() if len(found) == 1 else None
    return annotation if annotation in _WRONG_TYPE else None


def _model(annotation: Any) -> type[BaseModel] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType):
        models = [m for arg in typing.get_args(annotation) if (m := _model(arg)) is not None]
        return models[0] if len(models) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _type_problems(model: type[BaseModel], data: Any, location: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """Values the file writes as the wrong TOML type for a bool, int or float key (pydantic would
    quietly convert "500" or "yes"), found recursively in nested tables."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if not isinstance(data, Mapping):
        return found
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        value, here = data[name], (*location, name)
        kind = _scalar(info.annotation)
        if kind is not None and value is not None:
            wrong = (not isinstance(value, bool)) if kind is bool else (
                isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int))
            if wrong and not (kind is int and isinstance(value, float) and value.is_integer()):
                found.append((here, _WRONG_TYPE[kind]))
            continue
        nested = _model(info.annotation)
        if nested is not None:
            found += _type_problems(nested, value, here)
    return found


# -- the store -----------------------------------------------------------------------------------


def _store_problems(where: str, store: Path) -> list[str]:
    """Whether the store folder exists or can be created, and can be written."""
    if store.exists() and not store.is_dir():
        return [f"{where}: store.path: {store} is a file, not a folder; give a folder for the store."]
    existing = store
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return [f"{where}: store.path: {existing} is a file, so the store {store} cannot be created there."]
    try:
        space = os.statvfs(existing)
    except OSError:
        space = None
    if space is not None and space.f_blocks == 0:  # /proc, /sys and their kind hold no files of ours
        return [f"{where}: store.path: {store} is on a file system with no storage (such as /proc or /sys); give a "
                "folder on a disk."]
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "written" if existing == store else f"created (in {existing})"
        return [f"{where}: store.path: the store {store} cannot be {what}: permission denied or a read-only "
                "file system."]
    return []


def _backend_problems(where: str, config: Config) -> list[str]:
    """Whether the PostgreSQL catalog and the S3 bucket answer (`config check`): a wrong DSN,
    password, bucket, endpoint or key is named now, not in the middle of a run."""
    from collector._storage._catalog import Catalog
    from collector._storage._objects import BucketError, S3Objects

    location = config.store_location
    problems: list[str] = []
    if location.postgres is not None:
        try:
            Catalog(location.postgres, read_only=True).close()
        except Exception as exc:  # noqa: BLE001 - psycopg's errors, or a newer catalog: each is the answer
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            problems.append(f"{where}: store.postgresql: the database does not answer as it should ({first}); check "
                            "the DSN, the password and the server.")
    if location.s3 is not None:
        try:
            S3Objects(location.s3, location.root / ".tmp").check()
        except BucketError as exc:
            problems.append(f"{where}: store.s3: the bucket does not answer as it should ({exc}); check the bucket's "
                            "name and that it exists, the endpoint and the credentials.")
    return problems


# -- messages ------------------------------------------------------------------------------------


def _unknown_plugin(plugin: Any, plugins: InstalledPlugins) -> str:
    if plugin is None:
        return "is required: name the plugin that collects this entry."
    if not isinstance(plugin, str):
        return "expected a plugin name (a string)."
    broken = plugins.infos.get(plugin)
    if broken is not None and broken.error:
        return f"plugin '{plugin}' is installed but broken: {broken.error}"
    known = sorted(plugins.sources)
    hint = difflib.get_close_matches(plugin, known, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown plugin '{plugin}'{suggestion}; installed: {', '.join(known) or 'none'}."


def key_path(location: tuple[Any, ...]) -> str:
    """`('sources', 2, 'client_id')` as `sources[2].client_id`."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _describe(where: str, error: ValidationError, *, prefix: tuple[Any, ...], model: type[BaseModel]) -> list[str]:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        location = prefix + tuple(part for part in item["loc"] if not _is_union_tag(part))
        lines.append(f"{where}: {key_path(location)}: {_explain(item, model)}")
    return lines


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in {"function-plain", "function-after"})


def _explain(item: Any, model: type[BaseModel]) -> str:
    kind = item["type"]
    message = str(item["msg"])
    if kind == "missing":
        return "is required."
    if kind == "extra_forbidden":
        name = str(item["loc"][-1])
        hint = difflib.get_close_matches(name, list(_field_names(model, item["loc"][:-1])), n=1)
        return f"is not a known key{f' (did you mean {hint[0]!r}?)' if hint else ''}."
    for lead in ("Value error, ", "Assertion failed, "):
        if message.startswith(lead):
            message = message[len(lead):]
    if message.startswith("Input should be "):
        message = "expected " + message[len("Input should be "):]
    elif message.startswith("String should match pattern"):
        message = "expected " + (item.get("ctx", {}).get("pattern", "a different form"))
    return message.rstrip(".") + "."


def _field_names(model: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `location` inside `model` (for "did you mean" hints)."""
    current: Any = model
    for part in location:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        info = current.model_fields.get(part)
        current = _model(getattr(info, "annotation", None))
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _plain_secret_warnings(where: str, sources: list[SourceSettings]) -> list[str]:
    warnings = []
    for index, settings in enumerate(sources):
        for path, value in _walk(settings, ("sources", index)):
            if isinstance(value, Secret) and value.origin == PLAIN_TEXT:
                warnings.append(
                    f"{where}: {key_path(path)}: the secret is written in plain text in the file; "
                    f'prefer {{ env = "VARIABLE" }} or {{ file = "/path" }}.'
                )
    return warnings


def _walk(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value inside a settings model, with its key path (nested models and lists included)."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), (*path, name))
    elif isinstance(value, (list, tuple)):
        for number, item in enumerate(value):
            yield from _walk(item, (*path, number))
    else:
        yield path, value
