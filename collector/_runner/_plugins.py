"""Loading plugins and calling their hooks: the only module that talks to pluggy.

Plugins, built-in ones included, are found through the `recording_collector` entry-point group,
one entry point per plugin (its name is the plugin's name). They are loaded one at a time so a
plugin that fails to import, or implements a hook that does not exist, is reported by name
and the others still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from collector._base._redact import redact
from collector._sources._source import Source, SourceSettings, valid_name

from . import _hookspecs
from ._hookspecs import DemoFactory, PassEvent, PassKind, StoredEvent, TenantEvent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._config import Config

ENTRY_POINT_GROUP = "recording_collector"

log = logging.getLogger("collector.plugins")


class PluginError(Exception):
    """The installed plugins cannot be used together (e.g. two register the same source name)."""


@dataclass
class PluginInfo:
    """One plugin as `collector plugins` shows it."""

    name: str
    distribution: str | None = None
    version: str | None = None
    sources: list[str] = field(default_factory=list)
    error: str | None = None


class Plugins:
    """The installed plugins, their source classes and demos; calls every hook."""

    def __init__(self, *, entry_points_group: str | None = ENTRY_POINT_GROUP, extra: Iterable[Any] = (),
                 builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager("collector")
        self._pm.add_hookspecs(_hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        if builtins:  # the collector's own features around a pass, registered as any plugin is
            from ._builtins import DEFAULT_PLUGINS

            for name, module in DEFAULT_PLUGINS.items():
                self._pm.register(module, name=f"collector.{name}")
        if entry_points_group:
            for entry_point in entry_points(group=entry_points_group):
                self._load(entry_point)
        for plugin in extra:
            name = getattr(plugin, "__name__", type(plugin).__name__)
            self._register(plugin, PluginInfo(name=name))
        self.sources: dict[str, type[Source]] = {}
        self.source_plugin: dict[str, str] = {}
        self._collect_sources()
        self._stored_hook = self._pm.hook.collector_recording_stored

    # -- loading ---------------------------------------------------------------------------------

    def _load(self, entry_point: EntryPoint) -> None:
        dist = entry_point.dist
        info = PluginInfo(
            name=entry_point.name,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, report it
            info.error = f"failed to import {entry_point.value}: {type(exc).__name__}: {redact(str(exc))}"
            self.infos[info.name] = info
            log.error("Plugin %s is broken and was skipped: %s", info.name, info.error)
            return
        self._register(plugin, info)

    def _register(self, plugin: Any, info: PluginInfo) -> None:
        self.infos[info.name] = info
        try:
            self._pm.register(plugin, name=info.name)
            self._pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            info.error = f"invalid plugin: {exc}"
            log.error("Plugin %s is broken and was skipped: %s", info.name, info.error)

    def _collect_sources(self) -> None:
        for impl in self._pm.hook.collector_register_sources.get_hookimpls():
            plugin_name = impl.plugin_name
            try:
                impl.function(register=lambda cls, _p=plugin_name: self._add_source(_p, cls))
            except PluginError:
                raise
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not hide the others
                self.infos[plugin_name].error = f"collector_register_sources failed: {type(exc).__name__}: {exc}"
                log.error("Plugin %s is broken: %s", plugin_name, self.infos[plugin_name].error)

    def _add_source(self, plugin_name: str, cls: type[Source]) -> None:
        name = getattr(cls, "name", None)
        if not (isinstance(cls, type) and issubclass(cls, Source)):
            raise PluginError(f"Plugin {plugin_name} registered {cls!r}, which is not a collector.Source subclass.")
        if not isinstance(name, str) or not valid_name(name):
            raise PluginError(f"Plugin {plugin_name} registered {cls.__qualname__} without a valid `name`.")
        if not issubclass(cls.Settings, SourceSettings):
            raise PluginError(f"{cls.__qualname__}.Settings must subclass collector.SourceSettings.")
        if name in self.sources and self.sources[name] is not cls:
            raise PluginError(
                f"Two plugins register a source named {name!r}: {self.source_plugin[name]} "
                f"({self.sources[name].__qualname__}) and {plugin_name} ({cls.__qualname__}). "
                "Uninstall one of them."
            )
        self.sources[name] = cls
        self.source_plugin[name] = plugin_name
        self.infos[plugin_name].sources.append(name)

    # -- hook calls ------------------------------------------------------------------------------

    @property
    def wants_stored_events(self) -> bool:
        """True if any plugin implements `collector_recording_stored` (skip building events if not)."""
        return bool(self._stored_hook.get_hookimpls())

    def recording_stored(self, event: StoredEvent) -> None:
        """Tell plugins about a committed recording; a failing plugin is logged, never fatal."""
        try:
            self._stored_hook(event=event)
        except Exception:  # see the hook's contract
            log.exception("A plugin's collector_recording_stored hook failed for %s", event.recording.key)

    def service_started(self, config: Config, kind: PassKind) -> None:
        """Tell every plugin a long-running command (`schedule`, `worker`) started."""
        self._each("collector_service_started", config=config, kind=kind)

    def pass_started(self, event: PassEvent) -> None:
        """Tell every plugin a pass starts."""
        self._each("collector_pass_started", event=event)

    def tenant_finished(self, event: TenantEvent) -> None:
        """Tell every plugin a tenant's job ended."""
        self._each("collector_tenant_finished", event=event)

    def pass_finished(self, event: PassEvent) -> None:
        """Tell every plugin a pass ended."""
        self._each("collector_pass_finished", event=event)

    def _each(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a lifecycle hook; one that fails is logged by name and the
        others still run (pluggy would stop at the first exception)."""
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception:  # a plugin's failure never changes the pass's outcome
                log.exception("The %s hook of plugin %s failed; the collector carries on", hook, impl.plugin_name)

    def demos(self) -> dict[str, DemoFactory]:
        """Demo tenants offered by the installed plugins, by name."""
        found: dict[str, DemoFactory] = {}

        def register(name: str, factory: DemoFactory) -> None:
            found[name] = factory

        self._pm.hook.collector_register_demos(register=register)
        return found
