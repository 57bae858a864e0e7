"""MkDocs hook: the reference pages, generated at build time from the code they describe.

Nothing generated is committed; every build writes these pages anew:

- `reference/cli.md` from the argparse parser (`collector.engine.cli`'s parser), with an example
  per command (`EXAMPLES`: a command without one fails the build);
- `reference/configuration.md` from the settings models: the file's tables, the keys every
  `[[sources]]` entry accepts, and each shipped plugin's own keys;
- `reference/api/*.md`, one page per public module (`collector`, `collector.engine`,
  `collector.testing`, `collector.emulator`): a mkdocstrings block (`::: collector.Name`) for
  every name in the module's `__all__`, grouped by topic (`GROUPS`; a name in no group still gets
  one, under "Other names"), and for `collector` the hook specifications;
- markers in hand-written pages: `<!-- generated: metrics -->` becomes the table of every metric.

`mkdocs.yml` names this file under `hooks:`; `tests/test_docs.py` imports it too (the keys, the
commands and the names it documents are what the tests compare the built site against).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
API_MODULES = ("collector", "collector.engine", "collector.testing", "collector.emulator")

# -- the command line ------------------------------------------------------------------------------

EXAMPLES: dict[str, list[str]] = {
    "config check": ["collector --config collector.toml config check"],
    "run": ["collector run", "collector run --tenant xima/acme-reno --json", "collector run --dry-run",
            "collector run --distributed"],
    "schedule": ["collector schedule"],
    "worker": ["collector worker --name worker-1", "collector worker --until-idle"],
    "enqueue": ["collector enqueue --pass nightly-2026-12-02", "collector enqueue --wait --json"],
    "migrate-store": ["collector --config collector.toml migrate-store --to cluster.toml"],
    "status": ["collector status", "collector status --json"],
    "verify": ["collector verify", "collector verify --tenant focus/acme-uk --decode",
               "collector verify --max-bytes 50000000000 --max-time 3600 --max-rate 200000000",
               "collector verify --chain --checkpoint "
               "/mnt/evidence/checkpoint-000000000232-00000001-20261204T045324Z.json"],
    "report": ["collector report", "collector report --tenant imagicle/globex --from 2026-12-01 --to 2026-12-08",
               "collector report --timezone Europe/London --csv > report.csv",
               "collector report --html report.html"],
    "export": ["collector export --tenant focus/acme-uk | head -1", "collector export --format csv --output calls.csv",
               "collector export --chain --output chain.jsonl"],
    "reset": ["collector reset xima/acme-reno", "collector reset focus/acme-uk --from 2026-11-01"],
    "retry": ["collector retry", "collector retry --quarantined --tenant imagicle/globex", "collector retry --lost"],
    "plugins": ["collector plugins", "collector plugins --json"],
    "demo": ["collector demo", "collector demo /tmp/demo --serve"],
    "new-plugin": ["collector new-plugin lyrebird", "collector new-plugin acme_voice ~/src/collector-acme-voice"],
}
"""An example (or a few) of every command; the guide pages show their output."""

GUIDE: dict[str, str] = {
    "config check": "../guide/configuration.md#check-it",
    "run": "../guide/running.md",
    "schedule": "../guide/running.md#on-a-schedule",
    "worker": "../operations/several-machines.md",
    "enqueue": "../operations/several-machines.md#passes",
    "migrate-store": "../operations/several-machines.md#moving-an-embedded-store-in",
    "status": "../guide/running.md#what-the-store-holds-status",
    "verify": "../guide/evidence.md#verify-re-reading-every-file",
    "report": "../guide/reconciliation.md",
    "export": "../guide/evidence.md#export",
    "reset": "../guide/running.md#starting-a-tenant-again-reset-and-retry",
    "retry": "../guide/running.md#starting-a-tenant-again-reset-and-retry",
    "plugins": "../guide/troubleshooting.md#a-plugin-is-missing-or-broken",
    "demo": "../getting-started.md#the-demo",
    "new-plugin": "../tutorial/skeleton.md",
}
"""Where the guide explains each command."""

_GLOBAL_DESTS = {"help", "config", "log_format", "log_level"}


def parser() -> argparse.ArgumentParser:
    """The `collector` command line, as the installed collector builds it."""
    from collector._cli._main import build_parser

    return build_parser()


def commands(top: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every command by its full name ("run", "config check", ...), in the parser's order; each has
    a description (its help line where it was given none)."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(current: argparse.ArgumentParser, prefix: str) -> None:
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    sub.description = sub.description or helps.get(name)
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    if nested:
                        walk(sub, f"{prefix}{name} ")
                    else:
                        found[f"{prefix}{name}"] = sub

    walk(top or parser(), "")
    return found


def options(command: argparse.ArgumentParser) -> list[argparse.Action]:
    """A command's own arguments (the global options every command accepts left out)."""
    return [action for action in command._actions if action.dest not in _GLOBAL_DESTS]


