"""How `collector report` is written: a table, JSON, CSV, or one self-contained HTML file.

Every format carries the same lines. JSON and CSV list every day; the text and HTML tables fold a
run of consecutive reconciled days without recordings (the vendor counted none, we listed none)
into one row, and leave the listing windows (`windows`) to the JSON. The HTML file embeds its
style and its chart (an SVG grid, one row per tenant and one cell per day with recordings or
something to say, coloured by state), so it opens offline, in any browser, years later.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from ._report import COLUMNS, NO_COUNT, NOT_COUNTED, RECONCILED, Line, Report

_HEADERS = {"vendor": "vendor", "listed": "listed", "stored": "stored", "proven": "proven", "unavailable": "unav",
            "held": "held", "difference": "diff"}
CAPTION = ("vendor: the vendor's own count of the day · listed: recordings it listed to us · proven: stored files "
           "proven intact (checksum or complete) · unav: no audio, for a stated reason · held: legal hold or "
           "retention · diff: vendor - listed")


@dataclass
class Row:
    """A table row: one day, a folded run of empty reconciled days, or a total."""

    line: Line
    day: str
    state: str
    css: str = ""


def _empty(line: Line) -> bool:
    return line.listed == 0 and line.vendor == 0 and line.describe() == RECONCILED


def rows(report: Report) -> Iterator[Row]:
    """The table's rows: each tenant's days (empty reconciled runs folded), its total; the grand total."""
    for total in report.totals:
        run: list[Line] = []
        for line in (d for d in report.days if (d.source, d.tenant) == (total.source, total.tenant)):
            if _empty(line) and run and (date.fromisoformat(line.day) - date.fromisoformat(run[-1].day)).days == 1:
                run.append(line)
                continue
            yield from _flush(run)
            run = [line] if _empty(line) else []
            if not run:
                yield Row(line, line.day, line.describe())
        yield from _flush(run)
        yield Row(total, "total", total.describe(), "total")
    yield Row(report.total, "total", report.total.describe(), "total")


def _flush(run: list[Line]) -> Iterator[Row]:
    if len(run) == 1:
        yield Row(run[0], run[0].day, run[0].describe())
    elif run:
        yield Row(run[0], f"{run[0].day}..{run[-1].day}", f"reconciled ({len(run)} days without recordings)")


def _cell(line: Line, column: str) -> str:
    value = line.count(column)
    return "-" if value is None else str(value)


def _title(report: Report) -> str:
    if report.zone:
        return f"Reconciliation ({report.zone} days)"
    return "Reconciliation (each tenant's days in its own time zone)"


NARROW = 120
"""Below this many columns a terminal gets the narrow layout: a table per tenant, titled with its
name, short headers, the state folded."""
_SHORT = {"vendor": "vend", "listed": "list", "stored": "stor", "proven": "prov", "unavailable": "unav", "held": "held",
          "difference": "diff"}


def render_text(report: Report, out: TextIO) -> None:
    """A table: per tenant a row per day (empty reconciled runs folded), then its total; the grand total.
    On a terminal narrower than `NARROW` each tenant gets a table of its own, titled with its name,
    instead of a tenant column that the numbers squeeze to nothing."""
    console = Console(file=out, width=None if out.isatty() else 100_000, soft_wrap=not out.isatty())
    if console.width >= NARROW:
        table = _text_table(_title(report), CAPTION, with_tenant=True)
        for row in rows(report):
            table.add_row(row.line.label, *_text_cells(report, row), end_section=bool(row.css))
        console.print(table)
        return
    console.print(_title(report), style="italic")
    groups: dict[str, list[Row]] = {}
    for row in rows(report):
        groups.setdefault(row.line.label if row.line.source else "all tenants", []).append(row)
    for label, group in groups.items():
        table = _text_table(label, None, with_tenant=False)
        for row in group:
            table.add_row(*_text_cells(report, row))
        console.print(table)
    console.print(CAPTION, style="dim", markup=False, highlight=False)


def _text_table(title: str, caption: str | None, *, with_tenant: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, title=title, caption=caption,
                  title_justify="center" if with_tenant else "left")
    if with_tenant:
        table.add_column("tenant", overflow="fold")
    table.add_column("day", overflow="fold", min_width=10)
    for column in COLUMNS:
        table.add_column((_HEADERS if with_tenant else _SHORT)[column], justify="right", no_wrap=True)
    table.add_column("state", overflow="fold", min_width=12, ratio=1)
    return table


def _text_cells(report: Report, row: Row) -> list[str]:
    zone = f" ({row.line.zone} days)" if row.css and row.line.source and not report.zone else ""
    return [row.day, *(_cell(row.line, c) for c in COLUMNS), row.state + zone]


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: every day, the totals, and every listing window."""
    return {
        "timezone": report.zone,
        "days": [line.as_dict() for line in report.days],
        "totals": [line.as_dict() for line in report.totals],
        "total": report.total.as_dict(),
        "windows": [vars(window) for window in report.windows],
    }


