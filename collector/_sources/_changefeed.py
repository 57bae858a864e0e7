"""The change-feed listing strategy: a snapshot once, then the vendor's sync token every run.

A watermark finds only what the vendor lists under a recent time; a vendor that attaches a
recording to a call hours later and lists it under the call's start, back-dates imports or has
clocks that drift defeats any overlap, silently. Vendors with such listings usually offer a
change feed instead (Google's `syncToken`, Microsoft Graph's `delta`, Zoom's and Dropbox's
cursors): list everything once, receive a token, and on every later run ask for what changed
since the token (new, changed and deleted items), whatever their dates. `ChangeFeed` walks one:

- **snapshot**: the first run (and every full re-list) walks the whole listing with the plugin's
  paginator; each page is committed with its position, so a backfill killed at any page resumes
  at the page after the last committed one (an expired page token starts it again at its first
  page: what is listed twice is stored once);
- the snapshot's last page carries the vendor's sync token (`token`, a dotted path of its body):
  the state becomes **incremental**, and each later run asks for the changes since that token
  (`token_param`), page by page, each page committed with its position, the last one with the
  new token;
- when the vendor refuses the sync token as expired (`expired=`, or `PositionExpired`), the run
  lists everything again from a new snapshot (noted in the run summary), so nothing that changed
  while the token was valid can be missed;
- **deletions** (`deleted=`: the vendor id an item deletes, or None for a live item) never reach
  `parse`: a recording the store holds stays stored, exactly as it was archived (the store is an
  archive, and the vendor's deletion does not undo it). Each deletion is recorded in the
  recording's audit trail (action `vendor-deleted`, shown with its evidence) as the page listing it
  is read, and counted in the run summary. A run killed before that page is committed lists the
  deletion again next run and records it again: each entry says when the vendor reported it.

The state is plain JSON: `{"version": 1, "phase": "snapshot" | "incremental", "token": ...,
"next": <the position within the current pass, or null>}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from collector._base._errors import TenantError
from collector._base._model import RecordingKey

from ._expiry import Expired, PositionExpired
from ._paging import PageRequest, Paginator, paginate, select
from ._source import Page

if TYPE_CHECKING:
    from collector._http._client import HttpClient

    from ._source import SourceContext

STATE_VERSION = 1
DELETED_ACTION = "vendor-deleted"
"""The audit action a deletion the vendor reported is recorded under."""

Deleted = Callable[[Mapping[str, Any]], str | None]


class ChangeFeed:
    """A vendor's change feed, walked as a snapshot first and by its sync token afterwards.

        feed = ChangeFeed(self.context, self.http, "/v1/changes", items="changes",
                          paginator=CursorPaginator("next_page_token", param="page_token"),
                          token="next_sync_token", token_param="sync_token",
                          deleted=lambda item: item["id"] if item.get("deleted") else None,
                          expired=expired_on(410))
        async for page in feed.sync(state):
            yield page

    `url`, `params`, `method` and `json` make the snapshot's first request; `changes_url` and
    `changes_params` the incremental one when the vendor has another route for it (default: the
    same). `token_param` is where the token goes (the query; or the JSON body with
    `token_in_body`); None when the token is itself the URL to ask (Graph's `deltaLink`).
    Other keyword arguments go to every request (`HttpClient.json_answer`).
    """

    def __init__(self, context: SourceContext, http: HttpClient, url: str, *, paginator: Paginator,
                 token: str, token_param: str | None, items: str = "", params: Mapping[str, Any] | None = None,
                 method: str = "GET", json: Any = None, changes_url: str | None = None,
                 changes_params: Mapping[str, Any] | None = None, token_in_body: bool = False,
                 deleted: Deleted | None = None, expired: Expired | None = None, **kwargs: Any) -> None:
        self.context, self.http, self.paginator, self.items = context, http, paginator, items
        self.snapshot = PageRequest(url, dict(params or {}), json)
        chosen = params if changes_params is None else changes_params
        self._changes = PageRequest(changes_url or url, dict(chosen or {}), json)
        self._method, self._token, self._token_param, self._token_in_body = method, token, token_param, token_in_body
        self._deleted, self._expired, self._kwargs = deleted, expired, kwargs
        self.deletions = 0
        """Deletions the vendor reported this run."""
        self.relisted = False
        """True when this run found the sync token expired and listed everything again."""

    async def sync(self, state: Mapping[str, Any] | None) -> AsyncIterator[Page]:
        """This run's pages, each with the state that holds once it is committed."""
        state = state or {}
        token = state.get("token")
        phase = state.get("phase") if state.get("version") == STATE_VERSION else None
        resume = PageRequest.from_state(state.get("next"))
        if phase == "incremental" and isinstance(token, str) and token:
            try:
                async for page in self._pass(self.changes_request(token), resume, "incremental", token):
                    yield page
                self._finish()
                return
            except PositionExpired as exc:
                self.relisted, resume = True, None
                text = ("The vendor refused the change feed's sync token, so everything is listed again (what is "
                        f"already stored is stored once). {exc.reason}")
                self.context.log.warning("%s", text)
                self.context.note(text)
        async for page in self._pass(self.snapshot, resume if phase == "snapshot" else None, "snapshot", None):
            yield page
        self._finish()

    def changes_request(self, token: str) -> PageRequest:
        """The first request for the changes since `token`."""
        if self._token_param is None:
            return PageRequest(token, {}, self._changes.body)
        if self._token_in_body:
            return self._changes.with_body(**{self._token_param: token})
        return self._changes.with_params(**{self._token_param: token})

    async def _pass(self, first: PageRequest, resume: PageRequest | None, phase: str,
                    token: str | None) -> AsyncIterator[Page]:
        async for listed in paginate(self.http, first.url, paginator=self.paginator, items=self.items,
                                     params=first.params, method=self._method, json=first.body, resume=resume,
                                     expired=self._expired, **self._kwargs):
            live = [item for item in listed.items if not await self._record_deletion(item)]
            if listed.next is not None:
                state = {"version": STATE_VERSION, "phase": phase, "token": token, "next": listed.next.to_state()}
            else:
                state = {"version": STATE_VERSION, "phase": "incremental", "token": self._new_token(listed.body),
                         "next": None}
            yield Page(live, state)

    def _new_token(self, body: Any) -> str:
        value = select(body, self._token)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise TenantError(f"The change feed's last page carried no `{self._token}`, so there is no sync token "
                              "to ask for the next changes with; the last page was not committed and the next run "
                              "reads it again.")
        return value

    async def _record_deletion(self, item: Any) -> bool:
        """True (and the deletion recorded) when `item` is a deletion; malformed items are not."""
        if self._deleted is None or not isinstance(item, Mapping):
            return False
        try:
            vendor_id = self._deleted(item)
        except Exception:  # noqa: BLE001 - a malformed item: it goes on to `parse`, which quarantines it
            return False
        if vendor_id is None:
            return False
        key = RecordingKey(self.context.source, self.context.tenant, str(vendor_id))
        await self.context.audit(key, DELETED_ACTION, "The vendor's change feed reported this recording deleted; "
                                                      "the store keeps what it holds.")
        self.deletions += 1
        return True

    def _finish(self) -> None:
        if self.deletions:
            self.context.note(f"The vendor reported {self.deletions} recording(s) deleted: what the store holds of "
                              f"them is kept, and each deletion is recorded in its audit trail ({DELETED_ACTION}).")
