"""Configuration: every problem reported at once, naming the file, the key path and what is expected."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector import ConfigError
from collector.engine import Plugins, load_config

SECRET = "s3cr3t-value-that-must-never-be-printed"


def problems_for(tmp_path: Path, text: str, plugins: Plugins) -> list[str]:
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, plugins)
    for problem in raised.value.problems:
        assert problem.startswith(f"{path}: "), problem
        assert SECRET not in problem
    return raised.value.problems


GOOD_SOURCE = """
[[sources]]
plugin = "toy"
tenant = "alpha"
base_url = "http://127.0.0.1:9"
token = { env = "TOY_SECRET" }
"""


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOY_SECRET", SECRET)


def test_a_valid_file_loads(tmp_path: Path, toy_plugins: Plugins) -> None:
    path = tmp_path / "collector.toml"
    path.write_text("[store]\npath = 'data'\n" + GOOD_SOURCE)
    config = load_config(path, toy_plugins)
    assert config.store_path == tmp_path / "data"  # relative to the config file, not the working directory
    assert config.sources[0].token.get_secret_value() == SECRET  # type: ignore[attr-defined]
    assert SECRET not in repr(config.sources[0])
    assert config.warnings == []


def test_missing_file_names_the_file(tmp_path: Path, toy_plugins: Plugins) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nope.toml", toy_plugins)
    assert raised.value.problems == [f"{tmp_path / 'nope.toml'}: the configuration file does not exist "
                                     "(give one with --config)."]


def test_toml_syntax_error_names_file_and_line(tmp_path: Path, toy_plugins: Plugins) -> None:
    (problem,) = problems_for(tmp_path, "[store]\npath = 'x'\n[[sources]\nplugin = 1\n", toy_plugins)
    assert "TOML syntax error" in problem and "line 3" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path, toy_plugins: Plugins) -> None:
    text = f"""
[scheduler]
cron = "every night"
timezone = "Mars/Olympus"
max_jobs = 0

[logging]
format = "xml"

[[sources]]
plugin = "toy"
tenant = "alpha"
base_url = "http://127.0.0.1:9"
token = {{ env = "TOY_SECRET" }}
page_sise = 3

[[sources]]
plugin = "toy"
tenant = "has space"
token = {{ env = "NOT_SET_ANYWHERE" }}
page_size = "{SECRET}"

[[sources]]
plugin = "tyo"
tenant = "x"

