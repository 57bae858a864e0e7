"""A vendor's own error codes, mapped onto the error taxonomy once per plugin.

Vendors put their own code in an error body, in whatever HTTP status: "file does not exist" as
HTTP 400 with `"code": 404`, "page token expired" as a 400, "daily limit" and "per-second limit" as
two 429s that mean different things. An `ErrorCodes` table names where the code is (a dotted JSON
path, or a callable) and what each code means, as an exception class:

    CODES = ErrorCodes({"404": ItemUnavailable,              # final: no retries
                        "TRANSCRIPT_NOT_READY": ItemNotReady,  # waits, no attempt spent
                        "PAGE_TOKEN_EXPIRED": PageTokenExpired,  # the listing restarts its window
                        "RATE_LIMIT": TransientAnswer,       # retried within the run
                        "DAILY_LIMIT": RoutePaused},         # the route pauses until the reset
                       code="error.code")
    http = context.http(base_url, auth).with_defaults(errors=CODES)   # or per call: errors=CODES

The table applies to answers that are not successes (a 2xx is an answer), unless it is made
with `in_successes=True`: for vendors that report some errors with HTTP 200 and an error body, it
then also reads every JSON success, and a mapped code there is raised like any other (an unmapped
code, or none, leaves the success as it is). A call's own
`not_ready_on=`, `unavailable_on=` and predicates come first, the status's default meaning after.
Any exception class may be named, a plugin's own too ("map code X to class Y"). How each is
raised:

- `TransientAnswer` (and subclasses): not raised; the answer is retried like a 5xx (backoff,
  Retry-After), and `NoAnswer` is raised once the retries are spent;
- `BadStatus` subclasses (`PageTokenExpired`): `cls(status, method, path, detail, answer=...)`;
- `ItemNotReady` subclasses: `cls(sentence, retry_after)` with the vendor's estimate (the call's
  `estimate=`, by default the Retry-After header);
- `RoutePaused` subclasses: the call's route pauses until the answer's Retry-After, else its
  rate-limit reset, else the next midnight UTC, and `cls(sentence, route, until)` is raised;
- any other class: `cls(sentence)`, with the answer attached as its `answer` attribute.

The sentence names the exchange, the status, the code and the vendor's message, e.g. "GET
/v1/files/7 answered HTTP 400 (vendor code 404): File does not exist."
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collector._base._vendor_answer import VendorAnswer, dig

from ._answers import default_code

CodeReader = Callable[[VendorAnswer], Any]


class ErrorCodes:
    """A vendor's error codes and the exception class each one means (see the module docstring).

    `codes` maps a code (text or a number: `404` and `"404"` are the same code) to an exception
    class. `code` says where an answer's code is: a dotted path into its JSON body
    ("error.code", "errors.0.code"), or a callable that receives the `VendorAnswer` and returns the
    code (from a header, say) or None; by default the usual fields (`code`, `error_code`,
    `errorCode`, `error.code`, ...). The code read is on every error the client raises for the
    answer (`BadStatus.code`), mapped or not. `in_successes=True` reads JSON successes too (a
    vendor's "error on HTTP 200"): name the code's place with `code=` then, so a field of an
    ordinary answer is never taken for one.
    """

    def __init__(self, codes: Mapping[str | int, type[BaseException]], *, code: str | CodeReader | None = None,
                 in_successes: bool = False) -> None:
        table: dict[str, type[BaseException]] = {}
        for key, target in codes.items():
            if not isinstance(target, type) or not issubclass(target, BaseException):
                raise TypeError(f"the error code {key!r} must map to an exception class, not {target!r}")
            table[str(key).strip()] = target
        self._codes = table
        self.in_successes = in_successes
        """Whether 2xx answers are read for a code too."""
        if code is None:
            self._read: CodeReader = default_code
        elif isinstance(code, str):
            path = code
            self._read = lambda answer: dig(answer.json, path)
        else:
            self._read = code

    def read_code(self, answer: VendorAnswer) -> str | None:
        """The vendor's error code in `answer`, as text, or None."""
        value = self._read(answer)
        if value is None or isinstance(value, (bool, dict, list)):
            return None
        text = str(value).strip()
        return text or None

    def meaning(self, code: str | None) -> type[BaseException] | None:
        """The exception class `code` is mapped to, or None."""
        return self._codes.get(code) if code is not None else None

    def __repr__(self) -> str:
        return f"ErrorCodes({sorted(self._codes)!r})"


def read_code(answer: VendorAnswer, table: ErrorCodes | None) -> str | None:
    """An answer's error code, by the call's table or the usual fields."""
    return table.read_code(answer) if table is not None else default_code(answer)


def sentence(answer: VendorAnswer, what: str | None = None) -> str:
    """"GET /path answered HTTP 400 (vendor code 404): File does not exist." for an answer."""
    code = f" (vendor code {answer.code})" if answer.code else ""
    text = f"{answer.method} {answer.path} answered HTTP {answer.status}{code}"
    if what:
        text += f" ({what})"
    detail = answer.detail
    return f"{text}: {detail}" if detail else f"{text}."
