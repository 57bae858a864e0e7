"""The error taxonomy: every failure is one of these, and its class decides what happens next.

    CollectorError
    ├── ConfigError            the configuration is wrong; nothing runs (exit code 2)
    ├── ItemError              one item (recording, audio file, transcript) cannot be collected now;
    │   │                      the rest of the tenant's work goes on
    │   ├── ItemDeferred       transient: retried on the next run, counted as an attempt
    │   ├── ItemNotReady       the vendor has the item but is still processing it: asked again on
    │   │                      later runs until its waiting period ends, never counted as an attempt;
    │   │                      `retry_after`, the vendor's estimate, says when to ask again
    │   ├── ItemUnavailable    final: the vendor has nothing we may fetch (no media, access denied)
    │   └── ItemRejected       bad data: quarantined with the reason
    ├── TenantError            stop this tenant's job for this run; other tenants carry on
    │   ├── AuthenticationError    credentials refused (revoked, wrong): nothing else will work
    │   ├── RoutePaused        the vendor's quota closed one route (a category of calls) until a
    │   │                      time: only calls of that route stop, items spend no attempt, and
    │   │                      later runs leave the route alone until then (`route_pauses`)
    │   └── DownloadsStopped       stop downloads only (egress cap, budget, required comment
    │                              missing); metadata goes on and pending items wait for a later run
    ├── RunError               the store itself is unusable: stop the whole run
    │   └── StoreFailure       our own machine failed (disk full, permission denied, a damaged
    │                          catalog): downloads stop everywhere, nothing counts against an item
    └── RequestFailed          raised by the HTTP client after its own retries; the job maps it
        ├── BadStatus          to one of the classes above with `classify_request_failure`
        │   └── PageTokenExpired   the vendor refused a page token or cursor as expired
        ├── NoAnswer
        └── TransientAnswer    an answer that means "try again" (the HTTP client retries it)

A failed answer travels with the error the HTTP client raises for it: `BadStatus.answer` (and
the `answer` of an `ItemNotReady`, `ItemUnavailable`, ... raised for an answer) is a
`VendorAnswer` with its status, headers, a bounded and redacted body and the vendor's own error
code, so a plugin can decide on the code rather than on an English message (see `ErrorCodes`).

Which outcome each class leads to for a work item is decided in one place,
`collector._runner._job._outcome.outcome_of`. Messages are whole sentences and never contain a secret:
every message passes through the redactor before it reaches a log, the catalog or the terminal.
"""

from __future__ import annotations

from datetime import UTC

TYPE_CHECKING = False  # typing is not imported on the way to --help (see collector/__init__.py)

if TYPE_CHECKING:
    from datetime import datetime

    from ._vendor_answer import VendorAnswer


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""

    answer: VendorAnswer | None = None
    """The vendor's answer this error was raised for, when the HTTP client raised it for one
    (status, headers, bounded and redacted body, the vendor's error code); None otherwise."""

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
    `retry_after` is the vendor's estimate of when it will be ready, in seconds from when the
    error was raised (a Retry-After header, a body field the plugin names), if it gave one; a
    later run then asks no earlier than `ready_at`. The HTTP client waits out a short estimate
    itself (`RetrySettings.ready_wait`) and asks again within the same call.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after if retry_after is not None and retry_after > 0 else None
        self.ready_at: datetime | None = None
        """When the vendor expects the item to be ready (aware, UTC), from `retry_after`."""
        if self.retry_after is not None:
            from datetime import datetime, timedelta

            self.ready_at = datetime.now(UTC) + timedelta(seconds=self.retry_after)


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


class RoutePaused(TenantError):
    """The vendor's quota closed a route (a category of calls the plugin names, e.g. "downloads")
    for this tenant until `until` (aware, UTC).

    Raised by the HTTP client for a 429 whose wait is longer than `RetrySettings.quota_after`, for
    an error code an `ErrorCodes` table maps to this class, and for every later call of the route
    before `until` (without sending it). The pause is kept in the catalog and honoured by later
    runs; an item whose call was paused spends no attempt and stays as it was; the rest of the
    tenant's work goes on. `route` is None until the HTTP client names it.
    """

    def __init__(self, reason: str, route: str | None = None, until: datetime | None = None) -> None:
        super().__init__(reason)
        self.route = route
        self.until = until


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
    """The server answered with an error status (after retries, when the status was retryable).

    `answer` (see `CollectorError.answer`) holds what the vendor said: `headers`, `body` and
    `code` read from it (the vendor's own error code, e.g. "404" inside an HTTP 400).
    """

    def __init__(self, status: int, method: str, url: str, detail: str = "", *,
                 answer: VendorAnswer | None = None) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.detail = detail
        self.answer = answer
        text = f"{method} {url} answered HTTP {status}"
        super().__init__(f"{text}: {detail}" if detail else f"{text}.")

    @property
    def code(self) -> str | None:
        """The vendor's own error code in the answer, if it sent one."""
        return self.answer.code if self.answer is not None else None

    @property
    def body(self) -> str:
        """The answer's body (its first 64 KiB, decoded, secrets masked); "" if none was read."""
        return self.answer.text if self.answer is not None else ""

    @property
    def headers(self) -> dict[str, str]:
        """The answer's headers, lowercased names, secrets masked (cookies left out)."""
        return dict(self.answer.headers) if self.answer is not None else {}


class PageTokenExpired(BadStatus):
    """The vendor refused a page token (or cursor, or sync token) because it expired.

    Map the vendor's error code to it in an `ErrorCodes` table; a listing catches it to restart
    its window or pass from the last committed position. Uncaught, it stops this run's listing
    like any `BadStatus` (the state stays at the last committed page).
    """


class NoAnswer(RequestFailed):
    """The request never got a usable answer: connection refused or dropped, timeout, bad body."""


class TransientAnswer(RequestFailed):
    """An answer that means "try again", whatever its status: an HTML page where the vendor means
    "busy", an error code documented as temporary.

    The HTTP client retries it like a 5xx, with its backoff and the vendor's Retry-After
    (`transient_when=`, or an `ErrorCodes` table mapping a code to this class); when the retries
    are spent it raises `NoAnswer`, which defers an item to a later run instead of quarantining it.
    """


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