def _usage_part(action: argparse.Action) -> str:
    if not action.option_strings:
        name = action.metavar or action.dest
        return f"[{name}]" if action.nargs == "?" else str(name)
    flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    if action.nargs == 0:
        text = flag
    elif action.choices:
        text = f"{flag} {{{','.join(map(str, action.choices))}}}"
    else:
        text = f"{flag} {action.metavar or action.dest.upper()}"
    return text if action.required else f"[{text}]"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def cli_page() -> str:
    """The CLI reference, in Markdown."""
    top = parser()
    every = commands(top)
    missing = sorted(set(every) - set(EXAMPLES)) + sorted(set(every) - set(GUIDE))
    if missing:
        raise ValueError(f"docs/_hooks/reference.py: no example or guide page for the command(s) {missing}")
    lines = ["# Command line", "",
             "Generated from the collector's argument parser at build time: every command and option.",
             "The [exit codes](../guide/exit-codes.md) are in the user guide.", "",
             "```text", "collector [GLOBAL OPTIONS] COMMAND [OPTIONS]", "```", "",
             "## Global options", "",
             "Given before or after the command.", "",
             "| option | meaning |", "|---|---|"]
    for action in top._actions:
        if action.dest == "help" or isinstance(action, argparse._SubParsersAction):
            continue
        lines.append(f"| {_cell(_usage_part(action).strip('[]'))} | {_cell(action.help)} |")
    lines += ["| -h, --help | show the command's help and exit |", "",
              "`--tenant` takes `SOURCE/TENANT` (`xima/acme-reno`) and can be repeated; `--from`/`--to` take "
              "a date (`2026-03-01`, midnight) or an ISO date-time. Output piped into `head` ends quietly.", "",
              "## Commands", "", "| command | does |", "|---|---|"]
    for name, command in every.items():
        anchor = name.replace(" ", "-")
        lines.append(f"| [`{name}`](#{anchor}) | {_cell(command.description)} |")
    for name, command in every.items():
        usage = " ".join(["collector", name, *(_usage_part(a) for a in options(command))])
        description = command.description or ""
        lines += ["", f"## {name}", "", _cell(description[:1].upper() + description[1:]) + ".", "",
                  "```text", usage, "```", ""]
        own = options(command)
        if own:
            lines += ["| argument | meaning |", "|---|---|"]
            for action in own:
                names = ", ".join(action.option_strings) or str(action.metavar or action.dest)
                if action.option_strings and action.nargs != 0:
                    names += f" {action.metavar or action.dest.upper()}"
                help_text = action.help or ""
                if action.choices and action.option_strings:
                    help_text += f" (one of: {', '.join(map(str, action.choices))})"
                lines.append(f"| `{names}` | {_cell(help_text)} |")
            lines.append("")
        lines += ["Examples:", "", "```sh", *EXAMPLES[name], "```", "",
                  f"More in the guide: [{name}]({GUIDE[name]})."]
    return "\n".join(lines) + "\n"


# -- the configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One configuration key: its dotted path in its section, and the field that defines it."""

    path: str
    field: FieldInfo
    model: type[BaseModel]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found = []
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        elif typing.get_args(arg):
            found += _models_in(arg)
    return found


def keys_of(model: type[BaseModel], prefix: str = "", skip: frozenset[str] = frozenset()) -> Iterator[Key]:
    """Every key of a model, nested tables' keys included (`retry.attempts`)."""
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        yield Key(f"{prefix}{name}", field, model)
        for nested in _models_in(field.annotation):
            yield from keys_of(nested, f"{prefix}{name}.")


def tables() -> dict[str, type[BaseModel]]:
    """The file's tables besides `[[sources]]`, by name (`store.postgresql` included)."""
    from collector._base._settings_tables import FileSettings

    found: dict[str, type[BaseModel]] = {}
    for name, field in FileSettings.model_fields.items():
        for model in _models_in(field.annotation):
            found[name] = model
            for sub, subfield in model.model_fields.items():
                for nested in _models_in(subfield.annotation):
                    found[f"{name}.{sub}"] = nested
    return found


def source_settings() -> type[BaseModel]:
    """The settings every `[[sources]]` entry accepts."""
    import collector

    return collector.SourceSettings


