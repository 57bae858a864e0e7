"""Scale-out: several `collector worker` processes, on several machines, share one pass.

The catalog is in PostgreSQL and its database is also the task queue (procrastinate, see
`_queue`): no broker to run. A pass is one job per tenant; a tenant runs on one worker at a time
(the queue's lock, and a lease with a fencing epoch, see `_lease`); a worker that dies or stalls
gives its tenants back within `[cluster] lease_seconds` + `stalled_seconds` (plus one 5-second
recovery tick), and another resumes them from what was committed. `_worker` is the process.
"""

from ._queue import Enqueued, PassReport, start_pass
from ._worker import require_cluster_store, run_worker

__all__ = ["Enqueued", "PassReport", "require_cluster_store", "run_worker", "start_pass"]
