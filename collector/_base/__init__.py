"""Foundations: what every other layer speaks, with no knowledge of vendors, stores or passes.

- `_errors`          the error taxonomy that decides retry / wait / skip / stop, and the vendor's
                     answer an error carries (`_vendor_answer`);
- `_model`           `Recording`, `Party`, `Transcript`: the normalized model; `_revisit`: `Revisit`
                     and `Children`, for parents whose children come later;
- `_settings_tables` the configuration file's tables besides `[[sources]]` (store, scheduler,
                     logging, verify, metrics, cluster, evidence); `_durations` the durations in them;
- `_secret`, `_redact` secrets by reference, and keeping them out of everything a person can see;
- `_ids`, `_time`, `_dates` compound ids and path segments; one clock and one timestamp format;
                     the timestamps vendors send;
- `_exits`           the exit codes a pass, `verify` or `migrate-store` ends with; `_version` the
                     installed version.

May import: `archive_check`.
"""
