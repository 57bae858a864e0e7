"""`collector schedule`: stay up and run a pass at every time the cron expression names.

The configuration is re-read before each pass, so edits apply without a restart (an invalid
edit is logged and the last good configuration is used). Passes never overlap: a pass takes the
store's lock, and a pass that finds it held (a `collector run` started by hand, another
scheduler) is skipped with a log line. A pass that overruns the next due time does not queue
catch-up passes: the next one is computed from the moment the pass ends. SIGTERM stops the
scheduler at once; a pass it interrupts resumes on the next start (the store is crash-safe).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from cronsim import CronSim

from collector._base._errors import ConfigError
from collector._base._settings_tables import cron_expression, resolve_timezone
from collector._storage._store import StoreBusy

from ._config import Config, load_config
from ._plugins import Plugins

log = logging.getLogger("collector.schedule")


def next_pass(cron: str, zone_name: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the cron expression names, in UTC."""
    zone = resolve_timezone(zone_name)
    return next(CronSim(cron_expression(cron), after.astimezone(zone))).astimezone(UTC)


class _Stop(BaseException):
    """SIGTERM arrived: the service manager asks the scheduler to stop.

    A BaseException, like KeyboardInterrupt, so that code catching Exception (logging's `emit`,
    for one) cannot swallow it when the signal lands inside it.
    """


def run_schedule(config_path: Path, plugins: Plugins, collect: Callable[[Config], int]) -> int:
    """Run passes until SIGTERM (exit 0, as service managers expect) or Ctrl-C."""
    config = load_config(config_path, plugins)
    plugins.service_started(config, "schedule")  # the built-in metrics plugin serves /metrics from now on
    signal.signal(signal.SIGTERM, _stop)
    try:
        _loop(config_path, plugins, collect, config)
    except _Stop:
        log.info("Stopped by SIGTERM; an interrupted pass resumes on the next start.")
    return 0


def _loop(config_path: Path, plugins: Plugins, collect: Callable[[Config], int], config: Config) -> None:
    while True:
        due = next_pass(config.scheduler.cron, config.scheduler.timezone, datetime.now(UTC))
        log.info("Next pass at %s (cron '%s', %s).", due.isoformat(timespec="seconds"), config.scheduler.cron,
                 config.scheduler.timezone)
        _sleep_until(due)
        try:
            config = load_config(config_path, plugins)
        except ConfigError as exc:
            log.error("The configuration became invalid; using the previous one:\n%s", "\n".join(exc.problems))
        try:
            code = collect(config)
        except StoreBusy as exc:
            log.warning("Pass skipped: %s", exc.reason)
            continue
        log.info("Pass finished with exit code %d.", code)


def _sleep_until(due: datetime) -> None:
    while (remaining := (due - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(remaining, 60.0))


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop
