"""Listing strategies: paginators that walk a vendor's list, with a position plain enough to commit.

    async for listed in paginate(self.http, "/v2/calls", paginator=NextUrlPaginator("links.next"),
                                 items="data", resume=(state or {}).get("next")):
        yield Page(listed.items, listed.state())

Like dlt's `rest_client` paginators (JSONLink, HeaderLink, Offset, PageNumber, JSONResponseCursor)
and Airbyte's declarative paginator, with one difference that matters here: the position is not
hidden inside a stateful object but is the next request itself (`PageRequest`: URL and query),
plain JSON, committed with each page's items. A run killed at any page resumes at the page after
the last one committed (`resume=`), and a cursor feed that ends keeps its cursor for the next run.

- `CursorPaginator`   a cursor token in the body (or from the last item: keyset paging)
- `NextUrlPaginator`  a next-page URL, relative or absolute, in the body or in an RFC 8288 `Link` header
- `OffsetPaginator`   offset/limit, stopping at the vendor's `total` when it reports one
- `PageNumberPaginator`  page numbers, stopping at `total` items or `total_pages`

A body whose items are not where the plugin said stops the listing with a `TenantError` (the
position is not advanced). `Tally` counts what a listing (or a window of it) held against the
vendor's own total, for reconciliation.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import TenantError

if TYPE_CHECKING:
    from ._http import HttpClient, JsonAnswer


@dataclass(frozen=True)
class PageRequest:
    """One listing request: a URL (relative to the client's base URL, or absolute) and its query."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def with_params(self, **changes: Any) -> PageRequest:
        """The same request with some query parameters changed (None removes one)."""
        params = {**self.params, **changes}
        return PageRequest(self.url, {k: v for k, v in params.items() if v is not None})

    def to_state(self) -> dict[str, Any]:
        """The JSON form committed in a sync state."""
        return {"url": self.url, "params": dict(self.params)}

    @classmethod
    def from_state(cls, data: Any) -> PageRequest | None:
        """The request a committed state holds, or None when it holds none (or something else)."""
        if isinstance(data, PageRequest):
            return data
        if not isinstance(data, Mapping) or not isinstance(data.get("url"), str):
            return None
        params = data.get("params")
        return cls(data["url"], dict(params) if isinstance(params, Mapping) else {})


def select(body: Any, path: str) -> Any:
    """The value at a dotted `path` of a JSON body ("" is the body itself), or None."""
    for part in path.split(".") if path else []:
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


@dataclass
class ListedPage:
    """One page of a listing: its items, the request that fetched it, and where the listing goes on.

    `next` continues this pass (None: the pass is over). `resume` is where the next *run* should
    start: `next` while the pass goes on; at the end, a cursor feed's last cursor, else None.
    `total` is the vendor's own count of the whole listing when it reports one.
    """

    items: list[Any]
    request: PageRequest
    next: PageRequest | None
    resume: PageRequest | None
    total: int | None
    body: Any

    def state(self) -> dict[str, Any]:
        """The sync state to commit with this page: `{"next": <resume request or None>}`."""
        return {"next": self.resume.to_state() if self.resume else None}


class Paginator(abc.ABC):
    """How one listing moves from page to page."""

    def start(self, request: PageRequest) -> PageRequest:
        """The first request of a pass (add first-page parameters here)."""
        return request

    @abc.abstractmethod
    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The request for the page after this one, or None when this was the last."""

    def resume_after_end(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """Where the next run starts once a pass has ended (a cursor feed's last cursor); None: anew."""
        return None

    def total(self, body: Any) -> int | None:
        """The vendor's count of the whole listing, if this body reports one."""
        return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


Cursor = str | Callable[[Any, list[Any]], Any]


class CursorPaginator(Paginator):
    """A cursor token sent back as `param`: read at a dotted path of the body, or computed by a
    function of (body, items) (keyset paging: `lambda body, items: items[-1]["id"] if items else None`).

    The pass ends on an empty page or a missing cursor. With `feed=True` (a change feed whose
    cursor stays valid, e.g. "keep requesting until you get an empty result set; use its cursor
    next time"), the last cursor is kept for the next run. `first_page_only` names parameters
    sent with the first request only (a start date the cursor replaces).
    """

    def __init__(self, cursor: Cursor = "next_cursor", *, param: str = "cursor", feed: bool = False,
                 first_page_only: tuple[str, ...] = ()) -> None:
        self._cursor, self._param, self._feed = cursor, param, feed
        self._dropped = dict.fromkeys(first_page_only)

    def _with_cursor(self, request: PageRequest, cursor: Any) -> PageRequest:
        return request.with_params(**self._dropped, **{self._param: cursor})

    def _next_cursor(self, body: Any, items: list[Any]) -> Any:
        value = select(body, self._cursor) if isinstance(self._cursor, str) else self._cursor(body, items)
        return value if value not in (None, "") else None

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The same request with the new cursor, unless the page was empty or had no cursor."""
        cursor = self._next_cursor(answer.body, items)
        if not items or cursor is None or cursor == request.params.get(self._param):
            return None
        return self._with_cursor(request, cursor)

    def resume_after_end(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """For a feed, the request with the last cursor seen."""
        cursor = self._next_cursor(answer.body, items)
        if not self._feed:
            return None
        return self._with_cursor(request, cursor) if cursor is not None else request


class NextUrlPaginator(Paginator):
    """The next page's URL, at a dotted `path` of the body or in the `Link: <...>; rel="next"`
    header (`path=None`). Relative URLs are resolved against the page that held them."""

    def __init__(self, path: str | None = "next") -> None:
        self._path = path

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next URL, if the page gave one (and it is not the page's own)."""
        if self._path is None:
            url = (answer.links.get("next") or {}).get("url")
        else:
            url = select(answer.body, self._path)
        if not isinstance(url, str) or not url:
            return None
        absolute = answer.resolve(url)
        return None if absolute == answer.url else PageRequest(absolute, {})


class OffsetPaginator(Paginator):
    """`offset_param`/`limit_param` pages of `limit` items; `total` is the dotted path of the
    vendor's item count, if it reports one. The pass ends on an empty or short page, or at `total`."""

    def __init__(self, limit: int = 100, *, offset_param: str = "offset", limit_param: str = "limit",
                 total: str | None = "total", start: int = 0) -> None:
        self.limit, self._offset, self._limit, self._total, self._start = limit, offset_param, limit_param, total, start

    def start(self, request: PageRequest) -> PageRequest:
        """Offset `start`, `limit` items."""
        return request.with_params(**{self._offset: self._start, self._limit: self.limit})

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next offset, while the listing has more."""
        offset = int(request.params.get(self._offset, self._start)) + len(items)
        total = self.total(answer.body)
        if not items or (total is not None and offset >= total) or (total is None and len(items) < self.limit):
            return None
        return request.with_params(**{self._offset: offset})

    def total(self, body: Any) -> int | None:
        """The vendor's item count."""
        return _count(select(body, self._total)) if self._total else None


class PageNumberPaginator(Paginator):
    """`page_param` numbered from `first`, `size` items a page (sent as `size_param` if given);
    stops on an empty page, at `total` items or at `total_pages`."""

    def __init__(self, size: int = 100, *, page_param: str = "page", size_param: str | None = "per_page",
                 first: int = 1, total: str | None = "total", total_pages: str | None = None) -> None:
        self.size, self._page, self._size, self._first = size, page_param, size_param, first
        self._total, self._total_pages = total, total_pages

    def start(self, request: PageRequest) -> PageRequest:
        """The first page."""
        changes: dict[str, Any] = {self._page: self._first}
        if self._size:
            changes[self._size] = self.size
        return request.with_params(**changes)

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next page number, while the listing has more."""
        page = int(request.params.get(self._page, self._first))
        seen = (page - self._first + 1) * self.size
        total = self.total(answer.body)
        pages = _count(select(answer.body, self._total_pages)) if self._total_pages else None
        if (not items or (total is not None and seen >= total)
                or (pages is not None and page - self._first + 1 >= pages)):
            return None
        return request.with_params(**{self._page: page + 1})

    def total(self, body: Any) -> int | None:
        """The vendor's item count."""
        return _count(select(body, self._total)) if self._total else None


async def paginate(http: HttpClient, url: str, *, paginator: Paginator, items: str = "",
                   params: Mapping[str, Any] | None = None, method: str = "GET",
                   json: Any = None, resume: Any = None, **kwargs: Any) -> AsyncIterator[ListedPage]:
    """Walk a listing page by page, from its start or from a committed position.

    `resume` is what a committed `ListedPage.state()["next"]` holds (or a `PageRequest`); None
    starts with `url` and `params`.
    `items` is the dotted path of the list in each body ("" when the body is the list). The
    other keyword arguments go to `HttpClient.json_answer` with every request.
    """
    request = PageRequest.from_state(resume) or paginator.start(PageRequest(url, dict(params or {})))
    while True:
        answer = await http.json_answer(method, request.url, params=dict(request.params) or None, json=json,
                                        **kwargs)
        found = select(answer.body, items)
        if not isinstance(found, list):
            where = f"a `{items}` list" if items else "a JSON list"
            raise TenantError(f"The vendor answered {method} {answer.path} without {where}; "
                              "the listing's position was not advanced.")
        following = paginator.following(request, answer, found)
        resume_at = following or paginator.resume_after_end(request, answer, found)
        yield ListedPage(found, request, following, resume_at, paginator.total(answer.body), answer.body)
        if following is None:
            return
        request = following


@dataclass
class Tally:
    """What a listing (or one window of it) held, against the vendor's own count.

    Reconciled when every page reported the same total and exactly that many distinct items were
    listed: nothing was missed or shifted while paging.
    """

    keys: set[str] = field(default_factory=set)
    totals: list[int] = field(default_factory=list)
    pages: int = 0

    def add(self, total: int | None, keys: Iterable[str]) -> None:
        """Count one page: the total it reported (None if none) and its items' keys."""
        self.pages += 1
        self.keys.update(keys)
        if total is not None:
            self.totals.append(total)

    @property
    def vendor_count(self) -> int | None:
        """The vendor's count, when every page agreed on one."""
        return self.totals[0] if self.totals and len(set(self.totals)) == 1 else None

    @property
    def reconciled(self) -> bool:
        """True when the vendor's count is known and equals the distinct items listed."""
        return self.vendor_count is not None and self.vendor_count == len(self.keys)

    def describe(self) -> str:
        """What was listed and what the vendor said, as a phrase."""
        totals = sorted(set(self.totals))
        said = ("no total" if not totals else f"{totals[0]}" if len(totals) == 1
                else f"{', '.join(map(str, totals))} (it changed while paging)")
        return f"listed {len(self.keys)} distinct items in {self.pages} pages, the vendor's total said {said}"
