"""The error taxonomy: every failure is one of these, and its class decides what happens next.

    CollectorError
    ├── ConfigError            the configuration is wrong; nothing runs (exit code 2)
    ├── ItemError              one item (recording, audio file, transcript) cannot be collected now;
    │   │                      the rest of the tenant's work goes on
    │   ├── ItemDeferred       transient: retried on the next run, counted as an attempt
    │   ├── ItemNotReady       the vendor has the item but is still processing it: asked again on
    │   │                      later runs until its waiting period ends, never counted as an attempt
    │   ├── ItemUnavailable    final: the vendor has nothing we may fetch (no media, access denied)
    │   └── ItemRejected       bad data: quarantined with the reason
    ├── TenantError            stop this tenant's job for this run; other tenants carry on
    │   ├── AuthenticationError    credentials refused (revoked, wrong): nothing else will work
    │   └── DownloadsStopped       stop downloads only (egress cap, budget, required comment
    │                              missing); metadata goes on and pending items wait for a later run
    ├── RunError               the store itself is unusable: stop the whole run
    │   └── StoreFailure       our own machine failed (disk full, permission denied, a damaged
    │                          catalog): downloads stop everywhere, nothing counts against an item
    └── RequestFailed          raised by the HTTP client after its own retries; the job maps it
        ├── BadStatus          to one of the classes above with `classify_request_failure`
        └── NoAnswer

Which outcome each class leads to for a work item is decided in one place,
`collector._job._outcome.outcome_of`. Messages are whole sentences and never contain a secret:
every message passes through the redactor before it reaches a log, the catalog or the terminal.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported on the way to --help (see collector/__init__.py)

if TYPE_CHECKING:
    from datetime import datetime


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""

    @property
    def reason(self) -> str:
        """The sentence recorded in the catalog and shown to the user."""
        return str(self)


class ConfigError(CollectorError):
    """The configuration file is missing, unreadable or invalid; `problems` lists every issue."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ItemError(CollectorError):
    """One item cannot be collected now; the rest of the work goes on."""


class ItemDeferred(ItemError):
    """A transient failure: the item stays pending and is tried again on the next run."""


class ItemNotReady(ItemError):
    """The vendor lists the item but its media (or transcript) is still being processed.

    The item waits: it is asked for again on later runs, without spending `max_attempts`, until
    the source's waiting period (`media_wait_days` / `transcript_wait_days`) has passed.
    """


class ItemUnavailable(ItemError):
    """The vendor has nothing we may fetch for this item; recorded as final, never retried."""


class ItemRejected(ItemError):
    """The vendor sent bad data for this item; it is quarantined with the reason (and the payload)."""

    def __init__(self, reason: str, payload: object = None) -> None:
        super().__init__(reason)
        self.payload = payload


class TenantError(CollectorError):
    """This tenant's job stops for this run; other tenants carry on."""


class AuthenticationError(TenantError):
    """The vendor refused the tenant's credentials even after re-authenticating."""


class DownloadsStopped(TenantError):
    """Downloads for this tenant stop for this run; metadata collection goes on.

    `resume_at`, when known (a rolling egress budget frees up), is when downloads can go on: the
    waiting items show it in `status` and `report`.
    """

    def __init__(self, reason: str, resume_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.resume_at = resume_at


class RunError(CollectorError):
    """The whole run must stop (the store cannot be written)."""


class StoreFailure(RunError):
    """The store could not be written or read: a failure of our own machine, never of a vendor item.

    The run's downloads stop (every tenant writes to the same disk), no item spends an attempt,
    and the run exits with its own code (5); `reason` names the store and what to do.
    """


class RequestFailed(CollectorError):
    """A request failed after the HTTP client's own retries."""


class BadStatus(RequestFailed):
    """The server answered with an error status (after retries, when the status was retryable)."""

    def __init__(self, status: int, method: str, url: str, detail: str = "") -> None:
        self.status = status
        self.method = method
        self.url = url
        self.detail = detail
        text = f"{method} {url} answered HTTP {status}"
        super().__init__(f"{text}: {detail}" if detail else f"{text}.")


class NoAnswer(RequestFailed):
    """The request never got a usable answer: connection refused or dropped, timeout, bad body."""


def classify_request_failure(error: RequestFailed, *, item: bool) -> CollectorError:
    """Map an HTTP failure to the taxonomy, for an item operation or for metadata listing.

    Defaults that fit most REST APIs; a plugin that knows better raises taxonomy errors itself.
    401 means the credentials are refused (re-authentication already happened); 509 is the de
    facto "bandwidth limit exceeded" answer, so downloads stop; for one item, 403 is final and
    anything else is retried on a later run. A failure while listing stops the tenant's metadata
    for this run (its state stays at the last commit).
    """
    status = error.status if isinstance(error, BadStatus) else None
    if status == 401:
        return AuthenticationError(f"The vendor refused the credentials: {error.reason}")
    if status == 509:
        return DownloadsStopped(f"The vendor's bandwidth limit was reached: {error.reason}")
    if not item:
        return TenantError(error.reason)
    if status == 403:
        return ItemUnavailable(f"Access denied: {error.reason}")
    return ItemDeferred(error.reason)
