"""Lyrebird's recording JSON to `collector.Recording`: a pure function, no I/O."""

from collections.abc import Mapping
from typing import Any

from collector import Direction, MediaAvailability, Party, Recording, compound_id

MEDIA = {"completed": MediaAvailability.AVAILABLE, "processing": MediaAvailability.PROCESSING,
         "deleted": MediaAvailability.NONE, "restricted": MediaAvailability.DENIED}
DIRECTION = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}


def to_recording(item: Mapping[str, Any], source: str, tenant: str) -> Recording:
    """One listed recording, normalized; raises (quarantining it) if it is not as documented."""
    return Recording(
        source=source, tenant=tenant, vendor_id=compound_id(item["call_sid"], item["leg_sid"]),
        call_id=item["call_sid"], start=item["start_time"], duration=item["duration"],  # "67"
        media=MEDIA[item["status"]], extras={"uri": item["uri"]}, raw=dict(item),
        direction=DIRECTION.get(item.get("direction", ""), Direction.UNKNOWN),
        parties=[Party(number=item.get("from"), role="caller"),
                 Party(number=item.get("to"), role="callee")])
