"""The `collector` command line: parsing, each command, and what it prints.

- `_main`            the parser and the error-to-exit-code mapping (the console script's `main`);
- `_commands`        what each command does: load what it needs, call the layers below, render;
- `_output`          log lines, live progress on a terminal, the end-of-run summary; `_native`
                     what native libraries print, routed through the logger;
- `_status`, `_report`, `_report_output`, `_export`, `_dry_run`, `_demo`   `status`, `report`
                     (and how it is written: text, JSON, CSV, HTML), `export`, `run --dry-run`,
                     `demo`.

May import: `archive_check`, `_base`, `_http`, `_sources`, `_storage`, `_runner`, `_scaffold`.
"""
