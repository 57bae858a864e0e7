"""Listing positions that expire: page tokens, cursors and sync tokens the vendor stops honouring.

Many vendors' page tokens live for minutes, and their sync tokens for days: a run killed between
two pages, or a tenant not collected for a week, comes back with a position the vendor refuses.
What a refusal looks like is the vendor's own (a 400 with a code, a 410, a sentence), so a plugin
says how to recognise it: `expired=` (on `paginate`, `ChangeFeed`) takes a predicate over the
error the request raised; `expired_on(410)` or `expired_on(400, message="token expired")` builds
the usual one. Raising `PositionExpired` (from an error mapping of the plugin's) always counts.

What then happens is the core's: `paginate` starts the pass again at its first request (pages
already committed stay committed; the catalog stores a recording listed twice once), and
`ChangeFeed` lists everything again when the vendor refuses its sync token.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from collector._base._errors import BadStatus, TenantError

Expired = Callable[[Exception], bool]
"""A predicate: does this error (a `BadStatus`, usually) mean the vendor refused a position as expired?"""


class PositionExpired(TenantError):
    """The vendor refused a listing position (a page token, a cursor, a sync token) as expired.

    `paginate` raises it when the first request of a pass is refused so (there is nothing to start
    again from: a sync token, say, which `ChangeFeed` answers by listing everything again); a
    plugin may raise it itself, or map the vendor's error code onto it. Unhandled, it stops the
    tenant's listing for this run, like any `TenantError`, with its sentence.
    """


def expired_on(*statuses: int, message: str | None = None) -> Expired:
    """A predicate for `expired=`: the request failed with one of `statuses` (and, when `message` is
    given, the vendor's answer says it, whatever its case: in its error message, its error code or
    anywhere in its body)."""
    wanted: Collection[int] = frozenset(statuses)
    words = message.lower() if message else None

    def expired(error: Exception) -> bool:
        if not isinstance(error, BadStatus) or error.status not in wanted:
            return False
        said = (error.detail, error.code or "", error.body)
        return words is None or any(words in text.lower() for text in said)

    expired.__doc__ = f"HTTP {', '.join(map(str, statuses))}" + (f" saying {message!r}" if message else "")
    return expired


def is_expired(error: Exception, expired: Expired | None) -> bool:
    """True when `error` means an expired position: a `PositionExpired`, or what `expired` says."""
    if isinstance(error, PositionExpired):
        return True
    if expired is None:
        return False
    try:
        return bool(expired(error))
    except Exception:  # noqa: BLE001 - a predicate that breaks on an unexpected error says "no"
        return False
