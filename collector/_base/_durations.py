"""Durations in settings: seconds (`3600`, `0.5`) or ISO 8601 (`"PT1H"`, `"P1D"`), within bounds.

    window: Annotated[timedelta, Duration(minimum=timedelta(seconds=1), maximum=timedelta(days=31))]

Tests scale windows and delays down to fractions of a second while a production file stays
readable; an out-of-range or unreadable value is a configuration error that says what is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler, TypeAdapter
from pydantic_core import PydanticCustomError, core_schema

_HINT = "expected seconds (e.g. 3600) or an ISO 8601 duration (e.g. \"PT1H\", \"P1D\")"
_TIMEDELTA = TypeAdapter(timedelta)


def _words(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("days", 86_400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


@dataclass(frozen=True)
class Duration:
    """A pydantic annotation for `timedelta` settings written as seconds or ISO 8601, within bounds."""

    minimum: timedelta = timedelta(0)
    maximum: timedelta | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.total_seconds()))

    def validate(self, value: Any) -> timedelta:
        """The duration `value` stands for, or a validation error saying what is expected."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str, timedelta)):
            raise PydanticCustomError("duration", _HINT)
        if isinstance(value, str) and not value.strip().upper().startswith(("P", "-P")):
            try:
                value = float(value)
            except ValueError:
                raise PydanticCustomError("duration", _HINT) from None
        try:
            duration = _TIMEDELTA.validate_python(value)
        except ValueError:
            raise PydanticCustomError("duration", _HINT) from None
        if duration < self.minimum or (self.maximum is not None and duration > self.maximum):
            upper = f" and {_words(self.maximum)}" if self.maximum is not None else " or more"
            raise PydanticCustomError("duration", f"expected a duration between {_words(self.minimum)}{upper}")
        return duration
