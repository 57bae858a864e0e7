"""A pass: the configuration, the plugins and their hooks, every tenant's job, the schedule, the cluster.

- `_config`          loading and checking the TOML file (every problem at once, with its key path);
- `_hookspecs`, `_plugins`, `_builtins/`   the hooks; loading plugins and calling every hook; the
                     collector's own features around a pass (metrics, verify after a pass, the
                     summary log) as built-in plugins;
- `_run`, `_run_journal`, `_summary`, `_machine`   one pass (`run_once`), passes the catalog could
                     not record yet, what each tenant did, what the pass may use of the machine;
- `_job/`            one tenant's job: metadata, revisits, downloads, transcripts, reconciliation;
- `_schedule`, `_cluster/`, `_metrics`   the cron loop; workers on several machines sharing a pass;
                     Prometheus metrics from the catalog.

May import: `archive_check`, `_base`, `_http`, `_sources`, `_storage`.
"""
