"""Built-in plugin: `[verify] after_pass = true` verifies a slice of the store after every pass."""

from __future__ import annotations

import logging

from .._hookspecs import PassEvent, hookimpl

log = logging.getLogger("collector")


@hookimpl
def collector_pass_finished(event: PassEvent) -> None:
    """Verify a slice within `[verify]`'s limits, holding the store's lock (skipped if another run
    holds it); a distributed pass verifies from `enqueue --wait`, once all its tenants ended."""
    settings = event.config.verify
    if not settings.after_pass or event.kind == "worker":
        return
    from collector._storage._catalog import Scope
    from collector._storage._store import Store, StoreBusy
    from collector._storage._verify import VerifyOptions, verify_store

    options = VerifyOptions(decode=settings.decode, max_bytes=settings.max_bytes, max_rate=settings.max_rate,
                            max_time=settings.max_time.total_seconds() if settings.max_time else None)
    store = Store(event.config.store_location)
    try:
        with store.exclusive() if event.kind != "enqueue" else store.shared():
            outcome = verify_store(store, Scope(), options)
        log.info("Verify after the pass: %d files, %d problem(s), %d lost.", outcome.files, len(outcome.findings),
                 outcome.lost, extra={"event": "verify", "files": outcome.files, "problems": len(outcome.findings),
                                      "lost": outcome.lost})
    except StoreBusy:
        log.info("Verify after the pass skipped: another run holds the store.")
    finally:
        store.close()
