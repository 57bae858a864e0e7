"""MyVendor's API as the source uses it: the raw HTTP calls, and what their answers must hold.

The skeleton talks to a made-up API; replace it with your vendor's, as its documentation says:

    GET /v1/recordings?since=<ISO 8601>&limit=<n>[&cursor=<c>]     newest first
        -> {"recordings": [...], "next_cursor": "<c>" or null}
    GET /v1/recordings/{id}/audio     the WAV file; 409 while the recording is still processing

Every request carries `Authorization: Bearer <api key>`; at most 20 requests a second and 4 in
flight per key are allowed (429 beyond).
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx

from collector import (
    CursorPaginator,
    HttpClient,
    Incremental,
    ListedPage,
    iso,
    paginate,
    path_segment,
)

PAGES = CursorPaginator("next_cursor", param="cursor")


def recordings(http: HttpClient, run: Incremental, page_size: int) -> AsyncIterator[ListedPage]:
    """The recordings created since `run.since`, newest first, page by page (or from `run.resume`).

    `paginate` checks that every answer holds a `recordings` list: one that does not stops the
    tenant with a clear message, and the listing's position is not advanced.
    """
    return paginate(http, "/v1/recordings", paginator=PAGES, items="recordings",
                    params={"since": iso(run.since), "limit": page_size}, resume=run.resume)


def audio(http: HttpClient, recording_id: str) -> AbstractAsyncContextManager[httpx.Response]:
    """A recording's audio, streamed (the core verifies it); 409: the vendor is still processing."""
    url = f"/v1/recordings/{path_segment(recording_id)}/audio"  # any id stays one path segment
    return http.stream("GET", url, not_ready_on=(409,))
