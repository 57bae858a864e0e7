"""The public API: what `collector` exports, and the pieces every module relies on."""

from __future__ import annotations

import ast
import inspect
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import ValidationError

import collector
import collector.emulator
import collector.engine
import collector.testing
from collector import Recording
from collector._base._redact import RedactingFilter, redact, register_secret
from collector._runner._schedule import next_pass

PUBLIC = [collector, collector.engine, collector.emulator, collector.testing]


@pytest.mark.parametrize("module", PUBLIC, ids=lambda module: module.__name__)
def test_exports_are_sorted_documented_and_importable(module: ModuleType) -> None:
    names = module.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        value = getattr(module, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"


def test_collector_names_its_public_names_twice_and_both_lists_agree() -> None:
    """The imports under TYPE_CHECKING (what type checkers see, and where `__getattr__` finds each
    name's module on first use) and `__all__` are the only lists of `collector`'s public names."""
    assert sorted(collector._public_modules()) == sorted(collector.__all__)
    assert not hasattr(collector, "_EXPORTS")


@pytest.mark.parametrize("module", PUBLIC[1:], ids=lambda module: module.__name__)
def test_the_other_public_modules_export_exactly_what_they_import(module: ModuleType) -> None:
    """`collector.engine`, `.emulator` and `.testing` import their public names from private modules
    (eagerly: their users need them all) and list them in `__all__`: nothing more, nothing less."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                and (node.level or (node.module or "").startswith("collector._")) for alias in node.names}
    assert imported == set(module.__all__)


def test_recordings_are_normalized_to_utc() -> None:
    r = Recording.model_validate({"source": "s", "tenant": "t", "vendor_id": "1", "start": "2026-05-01T10:00:00+02:00",
                                  "end": "2026-05-01T10:05:00+02:00", "raw": {}})
    assert r.start == datetime(2026, 5, 1, 8, tzinfo=UTC) and r.duration == 300
    assert str(r.key) == "s/t/1"


@pytest.mark.parametrize("bad", [
    {"start": "2026-05-01T10:00:00"},  # no zone: ambiguous
    {"start": "2026-05-01T10:00:00Z", "end": "2026-05-01T09:00:00Z"},
    {"start": "2026-05-01T10:00:00Z", "duration": -1},
    {"start": "2026-05-01T10:00:00Z", "duration": float("nan")},
    {"start": "2026-05-01T10:00:00Z", "vendor_id": ""},
])
def test_recordings_reject_impossible_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Recording.model_validate({"source": "s", "tenant": "t", "vendor_id": "1", "raw": {}, **bad})


class _Kept(logging.Handler):
    """Keeps the records it handles (after its filters ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_log_filter_masks_secrets_in_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    secret = "tok-ABCDEFGHIJKLMNOP"
    register_secret(secret)
    logger = logging.getLogger("test.redact")
    handler = _Kept()
    handler.addFilter(RedactingFilter())
    records = handler.records
    logger.addHandler(handler)
    try:
        logger.warning("token %s refused", secret)
        try:
            raise RuntimeError(f"vendor said {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = " ".join(r.getMessage() + (r.exc_text or "") for r in records)
    assert secret not in text and text.count("[redacted]") == 2
    assert redact(f"x{secret}y") == "x[redacted]y"


def test_short_values_are_not_treated_as_secrets() -> None:
    register_secret("abc")
    assert redact("abc") == "abc"


@pytest.mark.parametrize(("cron", "zone", "after", "expected"), [
    ("0 2 * * *", "UTC", "2026-11-24T10:00:00+00:00", "2026-11-25T02:00:00+00:00"),
    ("@daily", "UTC", "2026-11-24T10:00:00+00:00", "2026-11-25T00:00:00+00:00"),
    ("30 1 * * *", "Europe/London", "2026-03-27T12:00:00+00:00", "2026-03-28T01:30:00+00:00"),  # GMT
    # 01:30 does not exist on the night clocks go forward: Debian cron runs it at the transition.
    ("30 1 * * *", "Europe/London", "2026-03-28T12:00:00+00:00", "2026-03-29T01:00:00+00:00"),
    ("30 1 * * *", "Europe/London", "2026-03-29T12:00:00+00:00", "2026-03-30T00:30:00+00:00"),  # BST
    ("0 2 * * 1-5", "America/New_York", "2026-11-27T12:00:00+00:00", "2026-11-30T07:00:00+00:00"),
])
def test_next_pass_follows_cron_in_the_configured_zone(cron: str, zone: str, after: str, expected: str) -> None:
    assert next_pass(cron, zone, datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


def test_http_url_refuses_credentials_and_other_schemes() -> None:
    from collector import http_url

    assert http_url("https://api.example.com/v1/", example="https://x") == "https://api.example.com/v1"
    for bad in ("ftp://api.example.com", "api.example.com", "https://user:secret@api.example.com", "https://"):
        with pytest.raises(ValueError, match=r"expected an http\(s\) URL without credentials, e.g. https://x"):
            http_url(bad, example="https://x")
