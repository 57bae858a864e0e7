"""Loading and checking the TOML configuration: every problem at once, each with file and key path.

The file has three tables and a list:

    [store]        where the store lives (relative paths are relative to the config file)
    [scheduler]    the cron expression `collector schedule` follows, time zone, concurrency
    [logging]      text or JSON log lines, level
    [[sources]]    one entry per vendor tenant: `plugin` picks the source type, `tenant` names
                   the entry, the rest is validated by that plugin's own settings model

Environment variables override the tables (`COLLECTOR_STORE__PATH=/data`, pydantic-settings'
nested delimiter); secrets are references (`{ env = "NAME" }`, see `Secret`). Each source entry
is validated by its plugin's model and errors are re-raised with the entry's location prefixed,
which reads better than one dynamic union of every plugin's model.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from ._errors import ConfigError
from ._plugins import Plugins
from ._secret import PLAIN_TEXT, Secret
from ._source import SourceSettings

DEFAULT_CONFIG = Path("collector.toml")

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_expression(text: str) -> str:
    """The five-field form of a cron expression (aliases such as `@daily` expanded)."""
    return CRON_ALIASES.get(text.strip().lower(), text.strip())


def resolve_timezone(name: str) -> tzinfo:
    """The zone `collector schedule` reads its cron expression in ("local": the machine's, with DST)."""
    if name != "local":
        return zoneinfo.ZoneInfo(name)
    if os.environ.get("TZ"):
        try:
            return zoneinfo.ZoneInfo(os.environ["TZ"].lstrip(":"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as handle:
            return zoneinfo.ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return datetime.now().astimezone().tzinfo or zoneinfo.ZoneInfo("UTC")


class StoreSettings(BaseModel):
    """Where the store lives."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    path: Path = Field(default=Path("collector-store"), description="store directory")


class SchedulerSettings(BaseModel):
    """When `collector schedule` runs passes, and how many tenant jobs run at once."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    cron: str = Field(default="0 2 * * *", description="five-field cron expression or @daily-style alias")
    timezone: str = Field(default="local", description="IANA zone name for the cron expression, or 'local'")
    max_jobs: int = Field(default=8, ge=1, le=256, description="tenant jobs running at once")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            CronSim(cron_expression(value), datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"expected a cron expression such as '0 2 * * *' or '@daily' ({exc})") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            resolve_timezone(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'Europe/London', or 'local'") from None
        return value


class LoggingSettings(BaseModel):
    """How run output is written when not on a terminal (and always to the log)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class CollectorSettings(BaseSettings):
    """The whole file before the source entries are validated by their plugins."""

    model_config = SettingsConfigDict(
        env_prefix="COLLECTOR_", env_nested_delimiter="__", extra="forbid", hide_input_in_errors=True
    )

    store: StoreSettings = StoreSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    logging: LoggingSettings = LoggingSettings()
    sources: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class Config:
    """A validated configuration: ready to run."""

    path: Path
    store: StoreSettings
    scheduler: SchedulerSettings
    logging: LoggingSettings
    sources: list[SourceSettings]
    warnings: list[str] = field(default_factory=list)

    @property
    def store_path(self) -> Path:
        """The store directory, resolved against the configuration file's folder."""
        return (self.path.parent / self.store.path).resolve()

    @property
    def enabled_sources(self) -> list[SourceSettings]:
        """The source entries that take part in runs."""
        return [s for s in self.sources if s.enabled]


def load_config(path: Path, plugins: Plugins) -> Config:
    """Read, validate and return the configuration, or raise ConfigError listing every problem."""
    where = str(path)
    raw = _read_toml(path)
    problems: list[str] = []
    try:
        settings = _settings_class(path)()
    except ValidationError as exc:
        problems.extend(_describe(where, exc, prefix=(), model=CollectorSettings))
        settings = _partial_settings(raw)
    sources = _validate_sources(where, settings.sources, plugins, problems)
    if not settings.sources and not problems:
        problems.append(f"{where}: sources: no [[sources]] entries; add at least one (see config.example.toml).")
    if problems:
        raise ConfigError(problems)
    config = Config(path, settings.store, settings.scheduler, settings.logging, sources)
    config.warnings = _plain_secret_warnings(where, sources)
    return config


def read_store_location(path: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The store directory and the configured (plugin, tenant) names, without validating sources.

    For commands that only read the store (`status`): they must work without the secrets, which
    a person looking at a store often does not have in their environment.
    """
    raw = _read_toml(path)
    try:
        settings = _settings_class(path)(sources=[])
    except ValidationError as exc:
        raise ConfigError(_describe(str(path), exc, prefix=(), model=CollectorSettings)) from None
    tenants = [
        (entry["plugin"], entry["tenant"])
        for entry in raw.get("sources", [])
        if isinstance(entry, dict) and isinstance(entry.get("plugin"), str) and isinstance(entry.get("tenant"), str)
    ]
    return (path.parent / settings.store.path).resolve(), tenants


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, or a ConfigError naming the file (and the line, for a syntax error)."""
    if not path.is_file():
        raise ConfigError([f"{path}: the configuration file does not exist (give one with --config)."])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: TOML syntax error: {exc}."]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the file: {exc}."]) from None


def _settings_class(path: Path) -> type[CollectorSettings]:
    class FromFile(CollectorSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path)

    return FromFile


def _partial_settings(raw: dict[str, Any]) -> CollectorSettings:
    """Something to keep checking the source entries with when the other tables are invalid."""
    sources = raw.get("sources")
    return CollectorSettings.model_construct(sources=sources if isinstance(sources, list) else [])


def _validate_sources(
    where: str, entries: list[Any], plugins: Plugins, problems: list[str]
) -> list[SourceSettings]:
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
        try:
            settings = source_cls.Settings.model_validate(entry)
        except ValidationError as exc:
            problems.extend(_describe(where, exc, prefix=("sources", index), model=source_cls.Settings))
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


def _unknown_plugin(plugin: Any, plugins: Plugins) -> str:
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
        annotation = getattr(info, "annotation", None)
        current = next((a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)), None)
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
