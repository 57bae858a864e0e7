"""Items whose children the vendor attaches later: `Revisit` (said by `Source.parse`) and `Children`
(what `Source.children` found on a visit).

A vendor may list a parent (a conversation, a call) before its children (the recordings) exist.
`parse` then returns, beside any recordings it can already make, a `Revisit` for the parent: the
core records it in the catalog's `revisits` table in the listing page's own transaction (the
page commits at once, without waiting for the children) and later visits it through
`Source.children` until the plugin says it is complete or its deadline has passed (see
`collector._runner._job._revisits`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Revisit:
    """A listed parent whose children are still to come: visit it again until it settles.

    `item_id` names the parent within its tenant (one pending revisit per id: saying it again
    updates its payload and deadline). `payload` is what `Source.children` gets back on each
    visit (plain JSON: the vendor's item, or the few fields the visit needs); it is copied as JSON
    when the `Revisit` is made. `deadline` is the vendor-specific moment by which every child is
    attached (e.g. the call's end plus the vendor's documented delay): the parent is visited once
    more at or after it, and if it is still not complete then, it expires (reported in the run
    summary and `collector status`, not silently). `not_before`, if given, is when the first visit
    is worth making (the call's end, say); by default the parent is visited as soon as its page is
    committed, then every `revisit_interval` until it settles.
    """

    item_id: str
    payload: Mapping[str, Any]
    deadline: datetime
    not_before: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.item_id, str) or not self.item_id or len(self.item_id) > 1000:
            raise ValueError("a Revisit's item_id must be a non-empty string of at most 1,000 characters")
        if not isinstance(self.payload, Mapping):
            raise ValueError("a Revisit's payload must be a mapping (plain JSON)")
        try:
            payload = json.loads(json.dumps(self.payload, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a Revisit's payload must be plain JSON ({exc})") from None
        if not isinstance(self.deadline, datetime) or self.deadline.utcoffset() is None:
            raise ValueError("a Revisit's deadline must be a datetime with a time zone")
        if self.not_before is not None and (not isinstance(self.not_before, datetime)
                                            or self.not_before.utcoffset() is None):
            raise ValueError("a Revisit's not_before must be a datetime with a time zone (or None)")
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "deadline", self.deadline.astimezone(UTC))
        if self.not_before is not None:
            object.__setattr__(self, "not_before", self.not_before.astimezone(UTC))


@dataclass(frozen=True)
class Children:
    """What one visit of a parent found (`Source.children`'s answer).

    `items` are raw vendor items, mapped by `Source.parse` exactly like a listing page's: each
    may give recordings (committed with their work rows, in one transaction with the visit), a
    `Revisit` (the same parent's updates its payload; another id is a new parent), or be
    quarantined if it does not map. `complete` says the parent has settled: no more children will
    come, so it is not visited again. Items already collected may be returned again: recordings
    are keyed by their vendor id and never doubled.
    """

    items: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    complete: bool = False
