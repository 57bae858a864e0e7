"""What the user sees: log lines, live progress on a terminal, and the end-of-run summary.

On a terminal, a live table shows every tenant's progress and log lines print above it.
Elsewhere (cron, systemd, CI) there is no animation: plain log lines, or one JSON object per
line with `--log-format json`, plus a progress line per tenant every `PROGRESS_EVERY` seconds.
Every log line passes the redacting filter, whatever its origin (ours, httpx, a plugin's).

rich and asyncio are imported where they are used: every command sets up logging through this
module, and `plugins`, `status` or `config check` need neither (about 25 ms of start-up each).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from collector._base._redact import RedactingFilter, redact
from collector._runner._summary import TenantStatus, TenantSummary, size_text, summary_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from collector._storage._checkpoints import CheckpointResult

PROGRESS_EVERY = 30.0


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and every field the record carries.

    Fields come from `extra=` (and a tenant's logger adds `source` and `tenant`): `event` names
    what happened (`retry`, `tenant_stopped`, `tenant_summary`, ...), with its counts, the HTTP
    status and the reason. Values are redacted like the message.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "collector_handler":
                data[key] = redact(value) if isinstance(value, str) else value
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class Throttled:
    """Calls `report(value)` at most once every `every` seconds (progress lines off a terminal)."""

    def __init__(self, report: Callable[[Any], None], every: float = PROGRESS_EVERY) -> None:
        self._report, self._every, self._last = report, every, time.monotonic()

    def __call__(self, value: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._report(value)


def interactive(stream: TextIO | None = None) -> bool:
    """True when output goes to a person at a terminal (live progress makes sense)."""
    return (stream or sys.stderr).isatty()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is logged, not when the handler was made:
    an embedding application or a test runner may swap it (and close the old one) in between."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """StreamHandler's constructor sets the stream; the current `sys.stderr` is always used."""


