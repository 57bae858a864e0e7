"""The paginators: how a listing moves from one page to the next (see `collector._sources._paging`).

- `CursorPaginator`   a cursor token in the body (or from the last item: keyset paging)
- `NextUrlPaginator`  a next-page URL, relative or absolute, in the body or in an RFC 8288 `Link` header
- `OffsetPaginator`   offset/limit, stopping at the vendor's `total` when it reports one
- `PageNumberPaginator`  page numbers, stopping at `total` items or `total_pages`

The cursor, offset and page-number paginators send their parameters in the query string, or, with
`in_body=True`, as fields of the request's JSON body (a POST search API's `{"page": 2}`; a dotted
name such as `"paging.page"` sets a nested field). Either way the position is part of the
`PageRequest`, committed with each page, so a killed run resumes at the same page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._paging import PageRequest, Paginator, select

if TYPE_CHECKING:
    from collector._http._client import JsonAnswer


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


Cursor = str | Callable[[Any, list[Any]], Any]


class CursorPaginator(Paginator):
    """A cursor token sent back as `param`: read at a dotted path of the body, or computed by a
    function of (body, items) (keyset paging: `lambda body, items: items[-1]["id"] if items else None`).

    The pass ends on an empty page, a missing cursor or an unchanged one; with `until_empty=False`
    only a missing cursor ends it, for vendors whose pages may be short or empty while more follow
    (an empty page may even repeat the cursor it was asked with: "ask again"). With `feed=True` (a change feed whose
    cursor stays valid, e.g. "keep requesting until you get an empty result set; use its cursor
    next time"), the last cursor is kept for the next run. `first_page_only` names parameters
    sent with the first request only (a start date the cursor replaces). `in_body=True` sends the
    cursor (and drops `first_page_only`) in the JSON body.
    """

    def __init__(self, cursor: Cursor = "next_cursor", *, param: str = "cursor", feed: bool = False,
                 first_page_only: tuple[str, ...] = (), in_body: bool = False, until_empty: bool = True) -> None:
        self._cursor, self._param, self._feed, self._until_empty = cursor, param, feed, until_empty
        self._dropped = dict.fromkeys(first_page_only)
        self.in_body = in_body

    def _with_cursor(self, request: PageRequest, cursor: Any) -> PageRequest:
        return self.changed(request, {**self._dropped, self._param: cursor})

    def _next_cursor(self, body: Any, items: list[Any]) -> Any:
        value = select(body, self._cursor) if isinstance(self._cursor, str) else self._cursor(body, items)
        return value if value not in (None, "") else None

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The same request with the new cursor, unless the page was empty (see `until_empty`) or
        had no new cursor."""
        cursor = self._next_cursor(answer.body, items)
        if not self._until_empty:  # the vendor's word: only a missing cursor ends the pass
            return None if cursor is None else self._with_cursor(request, cursor)
        if not items or cursor is None or cursor == self.value(request, self._param):
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
    header (`path=None`). Relative URLs are resolved against the page that held them. A request
    with a JSON body sends the same body to the next URL."""

    def __init__(self, path: str | None = "next") -> None:
        self._path = path

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next URL, if the page gave one (and it is not the page's own)."""
        url = (answer.links.get("next") or {}).get("url") if self._path is None else select(answer.body, self._path)
        if not isinstance(url, str) or not url:
            return None
        absolute = answer.resolve(url)
        return None if absolute == answer.url else PageRequest(absolute, {}, request.body)


class OffsetPaginator(Paginator):
    """`offset_param`/`limit_param` pages of `limit` items; `total` is the dotted path of the
    vendor's item count, if it reports one. The pass ends on an empty or short page, or at `total`.
    `in_body=True` sends offset and limit in the JSON body."""

    def __init__(self, limit: int = 100, *, offset_param: str = "offset", limit_param: str = "limit",
                 total: str | None = "total", start: int = 0, in_body: bool = False) -> None:
        self.limit, self._offset, self._limit, self._total, self._start = limit, offset_param, limit_param, total, start
        self.in_body = in_body

    def start(self, request: PageRequest) -> PageRequest:
        """Offset `start`, `limit` items."""
        return self.changed(request, {self._offset: self._start, self._limit: self.limit})

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next offset, while the listing has more."""
        offset = int(self.value(request, self._offset, self._start)) + len(items)
        total = self.total(answer.body)
        if not items or (total is not None and offset >= total) or (total is None and len(items) < self.limit):
            return None
        return self.changed(request, {self._offset: offset})

    def total(self, body: Any) -> int | None:
        """The vendor's item count."""
        return _count(select(body, self._total)) if self._total else None


class PageNumberPaginator(Paginator):
    """`page_param` numbered from `first`, `size` items a page (sent as `size_param` if given);
    stops on an empty page, at `total` items or at `total_pages`. `in_body=True` sends the page
    number and size in the JSON body (`{"page": 2, "pageSize": 100}`)."""

    def __init__(self, size: int = 100, *, page_param: str = "page", size_param: str | None = "per_page",
                 first: int = 1, total: str | None = "total", total_pages: str | None = None,
                 in_body: bool = False) -> None:
        self.size, self._page, self._size, self._first = size, page_param, size_param, first
        self._total, self._total_pages = total, total_pages
        self.in_body = in_body

    def start(self, request: PageRequest) -> PageRequest:
        """The first page."""
        changes: dict[str, Any] = {self._page: self._first}
        if self._size:
            changes[self._size] = self.size
        return self.changed(request, changes)

    def following(self, request: PageRequest, answer: JsonAnswer, items: list[Any]) -> PageRequest | None:
        """The next page number, while the listing has more."""
        page = int(self.value(request, self._page, self._first))
        seen = (page - self._first + 1) * self.size
        total = self.total(answer.body)
        pages = _count(select(answer.body, self._total_pages)) if self._total_pages else None
        if (not items or (total is not None and seen >= total)
                or (pages is not None and page - self._first + 1 >= pages)):
            return None
        return self.changed(request, {self._page: page + 1})

    def total(self, body: Any) -> int | None:
        """The vendor's item count."""
        return _count(select(body, self._total)) if self._total else None
