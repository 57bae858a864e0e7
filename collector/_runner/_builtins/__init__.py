"""The collector's own features that live around a pass, as plugins on the lifecycle hooks.

Registered by `collector._runner._plugins.Plugins` exactly as an external plugin is (pytest lists its own
features in `default_plugins` the same way), so the cluster worker and `enqueue --wait` get them
as `run` does, and a plugin of yours can sit beside them (an alert on a stopped tenant is a
`collector_tenant_finished` implementation):

- `summary_log`: a log line per finished tenant (unless a live table shows it on a terminal);
- `metrics`: Prometheus metrics from the catalog after every pass and tenant, and the `/metrics`
  server of `schedule` and `worker`;
- `verify_after_pass`: a `collector verify` slice after a pass, within `[verify]`'s limits.
"""

from . import metrics, summary_log, verify_after_pass

DEFAULT_PLUGINS = {"summary_log": summary_log, "metrics": metrics, "verify_after_pass": verify_after_pass}
"""The built-in plugins, by name (as `collector plugins` lists them)."""

__all__ = ["DEFAULT_PLUGINS"]
