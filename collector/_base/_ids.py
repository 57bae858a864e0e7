"""Vendor ids in URLs and keys: one path segment, and ids made of two (or more) parts.

Vendors send hostile ids (`../x`, `a/b`, `%2F`, NUL, emoji): `path_segment` makes any of them one
percent-encoded URL path segment that cannot change the route. Some vendors identify a recording
by two ids (a call and one of its recording legs): `compound_id` joins them into the one
`vendor_id` the store keys on, reversibly (`split_compound_id`), whatever characters they hold.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

SEPARATOR = "/"


def path_segment(value: str) -> str:
    """`value` as one percent-encoded URL path segment ("/" and dot segments cannot escape it)."""
    segment = quote(value, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def compound_id(*parts: str | int) -> str:
    """One vendor id from several, e.g. `compound_id(call_id, leg)` -> "CA12/2".

    Each part is kept readable, with only "%" and "/" percent-encoded, and joined with "/": two
    different tuples of parts never give the same id, and `split_compound_id` gives them back.
    """
    if len(parts) < 2:
        raise ValueError("a compound id has at least two parts")
    texts = [str(part) for part in parts]
    if any(text == "" for text in texts):
        raise ValueError("a part of a compound id is empty")
    return SEPARATOR.join(text.replace("%", "%25").replace("/", "%2F") for text in texts)


def split_compound_id(vendor_id: str) -> tuple[str, ...]:
    """The parts `compound_id` joined."""
    return tuple(unquote(part) for part in vendor_id.split(SEPARATOR))
