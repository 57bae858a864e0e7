"""`collector.parse_time`: every format vendors send, no guessed zone, errors that never show the value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from collector import parse_time, value_shape

UTC = UTC
TEN = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    "2026-12-03T10:00:00Z", "2026-12-03T10:00:00z", "2026-12-03T11:00:00+01:00", "2026-12-03 10:00:00+00:00",
    "20261203T100000Z", "2026-12-03T10:00:00.000Z",
    "Thu, 03 Dec 2026 10:00:00 +0000", "Tue, 03 Dec 2026 10:00:00 +0000",  # the weekday is not checked
    "03 Dec 2026 10:00:00 GMT", "Thu, 03 Dec 2026 10:00:00 -0000", "Thu, 03 Dec 2026 05:00:00 EST",
    "Thu, 03 Dec 2026 12:30:00 +0230", "Thursday, 03-Dec-26 10:00:00 GMT",
    1796292000, 1796292000.0, "1796292000", 1796292000000, "1796292000000", " 1796292000 ",
    TEN, TEN.astimezone(timezone(timedelta(hours=-7))),
])
def test_every_format_names_the_same_instant(value: Any) -> None:
    assert parse_time(value) == TEN


def test_seconds_and_milliseconds_are_told_apart_by_magnitude() -> None:
    assert parse_time(99_999_999_999) == datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)  # still seconds
    assert parse_time(100_000_000_000) == datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)  # milliseconds from here
    assert parse_time("1796292000123") == TEN.replace(microsecond=123000)
    with pytest.raises(ValueError, match="too large"):
        parse_time(1796292000123000)  # microseconds: refused, not misread


@pytest.mark.parametrize("value", ["2026-12-03 10:00:00", "2026-12-03T10:00:00", "Thu, 03 Dec 2026 10:00:00",
                                   "Thu Dec  3 10:00:00 2026", datetime(2026, 12, 3, 10)])
def test_a_time_without_a_zone_needs_the_vendors_zone(value: Any) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_time(value)
    assert parse_time(value, zone="Europe/Paris") == TEN - timedelta(hours=1)
    assert parse_time(value, zone=UTC) == TEN


def test_a_date_is_its_midnight_in_the_vendors_zone() -> None:
    assert parse_time("2026-12-03", zone="America/New_York") == datetime(2026, 12, 3, 5, tzinfo=UTC)
    assert parse_time(date(2026, 7, 3), zone="America/New_York") == datetime(2026, 7, 3, 4, tzinfo=UTC)  # DST
    with pytest.raises(ValueError):
        parse_time(date(2026, 7, 3))


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-01T00:00:00Z", "Thu, 03 Dec 2026 10:00:00 CET",
                                   "Thu, 32 Dec 2026 10:00:00 +0000", True, None, -5, float("nan"), float("inf"),
                                   [1796292000], {"at": 1}, "12 34 56"])
def test_what_is_not_a_time_is_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_an_unknown_zone_name_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        parse_time("2026-12-03 10:00:00", zone="Mars/Olympus")


def test_errors_describe_the_shape_never_the_value() -> None:
    secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    with pytest.raises(ValueError) as raised:
        parse_time(secret)
    assert secret not in str(raised.value) and "32-character string" in str(raised.value)
    assert value_shape("Tue, 03 Dec 2026 10:00:00 +0000") \
        == 'a 31-character string shaped "Aaa, 99 Aaa 9999 99:99:99 +9999"'
    assert value_shape("x" * 100).endswith('..."') and value_shape(None) == "null"
    assert value_shape([1, 2]) == "a list of 2 values" and value_shape({"a": 1}) == "an object with 1 key"
