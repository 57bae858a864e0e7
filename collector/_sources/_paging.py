"""Listing strategies: paginators that walk a vendor's list, with a position plain enough to commit.

    async for listed in paginate(self.http, "/v2/calls", paginator=NextUrlPaginator("links.next"),
                                 items="data", resume=(state or {}).get("next")):
        yield Page(listed.items, listed.state())

Like dlt's `rest_client` paginators (JSONLink, HeaderLink, Offset, PageNumber, JSONResponseCursor)
and Airbyte's declarative paginator, with one difference that matters here: the position is not
hidden inside a stateful object but is the next request itself (`PageRequest`: URL, query and
JSON body), plain JSON, committed with each page's items. A run killed at any page resumes at the
page after the last one committed (`resume=`), and a cursor feed that ends keeps its cursor for
the next run. The paginators themselves are in `collector._sources._paginators`.

A body whose items are not where the plugin said stops the listing with a `TenantError` (the
position is not advanced). A position the vendor refuses as expired (`expired=`, see
`collector._sources._expiry`) starts the pass again at its first request: pages already committed stay,
and what is listed twice is stored once. `Tally` counts what a listing (or a window of it) held
against the vendor's own total, for reconciliation.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector._base._errors import CollectorError, TenantError

from ._expiry import Expired, PositionExpired, is_expired

if TYPE_CHECKING:
    from collector._http._client import HttpClient, JsonAnswer


@dataclass(frozen=True)
class PageRequest:
    """One listing request: a URL (relative to the client's base URL, or absolute), its query and
    its JSON body (None: no body; a POST search API pages inside it)."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None

    def with_params(self, **changes: Any) -> PageRequest:
        """The same request with some query parameters changed (None removes one)."""
        params = {**self.params, **changes}
        return PageRequest(self.url, {k: v for k, v in params.items() if v is not None}, self.body)

    def with_body(self, **changes: Any) -> PageRequest:
        """The same request with some fields of its JSON object body changed (None removes one); a
        dotted name (`**{"paging.page": 2}`) changes a nested field."""
        body: Any = self.body if isinstance(self.body, Mapping) else {}
        for name, value in changes.items():
            body = _put(body, name.split("."), value)
        return PageRequest(self.url, self.params, body)

    def to_state(self) -> dict[str, Any]:
        """The JSON form committed in a sync state."""
        state: dict[str, Any] = {"url": self.url, "params": dict(self.params)}
        if self.body is not None:
            state["body"] = self.body
        return state

    @classmethod
    def from_state(cls, data: Any) -> PageRequest | None:
        """The request a committed state holds, or None when it holds none (or something else)."""
        if isinstance(data, PageRequest):
            return data
        if not isinstance(data, Mapping) or not isinstance(data.get("url"), str):
            return None
        params = data.get("params")
        return cls(data["url"], dict(params) if isinstance(params, Mapping) else {}, data.get("body"))


def _put(body: Mapping[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of `body` with the field at `path` set to `value` (removed when None)."""
    copy = dict(body)
    head, rest = path[0], path[1:]
    if rest:
        inner = copy.get(head)
        copy[head] = _put(inner if isinstance(inner, Mapping) else {}, rest, value)
    elif value is None:
        copy.pop(head, None)
    else:
        copy[head] = value
    return copy


def select(body: Any, path: str) -> Any:
    """The value at a dotted `path` of a JSON body ("" is the body itself), or None."""
    for part in path.split(".") if path else []:
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


ItemField = str | Callable[[Mapping[str, Any]], Any]
"""Where a value of an item is (its time, say): a dotted path ("meta.created"), or a function of the item."""


def pick(item: Any, where: ItemField) -> Any:
    """The value `where` names in `item`; None when it is missing, or when the function raises (a
    malformed item: whoever asked treats the value as unreadable)."""
    if isinstance(where, str):
        return select(item, where)
    try:
        return where(item)
    except Exception:  # noqa: BLE001 - a malformed item; the caller counts its value as unreadable
        return None


@dataclass
class ListedPage:
    """One page of a listing: its items, the request that fetched it, and where the listing goes on.

    `next` continues this pass (None: the pass is over). `resume` is where the next *run* should
    start: `next` while the pass goes on; at the end, a cursor feed's last cursor, else None.
    `total` is the vendor's own count of the whole listing when it reports one. `restarted` is
    True on the first page after the vendor refused a position as expired and the pass started
    again at its first request (a tally of the pass should start again too).
    """

    items: list[Any]
    request: PageRequest
    next: PageRequest | None
    resume: PageRequest | None
    total: int | None
    body: Any
    restarted: bool = False

    def state(self) -> dict[str, Any]:
        """The sync state to commit with this page: `{"next": <resume request or None>}`."""
        return {"next": self.resume.to_state() if self.resume else None}


class Paginator(abc.ABC):
    """How one listing moves from page to page.

    `in_body` says where the paginator's own parameters go: the query string (False), or fields of
    the request's JSON body (True); `value` and `changed` read and write them there.
    """

    in_body: bool = False

    def value(self, request: PageRequest, name: str, default: Any = None) -> Any:
        """A paging parameter of `request` (from its query, or its body when `in_body`)."""
        found = select(request.body, name) if self.in_body else request.params.get(name)
        return default if found is None else found

    def changed(self, request: PageRequest, changes: Mapping[str, Any]) -> PageRequest:
        """`request` with paging parameters changed (None removes one), where `in_body` says."""
        return request.with_body(**changes) if self.in_body else request.with_params(**changes)

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


async def paginate(http: HttpClient, url: str, *, paginator: Paginator, items: str = "",
                   params: Mapping[str, Any] | None = None, method: str = "GET",
                   json: Any = None, resume: Any = None, expired: Expired | None = None,
                   max_restarts: int = 3, **kwargs: Any) -> AsyncIterator[ListedPage]:
    """Walk a listing page by page, from its start or from a committed position.

    `resume` is what a committed `ListedPage.state()["next"]` holds (or a `PageRequest`); None
    starts with `url`, `params` and the JSON body `json` (POST search APIs: with a paginator's
    `in_body=True` its position lives in that body, and is committed and resumed with it).
    `items` is the dotted path of the list in each body ("" when the body is the list).

    `expired` recognises the vendor's refusal of an expired position (see `expired_on`; a
    `PositionExpired` always counts): the pass starts again at its first request (at most
    `max_restarts` times per call; then a `TenantError`, and the next run goes on from the last
    committed page), and the next page says `restarted`. When the first request
    itself is refused so, `PositionExpired` is raised: there is nothing to start again from.
    The other keyword arguments go to `HttpClient.json_answer` with every request.
    """
    first = paginator.start(PageRequest(url, dict(params or {}), json))
    request = PageRequest.from_state(resume) or first
    restarts, restarted = 0, False
    while True:
        body = request.body if request.body is not None else json  # a state committed before bodies were kept
        try:
            answer = await http.json_answer(method, request.url, params=dict(request.params) or None,
                                            json=body, **kwargs)
        except CollectorError as exc:
            if not is_expired(exc, expired):
                raise
            if request == first:
                raise PositionExpired(f"The vendor refused the listing's position as expired: {exc.reason}") from None
            restarts += 1
            if restarts > max_restarts:
                raise TenantError(f"The vendor refused the listing's position as expired again after {max_restarts} "
                                  f"restarts in this run ({exc.reason}); its pages expire before they can be "
                                  "read. The next run goes on from the last committed page.") from None
            request, restarted = first, True
            continue
        found = select(answer.body, items)
        if not isinstance(found, list):
            where = f"a `{items}` list" if items else "a JSON list"
            raise TenantError(f"The vendor answered {method} {answer.path} without {where}; "
                              "the listing's position was not advanced.")
        following = paginator.following(request, answer, found)
        resume_at = following or paginator.resume_after_end(request, answer, found)
        yield ListedPage(found, request, following, resume_at, paginator.total(answer.body), answer.body,
                         restarted)
        if following is None:
            return
        request, restarted = following, False


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
