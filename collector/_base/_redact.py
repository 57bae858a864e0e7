"""Keep secrets out of everything a person or a file can see.

Every secret the collector learns (API keys resolved from the environment, tokens a vendor issues)
is registered here, and every message bound for a log line, an error, the catalog or the terminal
is passed through `redact`. This is the last line of defence: code should never format a secret
in the first place, but a vendor echoing a token in an error body must not leak it either.
"""

from __future__ import annotations

import logging
import re
import threading

_MASK = "[redacted]"
_MIN_LENGTH = 6  # shorter values are too likely to be ordinary words or numbers
_URL_QUERY = re.compile(r"""(\bhttps?://[^\s?#'"<>]*)\?[^\s#'"<>]*""")
LIBRARY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                   "httpcore.socks")
"""The HTTP libraries' own loggers: they log URLs and response headers (a redirect's Location)."""

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it from now on."""
    global _secrets
    if not value or len(value) < _MIN_LENGTH:
        return
    with _lock:
        if value not in _secrets:
            # Longest first, so a secret that contains another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def redact(text: str) -> str:
    """Return `text` with every registered secret replaced by a mask."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, mask it, and freeze it so no handler re-renders it."""
        message = record.getMessage()
        masked = redact(message)
        if record.args or masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, masked, so a formatter cannot print the raw exception text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


class LibraryLogFilter(logging.Filter):
    """A filter for the HTTP libraries' loggers: masks secrets and the query of every URL.

    httpcore logs a response's headers as they arrive, so a redirect to a signed URL is logged
    before the collector has seen (and registered) its signature; a URL's query is where
    signatures and API keys travel, so no library log line keeps one. Attached to the loggers
    themselves, it applies whatever handler (the collector's, an embedding application's, a test
    runner's) receives the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, mask it, and freeze it."""
        message = record.getMessage()
        masked = _URL_QUERY.sub(r"\1?" + _MASK, redact(message))
        if record.args or masked != message:
            record.msg, record.args = masked, None
        return True


_LIBRARY_FILTER = LibraryLogFilter()


def guard_library_logs() -> None:
    """Attach `LibraryLogFilter` to the HTTP libraries' loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(_LIBRARY_FILTER)
