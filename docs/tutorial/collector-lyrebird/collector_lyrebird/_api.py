"""Lyrebird's API v3 as the source uses it: the listing, and media behind a redirect."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx
from collector import (HttpClient, Incremental, ListedPage, NextUrlPaginator, Redirects, iso,
                       paginate, path_segment)


def recordings(http: HttpClient, account: str, run: Incremental) -> AsyncIterator[ListedPage]:
    """The account's recordings created since `run.since`, newest first, or from `run.resume`."""
    return paginate(http, f"/v3/Accounts/{path_segment(account)}/Recordings", items="recordings",
                    paginator=NextUrlPaginator("meta.next_page_uri"),  # relative or absolute
                    params={"since": iso(run.since), "page_size": 1000}, resume=run.resume)


def media(http: HttpClient, uri: str) -> AbstractAsyncContextManager[httpx.Response]:
    """A recording's WAV file, by a 302 to a signed storage URL; 409 (21409) while processing."""
    return http.stream("GET", f"{uri}/Media", redirects=Redirects(), not_ready_on=(409,))
