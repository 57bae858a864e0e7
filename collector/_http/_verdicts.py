"""What an answer means: the one place the HTTP client decides, for each answer, between "take it",
"try again", "not ready yet", "gone", the vendor's own error code, a quota, and `BadStatus`.

`CallOptions` is what a call asked for (its arguments over the client's defaults); `judge` applies
them to an answer, in this order: the call's not-ready statuses and predicate (with the vendor's
estimate), its unavailable statuses, its transient predicate, a handed-out URL refused as expired,
the error table's code (for failures, and for successes when the table reads them), then the
status's own meaning (a success is taken, a long 429 pauses the route, what is retryable is
retried, the rest is `BadStatus`). Every error raised
carries the redacted `VendorAnswer`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from collector._base._errors import BadStatus, ItemNotReady, ItemUnavailable, RoutePaused, TransientAnswer
from collector._base._vendor_answer import VendorAnswer

from ._answers import describe_transport_error, estimate_reader, read_answer, textual
from ._error_codes import ErrorCodes, read_code, sentence
from ._moments import parse_retry_after, retry_at
from ._quotas import DEFAULT_ROUTE, next_midnight
from ._ratelimit import read_limit_headers
from ._redirects import EXPIRED_SIGNATURE, Redirects
from ._traffic import Retryable, Traffic, retryable_status

E = TypeVar("E", bound=BaseException)
Predicate = Callable[[VendorAnswer], bool]
"""A call's test of an answer (`transient_when=`, `not_ready_when=`)."""
Estimate = str | Callable[[VendorAnswer], Any] | None
"""Where a call reads the vendor's estimate (`estimate=`): a body field's dotted path, a callable, or None
(the Retry-After header)."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What one call asked for (its own arguments over the client's defaults)."""

    authenticate: bool = True
    rate_limited: bool | None = True  # None: only when the URL is on the API's own origin
    permit: bool = True  # take one of the tenant's in-flight permits
    connection: bool = True  # take a share of the machine's connections
    retry_on: Collection[int] = ()
    redirects: Redirects | None = None
    not_ready_on: Collection[int] = ()
    unavailable_on: Collection[int] = ()
    not_ready_when: Predicate | None = None
    transient_when: Predicate | None = None
    estimate: Estimate = None
    errors: ErrorCodes | None = None
    route: str | None = None
    renewable: bool = False  # a refused (expired) URL on another origin raises URLExpired
    plain: bool = False  # nothing of this call looks into a success: a 2xx is taken as it is

    def looks_into(self, status: int) -> bool:
        """Whether a 2xx answer needs deciding on (a status or predicate of this call names it)."""
        return (self.not_ready_when is not None or self.transient_when is not None or status in self.retry_on
                or status in self.not_ready_on or status in self.unavailable_on
                or (self.errors is not None and self.errors.in_successes))


