"""Talking to a vendor's API: the HTTP client a source is handed, and everything it keeps to.

- `_client`          `HttpClient`: one tenant's requests, retried, bounded, authenticated; built on
                     `_exchange` (one exchange: permit, credential, slots, the send, redirects) and
                     `_verdicts` (what an answer means: take it, retry, wait, pause, fail);
- `_answers`, `_moments`, `_error_codes`, `_custody`, `_redirects`   reading an answer; the times
                     vendors write; their error codes onto the taxonomy; where a download came
                     from; the rules for following redirects;
- `_auth`, `_tokens`, `_oauth2`, `_jwt`, `_token_store`   auth strategies, tokens cached and
                     renewed, OAuth2 grants, signed assertions, rotating refresh tokens kept;
- `_traffic`, `_ratelimit`, `_ledger`, `_concurrency`, `_quotas`   a tenant's request budget: the
                     sliding-window limiter and where its slots live, the adaptive in-flight limit,
                     routes a quota paused.

Nothing here knows a `Source`, the store or a pass.

May import: `archive_check`, `_base`.
"""
