"""Where a download came from, for the chain of custody: the endpoint, the vendor's request id,
whether the HTTP framing announced the body's end, and the checksums its headers state."""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from dataclasses import dataclass

import httpx

from collector._base._redact import redact

from ._answers import request_path

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id", "x-ms-request-id",
                      "x-correlation-id", "x-trace-id")
"""Headers vendors put their own id of a request in, looked for in this order (chain of custody)."""

FIRST_HOP = "collector_first_hop"
"""The response extension where the HTTP client keeps the first hop of a redirect chain."""


@dataclass(frozen=True)
class Custody:
    """Where a download came from, for the chain of custody: `endpoint` is the first request's
    method and path (no query string: it may carry a signature or a key), then the final host and
    path when a redirect led elsewhere; `request_id` the vendor's id of the exchange, if it sent
    one (`REQUEST_ID_HEADERS`); `content_length` what the answer announced; `framed` whether the
    HTTP framing announces the body's end (a Content-Length or chunked encoding), so a body that
    broke off early fails instead of looking complete."""

    endpoint: str
    request_id: str | None
    content_length: int | None
    framed: bool


def custody_of(response: httpx.Response) -> Custody:
    """The chain-of-custody facts of an (open) response, redirects included."""
    first = response.extensions.get(FIRST_HOP)
    request = response.request
    if first is None:
        endpoint, request_id = f"{request.method} {request_path(request)}", request_id_of(response.headers)
    else:
        method, path, first_id = first
        endpoint = (f"{method} {path} -> {request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
                    f"{request_path(request)}")
        request_id = first_id or request_id_of(response.headers)
    length = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    chunked = "chunked" in response.headers.get("transfer-encoding", "").lower()
    known = length is not None and length.isdigit() and not encoded
    return Custody(redact(endpoint), redact(request_id) if request_id else None,
                   int(length) if known and length is not None else None, known or chunked)


def request_id_of(headers: httpx.Headers) -> str | None:
    """The vendor's id of an exchange, from the first of `REQUEST_ID_HEADERS` it sent."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return " ".join(value.split())[:200]
    return None


DIGEST_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5", "sha256": "sha256",
                     "sha512": "sha512"}
"""The digest algorithms of the standard headers (RFC 9530 and RFC 3230 names) the collector checks."""


@dataclass(frozen=True)
class AnnouncedDigest:
    """A checksum of the file the download's answer stated in a header: `header` names where,
    `algorithm` is a hashlib name, `hexdigest` the value in lowercase hex."""

    header: str
    algorithm: str
    hexdigest: str


def announced_digests(headers: httpx.Headers, checksum_header: str | None = None, *,
                      partial: bool = False) -> list[AnnouncedDigest]:
    """The checksums of the body a download's answer states: the standard `Repr-Digest` and
    `Content-Digest` (RFC 9530), `Digest` (RFC 3230) and `Content-MD5` (RFC 1864), and the vendor's
    own header named `"<algorithm>:<Header-Name>"` (hex or base64).

    Nothing when the body was content-encoded (a digest of the encoded bytes says nothing of the
    decoded file), and only the vendor's own for a `partial` answer (a 206, whose standard headers
    may describe the whole). A value that cannot be read is skipped (the header is the vendor's
    problem, not the file's); one of the wrong length for its algorithm is kept, so the file fails
    against it.
    """
    if headers.get("content-encoding", "identity").lower() not in ("", "identity"):
        return []
    found: list[AnnouncedDigest] = []
    for name in () if partial else ("repr-digest", "content-digest", "digest"):
        for member in headers.get_list(name, split_commas=True):
            label, _, value = member.strip().partition("=")
            algorithm = DIGEST_ALGORITHMS.get(label.strip().lower())
            hexdigest = _hex(value.strip().strip(":"), algorithm)
            if algorithm is not None and hexdigest is not None:
                found.append(AnnouncedDigest(name, algorithm, hexdigest))
    md5 = None if partial else _hex(headers.get("content-md5", ""), "md5")
    if md5 is not None:
        found.append(AnnouncedDigest("content-md5", "md5", md5))
    if checksum_header:
        label, _, name = checksum_header.partition(":")
        algorithm, name = label.strip().lower().replace("-", ""), name.strip()
        hexdigest = _hex(headers.get(name, ""), algorithm)
        if hexdigest is not None:
            found.append(AnnouncedDigest(name.lower(), algorithm, hexdigest))
    return found


def _hex(value: str, algorithm: str | None) -> str | None:
    """A digest written as hex or base64, as lowercase hex; None if it is neither."""
    value = value.strip()
    if not value or algorithm is None:
        return None
    try:
        size = hashlib.new(algorithm).digest_size
    except ValueError:
        return None
    if len(value) == 2 * size and all(c in string.hexdigits for c in value):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value.lower() if all(c in string.hexdigits for c in value) else None