def shipped_plugins() -> dict[str, type[BaseModel]]:
    """The settings model of every plugin shipped in plugins/, by plugin name."""
    from collector.engine import Plugins

    shipped = {path.name for path in (ROOT / "plugins").iterdir() if (path / "pyproject.toml").is_file()}
    plugins = Plugins(builtins=False)
    return {name: source.Settings for name, source in sorted(plugins.sources.items()) if name in shipped}


def plugin_keys(settings: type[BaseModel]) -> list[Key]:
    """A plugin's own keys: those `SourceSettings` lacks, and those it redefines (`plugin` aside)."""
    common = source_settings().model_fields
    own = []
    for key in keys_of(settings):
        top = key.path.split(".")[0]
        if top == "plugin":
            continue
        if (top not in common or (key.path == top and _differs(settings.model_fields[top], common[top]))
                or ("." in key.path and settings.model_fields[top].annotation != common[top].annotation)):
            own.append(key)
    return own


def _differs(field: FieldInfo, common: FieldInfo) -> bool:
    return (field.annotation != common.annotation or _default(field) != _default(common)
            or field.description != common.description)


def _type(annotation: Any) -> str:
    from collector import Secret

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = args[0]
        if inner is timedelta:
            return "duration (seconds, or ISO 8601 such as \"PT1H\")"
        return _type(inner)
    if origin is typing.Literal:
        return " or ".join(f'`"{value}"`' for value in args)
    if args and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        return _type(rest[0]) if len(rest) == 1 else " or ".join(_type(arg) for arg in rest)
    if origin in (list, tuple):
        return f"list of {_type(args[0])}s" if args else "list"
    if origin is dict:
        return f"table of {_type(args[1])}s by name"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        if issubclass(annotation, Secret):
            return 'secret: `{ env = "NAME" }` or `{ file = "path" }`'
        simple = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path",
                  datetime: "date-time", timedelta: "duration (seconds, or ISO 8601)"}
        for kind, text in simple.items():
            if issubclass(annotation, kind):
                if kind is datetime and "Aware" in str(annotation):
                    return "date-time with an offset"
                return text
    text = str(annotation)
    if "AwareDatetime" in text:
        return "date-time with an offset"
    return text.replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is None or value == {} or value == []:
        return "unset" if value is None else ("`{}`" if value == {} else "`[]`")
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(its keys' defaults)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (str, Path)):
        return f'`"{value}"`'
    if isinstance(value, timedelta):
        return f"`{value.total_seconds():g}` s"
    if isinstance(value, int) and value >= 10_000:
        return f"`{value:_}`"
    return f"`{value}`"


def _meaning(key: Key) -> str:
    if key.field.description:
        return key.field.description
    nested = _models_in(key.field.annotation)
    if nested and nested[0].__doc__:
        return inspect.cleandoc(nested[0].__doc__).split("\n\n")[0].replace("\n", " ")
    raise ValueError(f"the configuration key {key.model.__name__}.{key.path} has no description: "
                     "give its Field a description=")


def _table(keys: list[Key], prefix: str) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in keys:
        lines.append(f"| <span id=\"{prefix}{key.path}\"></span>`{key.path}` | {_cell(_type(key.field.annotation))} "
                     f"| {_cell(_default(key.field))} | {_cell(_meaning(key))} |")
    return lines


def configuration_page() -> str:
    """The configuration reference, in Markdown."""
    lines = ["# Configuration", "",
             "Generated from the settings models at build time: every key the collector and the shipped "
             "plugins accept. `config.example.toml`, in the repository, is the same as a file to copy; "
             "[the guide](../guide/configuration.md) explains how a configuration is written, checked and "
             "overridden from the environment.", "",
             "Values are typed as TOML types them (`enabled = \"yes\"` is an error). A secret is never a "
             "value: `{ env = \"NAME\" }` or `{ file = \"path\" }`. Unknown keys are errors.", ""]
    every = tables()
    for name, model in every.items():
        doc = inspect.cleandoc(model.__doc__ or "").split("\n\n")
        lines += [f"## [{name}]", ""] + [" ".join(part.split()) + "\n" for part in doc]
        nested = {table.split(".", 1)[1] for table in every if table.startswith(f"{name}.")}
        keys = [key for key in keys_of(model) if key.path.split(".")[0] not in nested]
        lines += [*_table(keys, f"{name}."), ""]
    lines += ["## [[sources]]", "",
              "One entry per tenant: `plugin` picks the vendor, `tenant` names the entry. Every entry accepts "
              "these keys, whatever its plugin; each plugin adds its own (below).", ""]
    lines += [*_table(list(keys_of(source_settings())), "sources."), ""]
    readmes = {"focus": "Focus", "xima": "Xima CCaaS", "imagicle": "Imagicle Voice Analytics (`v1/recordings`)"}
    for name, settings in shipped_plugins().items():
        title = readmes.get(name, name)
        lines += [f"### plugin = \"{name}\"", "",
                  f"{title}: the keys of `{settings.__module__.split('.')[0]}`'s `{settings.__name__}`, besides "
                  "(or redefining) the keys every entry accepts. The plugin's README (`plugins/"
                  f"{name}/README.md`) says how its vendor's API is used.", ""]
        lines += [*_table(plugin_keys(settings), f"{name}."), ""]
    return "\n".join(lines) + "\n"


# -- the API reference -----------------------------------------------------------------------------

GROUPS: dict[str, dict[str, list[str]]] = {
    "collector": {
        "What a plugin implements": ["Source", "SourceSettings", "SourceContext", "Page", "AudioExpectation",
                                     "EgressBudget", "VendorCount", "ListingCount", "Revisit", "Children",
                                     "hookimpl", "hookspec", "DemoFactory", "ENTRY_POINT_GROUP"],
        "The pass lifecycle's events": ["PassEvent", "PassKind", "TenantEvent", "StoredEvent"],
        "The normalized model": ["Recording", "RecordingKey", "Party", "Direction", "MediaAvailability",
                                 "Transcript", "TranscriptResult", "TranscriptSegment", "TranscriptState"],
        "Talking to the vendor": ["HttpClient", "JsonAnswer", "VendorAnswer", "Redirects", "ErrorCodes",
                                  "Traffic", "RetrySettings", "RequestStats", "RateLimit", "SlidingWindowLimiter",
                                  "parse_retry_after"],
        "Authentication": ["Auth", "StaticBearerAuth", "ApiKeyAuth", "HeaderAuth", "BasicAuth", "basic_credentials",
                           "TokenAuth", "TokenChannel", "Token", "Renewal", "TokenExchange", "OAuth2",
                           "OAuth2ClientCredentials", "Grant", "RefreshTokenGrant", "TokenStore", "TokenFile",
                           "JwtAssertion", "JWT_BEARER", "CLIENT_ASSERTION_JWT", "jwt_expiry", "token_expiry",
                           "secret_value"],
        "Listing": ["paginate", "Paginator", "CursorPaginator", "NextUrlPaginator", "OffsetPaginator",
                    "PageNumberPaginator", "PageRequest", "ListedPage", "Tally", "Incremental", "ChangeFeed",
                    "TimeWindows", "Window", "WindowOutcome", "WindowSweep", "DateWindows", "DateWindow",
                    "expired_on", "PositionExpired"],
        "Ids, secrets and times": ["compound_id", "split_compound_id", "path_segment", "Secret", "register_secret",
                                   "account_url", "http_url", "parse_time", "value_shape", "iso", "parse_iso",
                                   "now_utc",
                                   "Duration"],
        "Errors": ["CollectorError", "ConfigError", "RunError", "ItemError", "ItemNotReady", "ItemDeferred",
                   "ItemUnavailable", "ItemRejected", "TenantError", "AuthenticationError", "DownloadsStopped",
                   "RoutePaused", "RequestFailed", "BadStatus", "NoAnswer", "TransientAnswer", "PageTokenExpired",
                   "classify_request_failure"],
    },
    "collector.engine": {
        "Running the collector": ["Plugins", "load_config", "Config", "run_once", "RunResult", "Progress", "cli"],
        "Summaries and exit codes": ["TenantSummary", "TenantStatus", "EXIT_OK", "EXIT_PARTIAL", "EXIT_CONFIG",
                                     "EXIT_BUSY", "EXIT_WAITING", "EXIT_STORE", "EXIT_LOST"],
        "Errors": ["ConfigError", "RunError", "StoreBusy"],
        "The catalog": ["Catalog", "StoredAudio", "WorkPlan", "AUDIO", "TRANSCRIPT"],
    },
    "collector.testing": {
        "The conformance suite": ["SourceConformance", "Emulation", "Expectations"],
        "Running the collector in a test": ["write_config", "collect", "inspect_store", "StoreContents",
                                            "find_secrets", "query_catalog", "sync_state", "wait_until_committed",
                                            "FaultyProxy"],
        "Scale-out backends and workers": ["PostgresServer", "S3Server", "scale_out", "location_of",
                                           "WorkerProcesses", "overlapping_workers"],
    },
    "collector.emulator": {
        "Servers": ["EmulatorServer", "Request", "Response", "EmulatorError", "LoggedRequest", "LOOPBACK",
                    "StorageServer", "TokenEndpoint", "TokenAudit", "decode_jwt_claims"],
        "Faults and limits": ["FaultPlan", "TRANSIENT_FAULTS", "CONTENT_FAULTS", "FixedWindowLimit",
                              "KindRateLimit", "DailyQuota"],
        "What most emulators need": ["HOSTILE_IDS", "audio_answer", "AUDIO_FAULTS", "keyset_page", "opaque_cursor",
                                     "read_cursor", "link_header", "Readiness"],
        "Audio": ["synth_audio", "wav_stream", "truncated", "wav_duration_for_bytes", "AUDIO_FORMATS"],
    },
}
"""The topics of each API page; `__all__` decides what is documented, these only how it is grouped."""

AUDIENCE = {
    "collector": ("The plugin API", "for plugin authors: everything a plugin imports"),
    "collector.engine": ("The engine", "for code that embeds the collector: load a configuration, run a pass, "
                                       "any command in-process"),
    "collector.testing": ("Testing tools", "for a plugin's tests: the conformance suite and the harness (needs "
                                           "pytest)"),
    "collector.emulator": ("Emulator kit", "for a plugin's emulator of its vendor: servers, faults, limits, audio"),
}


def public_names(module: str) -> list[str]:
    """A public module's `__all__`."""
    return list(importlib.import_module(module).__all__)


def api_page(module: str) -> str:
    """One public module's API reference, in Markdown with mkdocstrings blocks."""
    title, audience = AUDIENCE[module]
    names = public_names(module)
    groups = {topic: [name for name in members if name in names] for topic, members in GROUPS[module].items()}
    placed = {name for members in groups.values() for name in members}
    if leftover := [name for name in names if name not in placed]:
        groups["Other names"] = leftover
    lines = [f"# `{module}`: {title.lower()}", "", f"{title}, {audience}. Generated from the docstrings of every "
             f"name in `{module}.__all__` ({len(names)} names).", "",
             f"::: {module}", "    options:", "      show_root_heading: false", "      members: false", ""]
    for topic, members in groups.items():
        if not members:
            continue
        lines += [f"## {topic}", ""]
        for name in members:
            lines += [f"::: {module}.{name}", ""]
    if module == "collector":
        lines += hooks_section()
    return "\n".join(lines) + "\n"


def hooks_section() -> list[str]:
    """The hook specifications a plugin can implement (they have no public import path)."""
    import collector

    specs = sys.modules[collector.PassEvent.__module__]
    lines = ["## Hook specifications", "",
             "Implement these in the module your entry point names, with `@collector.hookimpl`; "
             "[the tutorial](../../tutorial/hooks.md) shows them in use.", ""]
    for name, function in inspect.getmembers(specs, inspect.isfunction):
        if not name.startswith("collector_"):
            continue
        signature = str(inspect.signature(function)).replace("'", "")
        doc = inspect.getdoc(function) or ""
        lines += [f"### `{name}` {{ #{name} }}", "", "```python", f"def {name}{signature}", "```", "", doc, ""]
    return lines


def hook_names() -> list[str]:
    """The name of every hook specification."""
    import collector

    specs = sys.modules[collector.PassEvent.__module__]
    return [name for name, _ in inspect.getmembers(specs, inspect.isfunction) if name.startswith("collector_")]


# -- metrics -----------------------------------------------------------------------------------------


def metrics() -> list[tuple[str, str, str]]:
    """Every metric: its name, its labels and its help text."""
    from collector._runner import _metrics

    found = [(name, "source, tenant", text) for name, text in _metrics.GAUGES.values()]
    found.append((_metrics.SUCCESS, "source, tenant", "When the tenant's last complete run ended (Unix time)"))
    found.append((_metrics.EXIT_CODE, "none", "The latest run's exit code"))
    return found


def metrics_table() -> str:
    """The metrics as a Markdown table."""
    lines = ["| metric | labels | what it is |", "|---|---|---|"]
    lines += [f"| `{name}` | {labels} | {_cell(text)} |" for name, labels, text in metrics()]
    return "\n".join(lines)


# -- MkDocs events -----------------------------------------------------------------------------------

def generated_pages() -> dict[str, str]:
    """Every generated page by its path under docs/."""
    pages = {"reference/cli.md": cli_page(), "reference/configuration.md": configuration_page()}
    for module in API_MODULES:
        pages[f"reference/api/{module.replace('collector.', '') if module != 'collector' else 'collector'}.md"] = \
            api_page(module)
    return pages


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site."""
    from mkdocs.structure.files import File

    for path, text in generated_pages().items():
        files.append(File.generated(config, path, content=text))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the markers of hand-written pages."""
    return markdown.replace("<!-- generated: metrics -->", metrics_table())
