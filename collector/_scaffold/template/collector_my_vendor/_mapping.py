"""MyVendor's recording JSON to `collector.Recording`: pure functions, no I/O."""

from collections.abc import Mapping
from typing import Any

from collector import Direction, MediaAvailability, Party, Recording

MEDIA = {"ready": MediaAvailability.AVAILABLE, "processing": MediaAvailability.PROCESSING,
         "purged": MediaAvailability.NONE}
DIRECTION = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}


def to_recording(item: Mapping[str, Any], source: str, tenant: str) -> Recording:
    """One listed recording, normalized; raise (anything) to quarantine the item with the reason."""
    return Recording(
        source=source, tenant=tenant, vendor_id=item["id"], start=item["started_at"],
        duration=item["duration_seconds"], media=MEDIA[item["status"]],
        direction=DIRECTION.get(item.get("direction", ""), Direction.UNKNOWN),
        parties=[Party(number=item.get("caller"), role="caller"),
                 Party(number=item.get("callee"), role="callee")],
        raw=dict(item))
