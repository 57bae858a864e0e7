"""How `collector report` is written: a table, JSON, CSV, or one self-contained HTML file.

The HTML file embeds its style and its chart (an SVG grid, one row per tenant and one cell per
day, coloured by completeness), so it opens offline, in any browser, years later.
"""

from __future__ import annotations

import csv
import html
import json
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from ._report import COLUMNS, Line, Report

_HEADERS = {"vendor": "vendor", "recordings": "ours", "stored": "stored", "verified": "verif", "unavailable": "unav",
            "waiting": "wait", "deferred": "defer", "quarantined": "quar", "failed": "fail", "lost": "lost"}
NOT_RECONCILED = "not reconciled"


def _cell(line: Line, column: str) -> str:
    value = line.count(column)
    if column == "vendor" and value is None:
        return "-" if line.day == "total" else NOT_RECONCILED
    text = str(value)
    if column == "deferred" and line.resume and value:
        text += f" (until {line.resume[:10]})"
    return text


def render_text(report: Report, out: TextIO) -> None:
    """A table per tenant: one row per day, then its totals; the straddling windows; the grand total."""
    console = Console(file=out, width=None if out.isatty() else 200, soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                  title=f"Reconciliation ({report.zone} days)", caption="vendor: the vendor's own count; "
                  "ours: recordings listed; verif: stored files read back intact")
    table.add_column("tenant", overflow="fold")
    table.add_column("day", no_wrap=True)
    for column in COLUMNS:
        table.add_column(_HEADERS[column], justify="right", no_wrap=column != "vendor")
    for total in report.totals:
        for line in (d for d in report.days if (d.source, d.tenant) == (total.source, total.tenant)):
            table.add_row(line.label, line.day, *(_cell(line, c) for c in COLUMNS))
        table.add_row(total.label, "total", *(_cell(total, c) for c in COLUMNS), end_section=True)
    table.add_row("all tenants", "total", *(_cell(report.total, c) for c in COLUMNS))
    console.print(table)
    for window in report.windows:
        vendor = "no vendor count" if window.vendor is None else f"vendor {window.vendor}"
        console.print(f"{window.source}/{window.tenant} window {window.start} .. {window.end}: {vendor}, "
                      f"{window.listed} listed, {window.recordings} recordings in the store", markup=False,
                      highlight=False)


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data."""
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


CSV_FIELDS = ("source", "tenant", "day", "vendor_count", "reconciled", "recordings", "stored", "verified",
              "unavailable", "waiting", "deferred", "deferred_until", "quarantined", "failed", "lost")


def render_csv(report: Report, out: TextIO) -> None:
    """One CSV row per tenant and day, then a total row per tenant."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for line in [*report.days, *report.totals]:
        writer.writerow(line.as_dict())


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tr.total td { font-weight: bold; border-bottom: 2px solid #999; }
.legend span { display: inline-block; width: 1em; height: 1em; margin: 0 0.3em 0 1em; vertical-align: middle; }
.complete { fill: #2e8b57; background: #2e8b57; } .open { fill: #e0a100; background: #e0a100; }
.problem { fill: #c0392b; background: #c0392b; } .unreconciled { fill: #9e9e9e; background: #9e9e9e; }
"""


def _state(line: Line) -> str:
    if line.audio.get("failed") or line.audio.get("lost") or line.audio.get("quarantined") or (
            line.reconciled and line.vendor != line.recordings):
        return "problem"
    if not line.complete:
        return "open"
    return "complete" if line.reconciled else "unreconciled"


def _chart(report: Report) -> str:
    days = sorted({line.day for line in report.days})
    tenants = [(total.source, total.tenant) for total in report.totals]
    if not days or not tenants:
        return "<p>No recordings in this range.</p>"
    by_key = {(line.source, line.tenant, line.day): line for line in report.days}
    size, label = 18, 220
    width, height = label + max(size * len(days), 260) + 10, size * len(tenants) + 40
    parts = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="completeness per tenant and day">']
    for row, (source, tenant) in enumerate(tenants):
        y = 20 + row * size
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(f"{source}/{tenant}")}</text>')
        for col, day in enumerate(days):
            line = by_key.get((source, tenant, day))
            if line is None:
                continue
            state = _state(line)
            title = html.escape(f"{source}/{tenant} {day}: {line.recordings} recordings, "
                                f"{line.audio.get('stored', 0)} stored, {state}")
            parts.append(f'<rect class="cell {state}" data-day="{day}" x="{label + col * size}" y="{y}" '
                         f'width="{size - 2}" height="{size - 2}"><title>{title}</title></rect>')
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]} (one column a day)"
    parts.append(f'<text x="{label}" y="12" font-size="11">{html.escape(span)}</text></svg>')
    return "".join(parts)


def render_html(report: Report, out: TextIO, *, generated: str) -> None:
    """One self-contained HTML page: the chart, then the table of every tenant's days."""
    rows = []
    for total in report.totals:
        for line in (d for d in report.days if (d.source, d.tenant) == (total.source, total.tenant)):
            rows.append(_html_row(line, ""))
        rows.append(_html_row(total, "total"))
    rows.append(_html_row(report.total, "total"))
    headers = "".join(f"<th>{html.escape(_HEADERS[c])}</th>" for c in COLUMNS)
    out.write(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Recording reconciliation</title>
<style>{_STYLE}</style></head><body>
<h1>Recording reconciliation</h1>
<p>Generated {html.escape(generated)}; days in {html.escape(report.zone)}. "vendor" is the vendor's own count,
"ours" the recordings it listed to us; a day without a vendor count is {NOT_RECONCILED}.</p>
<h2>Completeness per tenant and day</h2>
<p class="legend"><span class="complete"></span>complete <span class="unreconciled"></span>complete, {NOT_RECONCILED}
<span class="open"></span>waiting or deferred <span class="problem"></span>failed, lost, quarantined or short</p>
{_chart(report)}
<h2>Per tenant and day</h2>
<table id="days"><thead><tr><th>tenant</th><th>day</th>{headers}</tr></thead><tbody>
{''.join(rows)}
</tbody></table>
</body></html>
""")


def _html_row(line: Line, css: str) -> str:
    label = "all tenants" if not line.source else line.label
    cells = "".join(f"<td>{html.escape(_cell(line, c))}</td>" for c in COLUMNS)
    return f'<tr class="{css}"><td>{html.escape(label)}</td><td>{html.escape(line.day)}</td>{cells}</tr>\n'
