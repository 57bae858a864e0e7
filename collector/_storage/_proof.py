"""What proves a stored file intact: the independent checks it passed, and the evidence level they give.

Each stored audio file records the checks that passed when it was stored (the `checks` column)
and the level they add up to (`evidence`), which `status`, `report`, `export` and `verify` show:

    check             what passed                                              independent of
    vendor-checksum   the vendor's own checksum of the file matched             our transfer and the container
    vendor-size       the vendor's announced size matched, byte for byte        our transfer
    vendor-duration   the vendor's listed duration matched (within a tolerance)  -
    container         the container's exact self-description held: MP3 Xing/    the transfer
                      LAME frame and byte counts and music CRC, Ogg page CRCs,
                      sequence, end of stream and final granule, WAV chunk sizes
    transfer          the HTTP framing announced the body's end and it arrived  -
                      whole (Content-Length, or a chunked body's last chunk)
    decode            the whole file decoded                                    -

    level      given by                         means
    checksum   vendor-checksum                  these are the vendor's exact bytes
    complete   container or vendor-size         the file is complete: nothing was cut or added
    decodes    nothing stronger                 it decodes and its duration is plausible, but a cut on a
                                                frame boundary (with a Content-Length cut to match) would
                                                look the same: reported as "decodes only", never as proven

A listed duration is a statement of limited precision (vendors round to seconds), so it never
raises the level on its own; neither does the transfer, which a proxy that cuts the body and
its Content-Length together would pass. Files stored before levels were recorded have none
until `verify --decode` re-derives theirs.
"""

from __future__ import annotations

from collections.abc import Iterable

VENDOR_CHECKSUM = "vendor-checksum"
VENDOR_SIZE = "vendor-size"
VENDOR_DURATION = "vendor-duration"
CONTAINER = "container"
TRANSFER = "transfer"
DECODE = "decode"
CHECKS = (VENDOR_CHECKSUM, VENDOR_SIZE, VENDOR_DURATION, CONTAINER, TRANSFER, DECODE)
"""Every check name, strongest first (the order `checks` columns list them in)."""

CHECKSUM = "checksum"
COMPLETE = "complete"
DECODES = "decodes"
LEVELS = (CHECKSUM, COMPLETE, DECODES)
"""Every evidence level, strongest first."""
PROVEN = (CHECKSUM, COMPLETE)
"""The levels that prove a file intact (`report`'s "proven" column counts them)."""

DESCRIPTIONS = {
    CHECKSUM: "proven: the vendor's own checksum matches",
    COMPLETE: "proven complete: the container's exact self-description or the vendor's size",
    DECODES: "decodes only: nothing stronger than a full decode vouches for it",
    None: "not recorded: stored before evidence levels were kept (verify --decode records it)",
}
"""What each level means, in words for `status`, `report` and `verify`."""


def level_of(checks: Iterable[str]) -> str:
    """The evidence level a set of passed checks gives (see the module docstring)."""
    passed = set(checks)
    if VENDOR_CHECKSUM in passed:
        return CHECKSUM
    if CONTAINER in passed or VENDOR_SIZE in passed:
        return COMPLETE
    return DECODES


def ordered(checks: Iterable[str]) -> list[str]:
    """Check names in `CHECKS` order (unknown names, e.g. a container's detailed ones, after them)."""
    passed = set(checks)
    return [name for name in CHECKS if name in passed] + sorted(passed - set(CHECKS))
