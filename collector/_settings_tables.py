"""The tables of the configuration file besides `[[sources]]`: store, scheduler, logging, verify, metrics."""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._durations import Duration

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
    """A zone by IANA name, or "local": the machine's (with DST)."""
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


_TABLE = ConfigDict(extra="forbid", hide_input_in_errors=True)


class StoreSettings(BaseModel):
    """Where the store lives."""

    model_config = _TABLE

    path: Annotated[Path, Field(strict=False)] = Field(default=Path("collector-store"), description="store directory")


class SchedulerSettings(BaseModel):
    """When `collector schedule` runs passes, and whether to cap the tenants in progress at once.

    Every tenant starts at once by default: a tenant waiting for its vendor's rate limit holds
    nothing that another tenant could use (see `collector._machine`), so a cap only makes a pass
    slower. Set `max_jobs` to spread a pass's load on a shared vendor or to bound its memory
    (about 0.2 MB per tenant in progress).
    """

    model_config = _TABLE

    cron: str = Field(default="0 2 * * *", description="five-field cron expression or @daily-style alias")
    timezone: str = Field(default="local", description="IANA zone name for the cron expression, or 'local'")
    max_jobs: int | None = Field(
        default=None, ge=1, le=100_000,
        description="at most this many tenants in progress at once (unset: every tenant at once)")

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

    model_config = _TABLE

    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class VerifySettings(BaseModel):
    """A slice of `collector verify` after every scheduled pass (`after_pass`), within these limits."""

    model_config = _TABLE

    after_pass: bool = Field(default=False, description="verify a slice of the store after each scheduled pass")
    max_bytes: int | None = Field(default=None, ge=1, description="stop a slice after reading this many bytes")
    max_time: Annotated[timedelta, Duration(minimum=timedelta(seconds=1))] | None = Field(
        default=None, description="stop a slice after this long (seconds or ISO 8601)")
    max_rate: int | None = Field(default=None, ge=1, description="read at most this many bytes a second")
    decode: bool = Field(default=False, description="decode audio to the end again, not only hash it")


class MetricsSettings(BaseModel):
    """Prometheus metrics: a text file per run (node_exporter's textfile collector) and a port."""

    model_config = _TABLE

    textfile: Annotated[Path, Field(strict=False)] | None = Field(
        default=None, description="write the metrics of every run to this .prom file (atomically)")
    port: int | None = Field(default=None, ge=1, le=65535, description="`schedule` serves /metrics on this port")
    host: str = Field(default="127.0.0.1", description="the address `schedule` serves metrics on")


class FileSettings(BaseModel):
    """The whole file before the source entries are validated by their plugins."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    store: StoreSettings = StoreSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    logging: LoggingSettings = LoggingSettings()
    verify: VerifySettings = VerifySettings()
    metrics: MetricsSettings = MetricsSettings()
    sources: list[dict[str, Any]] = Field(default_factory=list)


TABLES: dict[str, type[BaseModel]] = {"store": StoreSettings, "scheduler": SchedulerSettings,
                                      "logging": LoggingSettings, "verify": VerifySettings, "metrics": MetricsSettings}
"""The tables environment variables can override (`COLLECTOR_<TABLE>__<KEY>`)."""
