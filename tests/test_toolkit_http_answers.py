"""What a vendor's answer means, over real HTTP: failed answers expose what the vendor said, an
`ErrorCodes` table maps the vendor's own codes (in any status) onto the taxonomy, and a call can
say an answer is transient ("try again") rather than bad."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from collector import (
    BadStatus,
    ErrorCodes,
    HttpClient,
    ItemDeferred,
    ItemNotReady,
    ItemUnavailable,
    NoAnswer,
    PageTokenExpired,
    RateLimit,
    RetrySettings,
    Traffic,
    TransientAnswer,
    VendorAnswer,
    classify_request_failure,
    register_secret,
)
from collector.emulator import EmulatorServer, Request, Response, synth_audio

FAST = RetrySettings(attempts=4, initial_wait=0.01, max_wait=0.05)
LEAKED = "vendor-echoed-secret-7f3a9c"
HTML = b"<!DOCTYPE html><html><body><h1>Service busy, try again</h1></body></html>"


class CodedApi(EmulatorServer):
    """A vendor whose errors carry its own code, in whatever HTTP status it likes.

    `GET /files/{name}`: `gone` answers 400 with code 404 ("file does not exist"); `token` answers
    400 `PAGE_TOKEN_EXPIRED`; `later` answers 409 `NOT_YET` with a Retry-After; `busy-{n}` answers
    400 `SLOW_DOWN` for its first n requests, then 200; `leak` echoes a secret and sets a cookie;
    `suspended` and `catching-up-{n}` (its first n requests) put an error body on HTTP 200.
    `GET /media/{n}` answers an HTML page ("try again") for its first n requests, then audio.
    """

    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[str, int] = {}
        self.add_route("GET", r"/files/(?P<name>[^/]+)", "metadata", self.files)
        self.add_route("GET", r"/media/(?P<n>\d+)", "audio", self.media)

    def _count(self, name: str) -> int:
        self.asked[name] = self.asked.get(name, 0) + 1
        return self.asked[name]

    @staticmethod
    def error(status: int, code: Any, message: str, headers: dict[str, str] | None = None) -> Response:
        return Response.json({"error": {"code": code, "message": message}}, status, headers)

    def files(self, request: Request, name: str) -> Response:
        asked = self._count(name)
        if name == "gone":
            return self.error(400, 404, "File does not exist.", {"X-Trace": "t-1"})
        if name == "token":
            return self.error(400, "PAGE_TOKEN_EXPIRED", "The page token expired.")
        if name == "later":
            return self.error(409, "NOT_YET", "Transcoding.", {"Retry-After": "120"})
        if name.startswith("busy-") and asked <= int(name[5:]):
            return self.error(400, "SLOW_DOWN", "Please slow down.")
        if name == "window":
            return self.error(400, "CURSOR_STALE", "Start the window again.")
        if name == "leak":
            return Response.json({"code": "E1", "message": f"bad token {LEAKED}"}, 400,
                                 {"Set-Cookie": f"session={LEAKED}"})
        if name == "header-code":
            return Response.error(400, "Refused.", {"X-Error-Code": "QUOTA"})
        if name == "suspended":  # an API v1 habit: the error on HTTP 200
            return self.error(200, "TENANT_SUSPENDED", "This workspace is suspended.")
        if name.startswith("catching-up-") and asked <= int(name[12:]):
            return self.error(200, "SLOW_DOWN", "The feed is catching up.")
        if name == "coded-field":  # an ordinary answer with a field called `code`
            return Response.json({"name": name, "code": "TENANT_SUSPENDED"})
        return Response.json({"name": name})

    def media(self, request: Request, n: str) -> Response:
        if self._count(f"media-{n}") <= int(n):
            return Response(200, HTML, "text/html; charset=utf-8")
        return Response(200, synth_audio(n, duration=1.0, fmt="wav"), "audio/wav")


@pytest.fixture
def api() -> Iterator[CodedApi]:
    with CodedApi() as server:
        yield server


def client(server: EmulatorServer) -> HttpClient:
    return HttpClient(server.url, Traffic(RateLimit(requests=100, per_seconds=1), retry=FAST, timeout=10))


def call(server: EmulatorServer, path: str, **options: Any) -> Any:
    async def scenario() -> Any:
        http = client(server)
        try:
            return await http.json("GET", path, **options)
        finally:
            await http.aclose()

    return asyncio.run(scenario())


CODES = ErrorCodes({404: ItemUnavailable, "PAGE_TOKEN_EXPIRED": PageTokenExpired, "SLOW_DOWN": TransientAnswer,
                    "NOT_YET": ItemNotReady}, code="error.code")


def test_a_failed_answer_exposes_its_status_headers_body_and_the_vendors_code(api: CodedApi) -> None:
    with pytest.raises(BadStatus) as raised:
        call(api, "/files/gone")
    error = raised.value
    assert (error.status, error.code, error.headers["x-trace"]) == (400, "404", "t-1")
    assert '"File does not exist."' in error.body and error.answer is not None
    assert error.answer.field("error.message") == "File does not exist."
    assert str(error) == "GET /files/gone answered HTTP 400: File does not exist."


def test_a_failed_answer_is_redacted_and_keeps_no_cookie(api: CodedApi) -> None:
    register_secret(LEAKED)
    with pytest.raises(BadStatus) as raised:
        call(api, "/files/leak")
    error = raised.value
    assert LEAKED not in error.body and LEAKED not in str(error) and "[redacted]" in error.body
    assert "set-cookie" not in error.headers and error.code == "E1"


def test_an_error_table_maps_a_code_in_any_status_onto_the_taxonomy(api: CodedApi) -> None:
    with pytest.raises(ItemUnavailable, match=r"answered HTTP 400 \(vendor code 404\): File does not exist\.") as gone:
        call(api, "/files/gone", errors=CODES)
    assert gone.value.answer is not None and gone.value.answer.code == "404"
    assert api.asked["gone"] == 1  # final: never retried

    with pytest.raises(PageTokenExpired) as expired:  # a BadStatus: status and answer as any other
        call(api, "/files/token", errors=CODES)
    assert expired.value.status == 400 and expired.value.code == "PAGE_TOKEN_EXPIRED"

    with pytest.raises(ItemNotReady) as later:
        call(api, "/files/later", errors=CODES)
    assert later.value.retry_after == 120 and later.value.ready_at is not None


def test_a_code_mapped_to_transient_is_retried_within_the_call(api: CodedApi) -> None:
    assert call(api, "/files/busy-2", errors=CODES) == {"name": "busy-2"}
    assert api.asked["busy-2"] == 3
    with pytest.raises(NoAnswer, match="gave up after 4 attempts"):
        call(api, "/files/busy-9", errors=CODES)


def test_a_code_can_map_to_a_plugins_own_exception_class(api: CodedApi) -> None:
    class RestartWindow(Exception):
        """The listing restarts its window."""

    table = ErrorCodes({"CURSOR_STALE": RestartWindow}, code="error.code")
    with pytest.raises(RestartWindow, match="vendor code CURSOR_STALE") as raised:
        call(api, "/files/window", errors=table)
    answer: VendorAnswer = raised.value.answer  # type: ignore[attr-defined]
    assert answer.status == 400 and answer.code == "CURSOR_STALE"


def test_the_code_can_come_from_anywhere_the_plugin_says(api: CodedApi) -> None:
    from collector import RoutePaused

    table = ErrorCodes({"E-QUOTA": ItemDeferred}, code=lambda answer: f"E-{answer.headers.get('x-error-code')}")
    with pytest.raises(ItemDeferred, match="vendor code E-QUOTA"):
        call(api, "/files/header-code", errors=table)
    with pytest.raises(TypeError, match="must map to an exception class"):
        ErrorCodes({"X": "not a class"})  # type: ignore[dict-item]
    assert issubclass(RoutePaused, Exception)


def test_a_table_given_once_applies_to_every_call_of_the_client(api: CodedApi) -> None:
    async def scenario() -> None:
        http = client(api).with_defaults(errors=CODES)
        try:
            with pytest.raises(ItemUnavailable):
                await http.json("GET", "/files/gone")
            assert await http.json("GET", "/files/fine") == {"name": "fine"}
            with pytest.raises(BadStatus):  # a call's own table wins
                await http.json("GET", "/files/gone", errors=ErrorCodes({}))
        finally:
            await http.aclose()

    asyncio.run(scenario())


def test_a_table_that_reads_successes_maps_errors_sent_with_http_200(api: CodedApi) -> None:
    """A vendor that reports some errors on HTTP 200: the table made with `in_successes=True`
    raises them as their class says (a transient one is retried, then the answer is taken);
    an unmapped code, a code elsewhere than the table's path, and a table that does not read
    successes leave the answer as it is."""
    from collector import TenantError

    table = ErrorCodes({"TENANT_SUSPENDED": TenantError, "SLOW_DOWN": TransientAnswer}, code="error.code",
                       in_successes=True)
    with pytest.raises(TenantError, match=r"answered HTTP 200 \(vendor code TENANT_SUSPENDED\): This workspace"):
        call(api, "/files/suspended", errors=table)
    assert call(api, "/files/catching-up-2", errors=table) == {"name": "catching-up-2"}
    assert api.asked["catching-up-2"] == 3
    assert call(api, "/files/coded-field", errors=table) == {"name": "coded-field", "code": "TENANT_SUSPENDED"}
    assert call(api, "/files/fine", errors=table) == {"name": "fine"}
    assert call(api, "/files/suspended", errors=CODES)["error"]["code"] == "TENANT_SUSPENDED"


def test_without_a_table_failures_are_classified_as_before(api: CodedApi) -> None:
    with pytest.raises(BadStatus) as raised:
        call(api, "/files/gone")
    assert isinstance(classify_request_failure(raised.value, item=True), ItemDeferred)


def is_html(answer: VendorAnswer) -> bool:
    return answer.content_type == "text/html"


async def download(http: HttpClient, path: str, **options: Any) -> bytes:
    try:
        async with http.stream("GET", path, **options) as response:
            return b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await http.aclose()


def test_an_html_answer_the_vendor_means_as_try_again_is_retried(api: CodedApi,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    http = client(api)
    body = asyncio.run(download(http, "/media/2", transient_when=is_html))
    assert body == synth_audio("2", duration=1.0, fmt="wav")
    assert http.stats.retries == 2 and api.asked["media-2"] == 3
    assert "which means \"try again\"" in caplog.text


def test_a_transient_answer_that_never_clears_defers_the_item_instead_of_quarantining_it(api: CodedApi) -> None:
    with pytest.raises(NoAnswer) as raised:
        asyncio.run(download(client(api), "/media/9", transient_when=is_html))
    assert isinstance(classify_request_failure(raised.value, item=True), ItemDeferred)
    assert api.asked["media-9"] == FAST.attempts


def test_without_the_predicate_the_html_page_is_handed_over_as_it_is(api: CodedApi) -> None:
    assert asyncio.run(download(client(api), "/media/1")) == HTML  # the audio checks then quarantine it


def test_spent_retries_keep_the_last_answer(api: CodedApi) -> None:
    with pytest.raises(NoAnswer) as transient:
        call(api, "/files/busy-9", errors=CODES)
    assert transient.value.answer is not None and transient.value.answer.code == "SLOW_DOWN"
    api.faults.inject("503", count=10)
    with pytest.raises(BadStatus) as spent:
        call(api, "/files/fine")
    assert spent.value.status == 503 and spent.value.answer is not None
    assert "Injected server error." in spent.value.body and "gave up after 4 attempts" in str(spent.value)