def setup_logging(fmt: str = "text", level: str = "info", *, console: Console | None = None,
                  stream: TextIO | None = None) -> None:
    """Route every log record through one redacting handler in the chosen format.

    Replaces the handler a previous call installed, and leaves other handlers (an embedding
    application's, a test runner's) alone.
    """
    root = logging.getLogger()
    for installed in list(root.handlers):
        if getattr(installed, "collector_handler", False):
            root.removeHandler(installed)
    handler: logging.Handler
    if console is not None and fmt == "text":
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False, markup=False)
    else:
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.setFormatter(
            JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    handler.addFilter(RedactingFilter())
    setattr(handler, "collector_handler", True)  # noqa: B010 - marks the handler this function owns
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


LEGEND = ("retry: requests retried · wait: waiting for the vendor · quar/defer/fail: items quarantined, "
          "deferred, failed")


_COLUMNS = ("new", "trans", "audio", "bytes", "retry", "wait", "quar", "defer", "fail")
_DROPPED_FIRST = ("bytes", "trans", "retry", "new", "audio")
"""Columns a narrow terminal drops, in this order; the tenant, its status and the columns of what is
left undone (wait, quar, defer, fail) are always shown."""


def progress_table(summaries: list[TenantSummary], *, title: str | None = None, width: int | None = None) -> Table:
    """A table of tenants: what each collected, retried, quarantined and left for later.

    Fits `width` columns (an 80-column terminal included): tenants are folded, never cut, numbers are
    short and never wrapped, and when it is still too wide the least telling columns go first
    (`_DROPPED_FIRST`), never the tenant, its status or what it left undone.
    """
    rows = _rows(summaries)
    columns = list(_COLUMNS)
    if width is not None:
        status = max([len("status"), *(len(row[1]) for row in rows)])

        def needed(names: list[str]) -> int:
            """Columns a row takes: the tenant folded to 10, the others whole; each column adds its
            padding and rule (measured on rendered tables: 2 per column, 1 for the edge)."""
            widths = [10, status, *(max([len(n), *(len(row[2][n]) for row in rows)]) for n in names)]
            return sum(widths) + 2 * len(widths) + 1

        for name in _DROPPED_FIRST:
            if needed(columns) <= width:
                break
            columns.remove(name)
    return _table(rows, columns, title)


def _rows(summaries: list[TenantSummary]) -> list[tuple[str, str, dict[str, str]]]:
    """Each tenant's label, state and short counts, by column."""
    return [(s.label, s.phase if s.phase != "done" else s.status.value,
             {"new": _n(s.new_recordings), "trans": _n(s.transcripts), "audio": _n(s.audio_files),
              "bytes": size_text(s.audio_bytes), "retry": _n(s.retried), "wait": _n(s.waiting),
              "quar": _n(s.quarantined), "defer": _n(s.deferred), "fail": _n(s.failed)}) for s in summaries]


def plain_table(summaries: list[TenantSummary], *, title: str) -> str:
    """The summary table as plain text, for output that is not a terminal (a cron mail, a log file).

    Every column whole, no width to fit, no trailing spaces. Rendering it with rich costs about
    25 ms per 50 tenants plus rich's import, every pass; this costs well under a millisecond.
    """
    rows = _rows(summaries)
    names = ["tenant", "status", *_COLUMNS]
    cells = [[label, state, *(values[name] for name in _COLUMNS)] for label, state, values in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]

    def line(values: list[str]) -> str:
        return "  ".join(value.ljust(width) if i < 2 else value.rjust(width)
                         for i, (value, width) in enumerate(zip(values, widths, strict=True))).rstrip()

    return "\n".join([title, line(names), "  ".join("-" * width for width in widths),
                      *(line(row) for row in cells), LEGEND]) + "\n"


def _table(rows: list[tuple[str, str, dict[str, str]]], columns: list[str], title: str | None) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, collapse_padding=True,
                  caption=LEGEND if len(columns) == len(_COLUMNS)
                  else LEGEND + " (a narrow terminal: " + ", ".join(c for c in _COLUMNS if c not in columns)
                  + " left out; --json has every count)")
    table.add_column("tenant", overflow="fold", min_width=10, ratio=1)
    table.add_column("status", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for label, status, values in rows:
        table.add_row(label, status, *(values[name] for name in columns))
    return table


def _n(value: int) -> str:
    """A count short enough for a narrow table: 12345, then 123k, then 12.3M (the JSON has the exact number)."""
    if value < 100_000:
        return str(value)
    if value < 10_000_000:
        return f"{value // 1000}k"
    return f"{value / 1e6:.1f}M"


@contextmanager
def live_progress(console: Console | None, summaries: Callable[[], list[TenantSummary]]) -> Iterator[None]:
    """Show live per-tenant progress while the block runs (a terminal only; else periodic log lines).

    Must be entered on the running event loop.
    """
    if console is None:
        import asyncio

        task = asyncio.get_running_loop().create_task(_log_progress(summaries))
        try:
            yield
        finally:
            task.cancel()
        return
    from rich.live import Live

    with Live(console=console, refresh_per_second=4, transient=True,
              get_renderable=lambda: progress_table(summaries(), width=console.width)):
        yield


async def _log_progress(summaries: Callable[[], list[TenantSummary]]) -> None:
    import asyncio

    progress_log = logging.getLogger("collector.progress")
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        for summary in summaries():
            if summary.phase != "done":
                progress_log.info(summary_line(summary))


def render_summary(summaries: list[TenantSummary], out: TextIO, *, as_json: bool, run_id: int | None = None,
                   checkpoint: CheckpointResult | None = None, one_line: bool = False) -> None:
    """Print the end-of-run summary: a table, a sentence per tenant that needs attention, and the
    evidence chain's checkpoint; or JSON (`one_line`: a single line, beside JSON log lines)."""
    if as_json:
        json.dump({"run": run_id, "tenants": [s.as_dict() for s in summaries],
                   **({"checkpoint": checkpoint.as_dict()} if checkpoint else {})}, out,
                  indent=None if one_line else 2)
        out.write("\n")
        return
    lines = [f"{s.label}: {redact(line)}" for s in summaries for line in (*s.notes, *s.messages)]
    settled = (TenantStatus.OK, TenantStatus.WAITING)
    if summaries and all(s.nothing_new and s.status in settled for s in summaries):
        held = sum(s.held_recordings for s in summaries)
        waiting = sum(s.waiting for s in summaries)
        tail = f"; {waiting} items are still being processed by the vendor" if waiting else ""
        lines.append(f"Nothing new: the store already holds all {held} recordings and nothing is pending{tail}.")
    elif summaries and all(s.nothing_new for s in summaries):
        lines.append("Nothing new was collected in this run.")
    if checkpoint is not None:
        lines.append(checkpoint.sentence())
    title = f"Run {run_id} summary" if run_id else "Run summary"
    if not out.isatty():
        out.write(plain_table(summaries, title=title))
        out.writelines(line + "\n" for line in lines)
        return
    from rich.console import Console

    console = Console(file=out)
    console.print(progress_table(summaries, title=title, width=console.width))
    for line in lines:
        console.print(line, markup=False, highlight=False)
