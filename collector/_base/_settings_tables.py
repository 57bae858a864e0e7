"""The tables of the configuration file besides `[[sources]]`: store, scheduler, logging, verify, metrics, cluster."""

from __future__ import annotations

import os
import zoneinfo
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._durations import Duration
from ._secret import Secret

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


class PostgresSettings(BaseModel):
    """`[store.postgresql]`: the catalog in a PostgreSQL database instead of `catalog.sqlite`."""

    model_config = _TABLE

    dsn: str = Field(description="libpq URL or key=value string, without the password")
    password: Secret | None = Field(default=None, description="the database password: { env = ... } or { file = ... }")
    reconnect_seconds: float = Field(default=60.0, ge=0, le=3600,
                                     description="how long a lost connection is retried before the run stops")

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme in ("postgres", "postgresql"):
            if parts.password:
                raise ValueError("expected no password in the URL: give it as password = { env = ... }")
        elif "password=" in value.replace(" ", ""):
            raise ValueError("expected no password in the DSN: give it as password = { env = ... }")
        elif "=" not in value:
            raise ValueError("expected a postgresql:// URL or a key=value DSN such as 'host=db dbname=collector'")
        return value


class S3Settings(BaseModel):
    """`[store.s3]`: audio and transcripts in an S3 bucket instead of the store folder."""

    model_config = _TABLE

    bucket: str = Field(min_length=3, max_length=63, description="the bucket")
    prefix: str = Field(default="", description="a key prefix inside the bucket, e.g. 'recordings/'")
    endpoint: str | None = Field(default=None, description="the S3 endpoint URL (MinIO, Ceph, ...); AWS when absent")
    region: str = Field(default="us-east-1", description="the bucket's region")
    access_key_id: Secret | None = Field(default=None, description="{ env = ... }; the AWS_* environment when absent")
    secret_access_key: Secret | None = Field(default=None, description="{ env = ... } or { file = ... }")
    path_style: bool = Field(default=True, description="path-style requests (what MinIO, Ceph and SeaweedFS need)")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ValueError("expected an http(s) URL without credentials, e.g. https://s3.example.com")
        return value.rstrip("/")


class StoreSettings(BaseModel):
    """Where the store lives: a folder (the embedded default), and optionally PostgreSQL and S3.

    `path` is always a local folder: the whole store when nothing else is configured; with
    `[store.postgresql]` and `[store.s3]` only its scratch space (`.tmp/`) and lock.
    """

    model_config = _TABLE

    path: Annotated[Path, Field(strict=False)] = Field(default=Path("collector-store"), description="store directory")
    min_free_bytes: int = Field(default=64 * 1024 * 1024, ge=0,
                                description="space a download must leave free on the store's disk")
    postgresql: PostgresSettings | None = None
    s3: S3Settings | None = None


class SchedulerSettings(BaseModel):
    """When `collector schedule` runs passes, and whether to cap the tenants in progress at once.

    Every tenant starts at once by default: a tenant waiting for its vendor's rate limit holds
    nothing that another tenant could use (see `collector._runner._machine`), so a cap only makes a pass
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

    format: Literal["text", "json"] = Field(default="text", description="log lines as text, or one JSON object "
                                                                    "per line (and the run summary as JSON too)")
    level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="the least severe "
                                                                                           "level logged")


class VerifySettings(BaseModel):
    """A slice of `collector verify` after every pass (`after_pass`), within these limits.

    Every pass of `run`, `schedule` and `demo`, and a distributed pass seen whole by `enqueue --wait`
    (or `run --distributed`), never a cluster worker's tenant; skipped while another run holds the store.
    """

    model_config = _TABLE

    after_pass: bool = Field(default=False, description="verify a slice of the store after every pass")
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


class EvidenceSettings(BaseModel):
    """`[evidence]`: where every pass's chain checkpoint is also written, outside the store's reach.

    A checkpoint (the evidence chain's event count and head hash, see `collector._storage._catalog._chain`)
    only proves the archive unchanged when a copy lives where the store's writer cannot rewrite
    it: a folder on another machine's mount or one shipped elsewhere (`checkpoint_dir`), or an
    object under S3 Object Lock in compliance mode (`checkpoint_object_lock_days`, S3 stores).
    """

    model_config = _TABLE

    checkpoint_dir: Annotated[Path, Field(strict=False)] | None = Field(
        default=None, description="also write every checkpoint to this folder, one new read-only file each")
    checkpoint_object_lock_days: float | None = Field(
        default=None, gt=0, le=36_500,
        description="with [store.s3]: also write every checkpoint to the bucket under S3 Object Lock this many days")


class ClusterSettings(BaseModel):
    """`[cluster]`: how `collector worker` processes share a pass (needs `[store.postgresql]`).

    A worker that stops renewing a tenant's lease (killed, its machine lost, stalled) gives the
    tenant back after at most `lease_seconds`, and its job is handed to another worker once it
    has sent no heartbeat for `stalled_seconds`; the two together bound the hand-over.
    """

    model_config = _TABLE

    tenants_per_worker: int = Field(default=100, ge=1, le=10_000,
                                    description="tenants one worker process collects at once")
    lease_seconds: float = Field(default=30.0, ge=2.0, le=3600.0,
                                 description="a tenant's lease: renewed every third of it while its worker works")
    stalled_seconds: float = Field(default=20.0, ge=2.0, le=3600.0,
                                   description="a worker silent this long has its tenants handed to others")
    poll_seconds: float = Field(default=1.0, gt=0.0, le=60.0,
                                description="how often an idle worker looks for work (besides notifications)")
    schedule: bool = Field(default=True, description="workers start a pass at [scheduler].cron (false: "
                                                     "only `collector enqueue` does, e.g. from a CronJob)")
    queue: str = Field(default="collector", min_length=1, max_length=60, description="the task queue's name")


class FileSettings(BaseModel):
    """The whole file before the source entries are validated by their plugins."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    store: StoreSettings = StoreSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    logging: LoggingSettings = LoggingSettings()
    verify: VerifySettings = VerifySettings()
    metrics: MetricsSettings = MetricsSettings()
    cluster: ClusterSettings = ClusterSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    sources: list[dict[str, Any]] = Field(default_factory=list)


TABLES: dict[str, type[BaseModel]] = {"store": StoreSettings, "scheduler": SchedulerSettings,
                                      "logging": LoggingSettings, "verify": VerifySettings, "metrics": MetricsSettings,
                                      "cluster": ClusterSettings, "evidence": EvidenceSettings}
"""The tables environment variables can override (`COLLECTOR_<TABLE>__<KEY>`)."""