class URLExpired(Exception):
    """A URL the vendor handed out was refused by its host (expired): `stream_from` asks for a fresh one."""

    def __init__(self, answer: VendorAnswer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


async def judge(response: httpx.Response, options: CallOptions, traffic: Traffic, *, streaming: bool,
                own_origin: Callable[[str], bool]) -> None:
    """Decide what an answer means; return only for a success the call takes as it is.

    In order: the call's not-ready statuses and predicate, its unavailable statuses, its
    transient predicate, a URL refused as expired (`stream_from`), the error table's code (for a
    success only when the table reads successes), then the status: a success returns, a long 429
    pauses the route, what is retryable is retried, anything else is `BadStatus`.
    """
    status = response.status_code
    success = 200 <= status < 300
    if success and not options.looks_into(status):
        return
    body = not (success and streaming and not textual(response.headers.get("content-type", "").lower()))
    if body and success and streaming:
        await read_body(response)  # a text answer the call looks into: small, and still streamable
    answer = await read_answer(response, body=body)
    coded = not success or (options.errors is not None and options.errors.in_successes)
    if coded:
        answer = answer.with_code(read_code(answer, options.errors))
    if status in options.not_ready_on or (options.not_ready_when is not None and options.not_ready_when(answer)):
        raise not_ready(answer, options, traffic, ItemNotReady)
    if status in options.unavailable_on:
        raise with_answer(ItemUnavailable(sentence(answer.redacted(), "gone for good")), answer)
    if options.transient_when is not None and options.transient_when(answer):
        raise Retryable(response.request, status, _transient_detail(answer), route=options.route, transient=True,
                        answer=answer.redacted())
    if options.renewable and status in EXPIRED_SIGNATURE and not own_origin(str(response.request.url)):
        raise URLExpired(answer.redacted())
    meaning = options.errors.meaning(answer.code) if options.errors is not None and coded else None
    if meaning is not None:
        raise await _mapped(meaning, answer, options, traffic, response.request)
    if success and status not in options.retry_on:
        return
    if status == 429:
        until = _quota_end(answer)
        wait = (until - datetime.now(UTC)).total_seconds() if until is not None else 0.0
        if until is not None and wait > traffic.retry.quota_after:
            raise await _pause(RoutePaused, answer, options, traffic, until)
        traffic.stats.throttled += 1
        traffic.concurrency.throttled()
    shown = answer.redacted()
    if retryable_status(status) or status in options.retry_on:
        retry_after = parse_retry_after(answer.headers.get("retry-after"))
        if retry_after is None and status == 429:
            retry_after = _reset_wait(response.headers)
        raise Retryable(response.request, status, shown.detail, retry_after, options.route, answer=shown)
    raise BadStatus(status, answer.method, answer.path, shown.detail, answer=shown)


def not_ready(answer: VendorAnswer, options: CallOptions, traffic: Traffic, cls: type[ItemNotReady]) -> ItemNotReady:
    """The not-ready error for an answer, with the vendor's estimate (never a retry, never a fault)."""
    traffic.stats.not_ready += 1
    estimate = estimate_reader(options.estimate)(answer)
    shown = answer.redacted()
    what = "not ready yet" + (f", ready in about {estimate:.0f} s" if estimate else "")
    traffic.log.debug("%s %s answered HTTP %d: not ready yet", answer.method, answer.path, answer.status)
    return with_answer(cls(sentence(shown, what), estimate), shown)


async def _mapped(meaning: type[BaseException], answer: VendorAnswer, options: CallOptions, traffic: Traffic,
                  request: httpx.Request) -> BaseException:
    """The error an `ErrorCodes` table maps the answer's code to (see `collector._http._error_codes`)."""
    shown = answer.redacted()
    if issubclass(meaning, TransientAnswer):
        return Retryable(request, answer.status, _transient_detail(shown),
                         parse_retry_after(answer.headers.get("retry-after")), options.route, transient=True,
                         answer=shown)
    if issubclass(meaning, BadStatus):
        return meaning(answer.status, answer.method, answer.path, shown.detail, answer=shown)
    if issubclass(meaning, ItemNotReady):
        return not_ready(answer, options, traffic, meaning)
    if issubclass(meaning, RoutePaused):
        return await _pause(meaning, answer, options, traffic, _quota_end(answer) or next_midnight())
    error = meaning(sentence(shown))
    return with_answer(error, shown)


async def _pause(cls: type[RoutePaused], answer: VendorAnswer, options: CallOptions, traffic: Traffic,
                 until: datetime) -> RoutePaused:
    """Pause the call's route until the vendor's quota resets (recorded for later runs)."""
    shown = answer.redacted()
    reason = f"HTTP {answer.status}" + (f" (vendor code {shown.code})" if shown.code else "") + (
        f": {shown.detail}" if shown.detail else ".")
    paused = await traffic.pauses.pause(options.route or DEFAULT_ROUTE, until, reason)
    traffic.stats.paused += 1
    traffic.log.warning("%s", paused.reason, extra={"event": "route_paused", "route": paused.route})
    error = paused if cls is RoutePaused else cls(paused.reason, paused.route, paused.until)
    return with_answer(error, shown)


def with_answer(error: E, answer: VendorAnswer) -> E:
    """`error` with the (redacted) answer it was raised for."""
    try:
        error.answer = answer  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a plugin's class with __slots__
        pass
    return error


def _whole_second(moment: datetime) -> datetime:
    """`moment` rounded up to a whole second (vendors' resets are whole seconds: an HTTP date, a delay)."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def _transient_detail(answer: VendorAnswer) -> str:
    kind = f" ({answer.content_type})" if answer.content_type else ""
    detail = answer.redacted().detail
    return (f"{answer.method} {answer.path} answered HTTP {answer.status}{kind}, which means \"try again\""
            + (f": {detail}" if detail else "."))


def _reset_wait(headers: httpx.Headers) -> float | None:
    """Seconds until the vendor's rate-limit window resets, when its headers say nothing remains."""
    found = read_limit_headers(headers.raw)
    return found[1] if found is not None and found[0] == 0 else None


def _quota_end(answer: VendorAnswer) -> datetime | None:
    """When a refusal says the vendor's limit resets: its Retry-After (an HTTP date as it is), else
    its rate-limit reset when nothing remains; None when it says neither."""
    until = retry_at(answer.headers.get("retry-after"))
    if until is None:
        found = read_limit_headers((name.encode("latin-1"), value.encode("latin-1"))
                                   for name, value in answer.headers.items())
        if found is not None and found[0] == 0 and found[1] is not None:
            until = datetime.now(UTC) + timedelta(seconds=found[1])
    return _whole_second(until) if until is not None else None


async def read_body(response: httpx.Response) -> bytes:
    """Read a whole body; a connection that breaks mid-body is retried like one that never answered."""
    try:
        return await response.aread()
    except httpx.TransportError as exc:
        raise Retryable(response.request, None, describe_transport_error(response.request, exc)) from None
