"""Kestrel, a fictional vendor with a change feed, and two plugins for it built from `collector` alone.

Kestrel attaches a recording to its call when the recording is ready, up to days after the call
started, and lists it under the call's start (`call_started_at`, an RFC 2822 date). Its API:

- `GET /v1/recordings?started_after=<ISO 8601>&page_size=N[&page_token=T]`: live recordings whose
  call started at or after `started_after`, newest call first; `next_page_token` until the last page;
- `GET /v1/changes?page_size=N[&sync_token=S][&page_token=T]`: without `sync_token`, a snapshot of
  every live recording; with it, what changed since (new and changed recordings, and deletions as
  `{"id": ..., "deleted": true}`); `next_page_token` until the last page, which carries
  `next_sync_token`;
- `GET /v1/recordings/{id}/media`: the WAV audio (404 once deleted);
- tokens expire: an expired page token answers 400 `PAGE_TOKEN_EXPIRED`, an expired sync token
  410 `SYNC_TOKEN_EXPIRED` (the client must list everything again);
- errors: `{"error": {"code": ..., "message": ...}}`; a bearer API key per account.

Two plugins: `kestrel_watermark` (`watermark.py`: `Incremental` over `/v1/recordings`, the
pattern the guide used to recommend) and `kestrel_feed` (`feed.py`: `ChangeFeed` over
`/v1/changes`). The conformance suite fails the first and passes the second
(tests/test_toolkit_change_feed.py).
"""