def render_json(report: Report, out: TextIO) -> None:
    """The report as one JSON document."""
    json.dump(report_document(report), out, indent=2)
    out.write("\n")


CSV_FIELDS = ("source", "tenant", "day", "zone", "vendor_count", "listed", "stored", "proven", "unavailable", "held",
              "difference", "state", "reconciled", "findings", "count_method", "counted_at", "verified", "waiting",
              "deferred", "deferred_until", "quarantined", "failed", "lost")


def render_csv(report: Report, out: TextIO) -> None:
    """One CSV row per tenant and day, then a total row per tenant."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for line in [*report.days, *report.totals]:
        row = line.as_dict()
        writer.writerow({**row, "findings": "; ".join(row["findings"])})


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2), th:last-child, td:last-child { text-align: left; }
td:nth-child(2) { white-space: nowrap; }
tr.total td { font-weight: bold; border-bottom: 2px solid #999; }
.legend span { display: inline-block; width: 1em; height: 1em; margin: 0 0.3em 0 1em; vertical-align: middle; }
.complete { fill: #2e8b57; background: #2e8b57; } .open { fill: #e0a100; background: #e0a100; }
.problem { fill: #c0392b; background: #c0392b; } .unreconciled { fill: #9e9e9e; background: #9e9e9e; }
"""


def _colour(line: Line) -> str:
    state = line.state
    if state == RECONCILED:
        return "complete"
    if state == NOT_COUNTED:
        return "open"
    if state == NO_COUNT or state.startswith(("counted in", "only part")):
        return "unreconciled"
    return "problem"


def _chart(report: Report) -> str:
    shown = [line for line in report.days if not _empty(line)]
    days = sorted({line.day for line in shown})
    tenants = [(total.source, total.tenant) for total in report.totals]
    if not days or not tenants:
        return "<p>No day with recordings in this range.</p>"
    by_key = {(line.source, line.tenant, line.day): line for line in shown}
    size, label = 18, 220
    width, height = label + max(size * len(days), 420) + 10, size * len(tenants) + 40
    parts = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="reconciliation per tenant and day">']
    for row, (source, tenant) in enumerate(tenants):
        y = 20 + row * size
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(f"{source}/{tenant}")}</text>')
        for col, day in enumerate(days):
            line = by_key.get((source, tenant, day))
            if line is None:
                continue
            title = html.escape(f"{source}/{tenant} {day}: vendor {_cell(line, 'vendor')}, {line.listed} listed, "
                                f"{line.stored} stored, {line.proven} proven: {line.describe()}")
            parts.append(f'<rect class="cell {_colour(line)}" data-day="{day}" x="{label + col * size}" y="{y}" '
                         f'width="{size - 2}" height="{size - 2}"><title>{title}</title></rect>')
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]} (one column per day with recordings)"
    parts.append(f'<text x="{label}" y="12" font-size="11">{html.escape(span)}</text></svg>')
    return "".join(parts)


def render_html(report: Report, out: TextIO, *, generated: str) -> None:
    """One self-contained HTML page: the chart, then the table of every tenant's days."""
    body = "".join(_html_row(row) for row in rows(report))
    headers = "".join(f"<th>{html.escape(_HEADERS[c])}</th>" for c in COLUMNS)
    zone = html.escape(report.zone or "each tenant's own time zone")
    out.write(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Recording reconciliation</title>
<style>{_STYLE}</style></head><body>
<h1>Recording reconciliation</h1>
<p>Generated {html.escape(generated)}; days in {zone}. A day is {RECONCILED} when the vendor's own count equals
the recordings it listed to us, each of them is stored or unavailable for a stated reason, and every stored file is
proven intact. {html.escape(CAPTION)}.</p>
<h2>Per tenant and day</h2>
<p class="legend"><span class="complete"></span>{RECONCILED} <span class="open"></span>{NOT_COUNTED}
<span class="unreconciled"></span>{NO_COUNT} <span class="problem"></span>short, or more listed than counted</p>
{_chart(report)}
<table id="days"><thead><tr><th>tenant</th><th>day</th>{headers}<th>state</th></tr></thead><tbody>
{body}
</tbody></table>
</body></html>
""")


def _html_row(row: Row) -> str:
    cells = "".join(f"<td>{html.escape(_cell(row.line, c))}</td>" for c in COLUMNS)
    return (f'<tr class="{row.css}"><td>{html.escape(row.line.label)}</td><td>{html.escape(row.day)}</td>{cells}'
            f"<td>{html.escape(row.state)}</td></tr>\n")
