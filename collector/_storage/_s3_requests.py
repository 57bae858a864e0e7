"""The few S3 requests obstore does not make, signed with AWS Signature Version 4.

obstore puts, reads, copies and lists objects, but has no call for an object's legal hold or
retention (`PUT ?legal-hold`, `PUT ?retention`) and cannot create a bucket. Pulling in a whole S3
SDK (boto3 and botocore, about 100 MB installed) for three small requests is not worth it:
SigV4 is a documented HMAC recipe, and these requests are tested against the SeaweedFS server the
suite starts (tests/test_retention.py, tests/test_backends.py). Bodies carry `Content-MD5`, which
S3 requires for the Object Lock calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def signed_request(method: str, url: str, access_key: str, secret_key: str, *, region: str = "us-east-1",
                   body: bytes = b"", headers: dict[str, str] | None = None) -> urllib.request.Request:
    """A urllib request for `url`, signed with SigV4 for S3 (the query string, headers and body included)."""
    parts = urllib.parse.urlsplit(url)
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    signed_headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp,
                      **{name.lower(): value for name, value in (headers or {}).items()}}
    if body:
        # MD5: S3's rule for Content-MD5
        signed_headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    names = ";".join(sorted(signed_headers))
    query = "&".join(sorted(f"{_quote(k)}={_quote(v)}"
                            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    canonical = "\n".join([method, parts.path or "/", query,
                           *(f"{name}:{signed_headers[name]}" for name in sorted(signed_headers)), "", names, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=body or None, method=method)
    for name, value in signed_headers.items():
        if name != "host":
            request.add_header(name, value)
    request.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, "
                                        f"Signature={signature}")
    return request


def send(request: urllib.request.Request, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send a signed request; its status and (the start of) its body, errors included (never raises for
    an HTTP status; a connection failure raises OSError)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # an https/http S3 URL
            return answer.status, answer.read(4096)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096)


def legal_hold_body(on: bool) -> bytes:
    """The body of `PUT ?legal-hold`."""
    return f'<LegalHold xmlns="{_XMLNS}"><Status>{"ON" if on else "OFF"}</Status></LegalHold>'.encode()


def retention_body(until: datetime) -> bytes:
    """The body of `PUT ?retention` (compliance mode: it can be extended, never shortened or removed)."""
    return (f'<Retention xmlns="{_XMLNS}"><Mode>COMPLIANCE</Mode>'
            f'<RetainUntilDate>{until.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}</RetainUntilDate></Retention>').encode()


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")
