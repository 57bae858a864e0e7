"""A configuration value that holds a secret (API key, token, client secret).

In TOML a secret is written as a reference, never required in plain text:

    api_key = { env = "ACME_API_KEY" }             # read from an environment variable
    api_key = { file = "/run/secrets/acme" }       # read from a file (trailing newline dropped);
                                                   # a relative path is relative to the config file
    api_key = "literal"                            # accepted, but `config check` warns

The value is resolved while the configuration is validated, so a missing variable or file is a
configuration error naming the key path, and registered with the redactor so it can never be
printed. `repr()` and serialization show only where the value came from.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from ._redact import register_secret

PLAIN_TEXT = "plain text"


SECRET_FILE_LIMIT = 64 * 1024
"""The most a secret file may hold: keys, tokens and PEM keys are far smaller, and `/dev/zero` must
not fill the memory."""


def _read_secret_file(location: Path, ref: str) -> str:
    """A secret file's text: a regular file (a FIFO would block the run forever, a device never
    end), at most `SECRET_FILE_LIMIT` bytes, UTF-8; anything else is a ValueError naming the file."""
    try:
        fd = os.open(location, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, then fstat says what it is
    except OSError as exc:
        raise ValueError(f"cannot read secret file {ref}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"the secret file {ref} is not a regular file (a device, a FIFO or a folder); "
                             "give the path of a file holding the secret")
        data = os.read(fd, SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        raise ValueError(f"cannot read secret file {ref}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > SECRET_FILE_LIMIT:
        raise ValueError(f"the secret file {ref} holds more than {SECRET_FILE_LIMIT // 1024} KiB; a secret file "
                         "holds one key or token")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the secret file {ref} is not UTF-8 text") from None


class Secret:
    """A resolved secret value plus a description of where it came from (safe to print)."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str) -> None:
        if not value:
            raise ValueError(f"the secret from {origin} is empty")
        register_secret(value)
        self._value = value
        self.origin = origin

    def get_secret_value(self) -> str:
        """The secret itself: pass it to the vendor, never to a log or a message."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<from {self.origin}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def resolve(cls, value: Any, base: Path | None = None) -> Secret:
        """Build a Secret from a TOML value: a plain string, `{env = NAME}` or `{file = PATH}`
        (a relative PATH is relative to `base`, the configuration file's folder)."""
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return cls(value, PLAIN_TEXT)
        if isinstance(value, dict) and len(value) == 1:
            (kind, ref), = value.items()
            if kind == "env" and isinstance(ref, str) and ref:
                if ref not in os.environ:
                    raise ValueError(f"environment variable {ref} is not set")
                return cls(os.environ[ref], f"environment variable {ref}")
            if kind == "file" and isinstance(ref, str) and ref:
                location = Path(ref).expanduser()
                if not location.is_absolute() and base is not None:
                    location = base / location
                return cls(_read_secret_file(location, ref).rstrip("\r\n"), f"file {ref}")
        raise ValueError('expected { env = "VARIABLE" }, { file = "/path" } or a string')

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any, info: core_schema.ValidationInfo) -> Secret:
            context = info.context if isinstance(info.context, dict) else {}
            return cls.resolve(value, context.get("config_dir"))

        return core_schema.with_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: repr(s)),
        )