[[sources]]
plugin = "toy"
tenant = "alpha"
base_url = "http://127.0.0.1:9"
token = {{ file = "/nonexistent/secret" }}
rate_limit = {{ requests = 0, per_seconds = 10 }}
"""
    problems = problems_for(tmp_path, text, toy_plugins)
    text = "\n".join(problems)
    expected = [
        "scheduler.cron: expected a cron expression",
        "scheduler.timezone: expected an IANA time zone name",
        "scheduler.max_jobs: expected greater than or equal to 1",
        "logging.format: expected 'text' or 'json'",
        "sources[0].page_sise: is not a known key (did you mean 'page_size'?)",
        "sources[1].tenant: expected 1-64 letters, digits",
        "sources[1].base_url: is required.",
        "sources[1].token: environment variable NOT_SET_ANYWHERE is not set.",
        "sources[1].page_size: expected a whole number (without quotes).",
        "sources[2].plugin: unknown plugin 'tyo' (did you mean 'toy'?); installed: toy.",
        "sources[3].token: cannot read secret file /nonexistent/secret",
        "sources[3].rate_limit.requests: expected greater than or equal to 1",
    ]
    for fragment in expected:
        assert fragment in text, f"missing {fragment!r} in:\n{text}"


def test_duplicate_tenants_are_rejected(tmp_path: Path, toy_plugins: Plugins) -> None:
    (problem,) = problems_for(tmp_path, GOOD_SOURCE + GOOD_SOURCE, toy_plugins)
    assert "sources[1].tenant: 'alpha' is already used by sources[0] (plugin toy)" in problem


def test_no_sources_is_an_error(tmp_path: Path, toy_plugins: Plugins) -> None:
    (problem,) = problems_for(tmp_path, "[store]\npath = 'x'\n", toy_plugins)
    assert "no [[sources]] entries" in problem


def test_unknown_top_level_table(tmp_path: Path, toy_plugins: Plugins) -> None:
    (problem,) = problems_for(tmp_path, "[stor]\npath = 'x'\n" + GOOD_SOURCE, toy_plugins)
    assert "stor: is not a known key" in problem


def test_plain_text_secret_works_but_warns(tmp_path: Path, toy_plugins: Plugins) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(GOOD_SOURCE.replace('{ env = "TOY_SECRET" }', f'"{SECRET}"'))
    config = load_config(path, toy_plugins)
    (warning,) = config.warnings
    assert "sources[0].token: the secret is written in plain text" in warning and SECRET not in warning


def test_secret_from_a_file(tmp_path: Path, toy_plugins: Plugins) -> None:
    (tmp_path / "token").write_text(SECRET + "\n")
    path = tmp_path / "collector.toml"
    path.write_text(GOOD_SOURCE.replace('{ env = "TOY_SECRET" }', f'{{ file = "{tmp_path / "token"}" }}'))
    assert load_config(path, toy_plugins).sources[0].token.get_secret_value() == SECRET  # type: ignore[attr-defined]


def test_a_secret_file_that_is_no_file_or_too_big_is_refused_at_once(tmp_path: Path, toy_plugins: Plugins) -> None:
    """`/dev/zero` would fill the memory and a FIFO would block `config check` and `run` forever."""
    fifo, big = tmp_path / "fifo", tmp_path / "big"
    os.mkfifo(fifo)
    big.write_bytes(b"x" * (64 * 1024 + 1))
    for ref, words in (("/dev/zero", "is not a regular file"), (fifo, "is not a regular file"),
                       (tmp_path, "is not a regular file"), (big, "holds more than 64 KiB")):
        found = problems_for(tmp_path, GOOD_SOURCE.replace('{ env = "TOY_SECRET" }', f'{{ file = "{ref}" }}'),
                             toy_plugins)
        assert len(found) == 1 and "sources[0].token" in found[0] and words in found[0], found


@pytest.mark.parametrize("store", ["/proc/collector-store", "/sys/kernel/collector"])
def test_a_store_on_a_pseudo_file_system_is_refused_by_config_check(tmp_path: Path, store: str,
                                                                   toy_plugins: Plugins) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(f"[store]\npath = '{store}'\n" + GOOD_SOURCE)
    with pytest.raises(ConfigError) as caught:
        load_config(path, toy_plugins, check_store=True)
    assert caught.value.problems == [f"{path}: store.path: {store} is on a file system with no storage (such as "
                                     "/proc or /sys); give a folder on a disk."]


def test_environment_overrides_the_file(tmp_path: Path, toy_plugins: Plugins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_STORE__PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("COLLECTOR_SCHEDULER__CRON", "@daily")
    path = tmp_path / "collector.toml"
    path.write_text("[store]\npath = 'data'\n" + GOOD_SOURCE)
    config = load_config(path, toy_plugins)
    assert config.store_path == tmp_path / "elsewhere" and config.scheduler.cron == "@daily"


def test_config_check_command_reports_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[[sources]]\nplugin = "nobody-ships-this"\ntenant = "x"\n')
    result = subprocess.run([sys.executable, "-m", "collector", "--config", str(path), "config", "check"],
                            capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 2
    assert f"{path}: sources[0].plugin: unknown plugin 'nobody-ships-this'" in result.stderr
    assert "1 configuration problem(s); nothing was run." in result.stderr


def test_the_example_configuration_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """config.example.toml documents every key; it must load (given its secrets) with no warnings."""
    import tomllib

    from collector._base._secret import Secret

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-1234\n")
    text = example.read_text()
    for entry in tomllib.loads(text)["sources"]:
        for value in entry.values():
            if isinstance(value, dict) and "env" in value:
                monkeypatch.setenv(value["env"], "from-the-environment")
            if isinstance(value, dict) and "file" in value:
                text = text.replace(value["file"], str(secret_file))
    copy = tmp_path / "config.toml"
    copy.write_text(text)
    config = load_config(copy, Plugins())
    assert config.warnings == []
    assert all(isinstance(getattr(s, name), Secret) for s in config.sources for name in type(s).model_fields
               if name in ("api_key", "token"))


def test_plain_text_secrets_inside_nested_tables_are_found(tmp_path: Path) -> None:
    from pydantic import BaseModel

    from collector import Secret, Source, SourceSettings, hookimpl

    class OAuth(BaseModel):
        client_id: str
        client_secret: Secret

    class NestedSettings(SourceSettings):
        oauth: OAuth

    class Nested(Source):
        name = "nested"
        Settings = NestedSettings

    class Plugin:
        @hookimpl
        def collector_register_sources(self, register):  # type: ignore[no-untyped-def]
            register(Nested)

    path = tmp_path / "collector.toml"
    path.write_text(f'[[sources]]\nplugin = "nested"\ntenant = "n"\n'
                    f'oauth = {{ client_id = "c", client_secret = "{SECRET}" }}\n')
    config = load_config(path, Plugins(entry_points_group=None, extra=[Plugin()]))
    (warning,) = config.warnings
    assert "sources[0].oauth.client_secret: the secret is written in plain text" in warning and SECRET not in warning


@pytest.mark.parametrize(("line", "expected"), [
    ('enabled = "yes"', "sources[0].enabled: expected true or false (without quotes)."),
    ('page_size = "500"', "sources[0].page_size: expected a whole number (without quotes)."),
    ("enabled = 1", "sources[0].enabled: expected true or false (without quotes)."),
    ('timeout = "30"', "sources[0].timeout: expected a number (without quotes)."),
    ('retry = { attempts = "3" }', "sources[0].retry.attempts: expected a whole number (without quotes)."),
])
def test_toml_values_are_not_silently_coerced(tmp_path: Path, toy_plugins: Plugins, line: str, expected: str) -> None:
    (problem,) = problems_for(tmp_path, GOOD_SOURCE + line + "\n", toy_plugins)
    assert problem.endswith(expected), problem


def test_a_wrong_table_value_in_the_file_is_typed_too(tmp_path: Path, toy_plugins: Plugins) -> None:
    (problem,) = problems_for(tmp_path, '[scheduler]\nmax_jobs = "4"\n' + GOOD_SOURCE, toy_plugins)
    assert problem.endswith("scheduler.max_jobs: expected a whole number (without quotes).")


def test_a_bad_environment_override_names_the_variable(tmp_path: Path, toy_plugins: Plugins,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_SCHEDULER__MAX_JOBS", "abc")
    monkeypatch.setenv("COLLECTOR_SCHEDULER__MAX_JOBZ", "3")
    path = tmp_path / "collector.toml"
    path.write_text(GOOD_SOURCE)
    with pytest.raises(ConfigError) as raised:
        load_config(path, toy_plugins)
    assert raised.value.problems == [
        "environment variable COLLECTOR_SCHEDULER__MAX_JOBS: expected a valid integer, unable to parse string as "
        "an integer.",
        "environment variable COLLECTOR_SCHEDULER__MAX_JOBZ: [scheduler] has no key 'max_jobz' (did you mean "
        "'max_jobs'?).",
    ]


def test_environment_overrides_are_parsed_from_text(tmp_path: Path, toy_plugins: Plugins,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_SCHEDULER__MAX_JOBS", "16")
    monkeypatch.setenv("COLLECTOR_VERIFY__DECODE", "true")
    path = tmp_path / "collector.toml"
    path.write_text(GOOD_SOURCE)
    config = load_config(path, toy_plugins)
    assert config.scheduler.max_jobs == 16 and config.verify.decode is True


def test_a_directory_given_as_the_config_file_is_named_as_such(tmp_path: Path, toy_plugins: Plugins) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, toy_plugins)
    assert raised.value.problems == [f"{tmp_path}: is a directory, not a configuration file (give the .toml file "
                                     "with --config)."]


def test_relative_secret_files_are_relative_to_the_config_file(tmp_path: Path, toy_plugins: Plugins,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "toy").write_text(SECRET + "\n")
    path = tmp_path / "collector.toml"
    path.write_text(GOOD_SOURCE.replace('{ env = "TOY_SECRET" }', '{ file = "secrets/toy" }'))
    monkeypatch.chdir("/")  # as under cron or systemd
    assert load_config(path, toy_plugins).sources[0].token.get_secret_value() == SECRET  # type: ignore[attr-defined]


def test_config_check_checks_the_store(tmp_path: Path, toy_plugins: Plugins) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    for store, expected in (("a-file", "is a file, not a folder"), ("a-file/store", "is a file, so the store")):
        path = tmp_path / "collector.toml"
        path.write_text(f"[store]\npath = '{store}'\n" + GOOD_SOURCE)
        load_config(path, toy_plugins)  # a run would find out; config check says so at once
        with pytest.raises(ConfigError) as raised:
            load_config(path, toy_plugins, check_store=True)
        assert expected in raised.value.problems[0] and raised.value.problems[0].startswith(f"{path}: store.path: ")
