"""The collector as a library, for code that embeds it (a scheduler of your own, a service, tests).

    from collector.engine import Plugins, load_config, run_once

    plugins = Plugins()                          # every installed plugin, from entry points
    config = load_config(Path("collector.toml"), plugins)
    result = run_once(config, plugins)           # one pass, the same lifecycle as `collector run`
    print(result.exit_code, [s.as_dict() for s in result.summaries])

    cli(["--config", "collector.toml", "report", "--json"])   # any command, in-process; its exit code

`run_once` is the pass of `run`, `schedule` and `demo`, hooks and all: with `Plugins()` (the
built-in plugins included) they write the metrics, run the verify slice of `[verify] after_pass`
and log a line per tenant, as for `collector run`. What it leaves to its caller is what those
commands add around it: setting up logging, the live progress table, printing the summary and
logging the configuration's warnings. (A cluster worker runs tenants' jobs, not passes: its
plugins hear `collector_tenant_finished` for each.)

`Catalog` (with the work kinds `AUDIO`, `TRANSCRIPT`, `WorkPlan` and `StoredAudio`, a verified file
as the catalog records it) opens a store's catalog for tools and benchmarks (`bench/bench_catalog.py`,
`bench/bench_evidence.py`); a run opens it itself.

Plugin authors need none of this: they import `collector`.
"""

from collector._base._errors import ConfigError, RunError
from collector._base._exits import EXIT_BUSY, EXIT_CONFIG, EXIT_LOST, EXIT_OK, EXIT_PARTIAL, EXIT_STORE, EXIT_WAITING
from collector._cli._main import run_cli as cli
from collector._runner._config import Config, load_config
from collector._runner._plugins import Plugins
from collector._runner._run import Progress, RunResult, run_once
from collector._runner._summary import TenantStatus, TenantSummary
from collector._storage._catalog import AUDIO, TRANSCRIPT, Catalog, StoredAudio, WorkPlan
from collector._storage._store import StoreBusy

__all__ = [
    "AUDIO",
    "EXIT_BUSY",
    "EXIT_CONFIG",
    "EXIT_LOST",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_STORE",
    "EXIT_WAITING",
    "TRANSCRIPT",
    "Catalog",
    "Config",
    "ConfigError",
    "Plugins",
    "Progress",
    "RunError",
    "RunResult",
    "StoreBusy",
    "StoredAudio",
    "TenantStatus",
    "TenantSummary",
    "WorkPlan",
    "cli",
    "load_config",
    "run_once",
]
