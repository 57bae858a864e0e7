"""The Heron reference server does what docs/heron-api.md says, over real HTTP (httpx).

Each test starts its own server (about 0.15 s: two tenants of seeded data) and drives time with
`advance()` rather than sleeping, except the rate-limit test, whose windows are real seconds.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import time
import wave
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

HERE = Path(__file__).resolve().parent


def _load() -> Any:
    if "heron_server" not in sys.modules:
        spec = importlib.util.spec_from_file_location("heron_server", HERE / "heron_server.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["heron_server"] = module      # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["heron_server"]


heron_server = _load()
HeronServer = heron_server.HeronServer


class Api:
    """A bare client of Heron's API, as a vendor's own example code would be."""

    def __init__(self, heron: Any, tenant: str = "north", scope: str | None = None) -> None:
        self.heron = heron
        self.tenant = heron.tenants[tenant]
        self.scope = scope
        self.client = httpx.Client(base_url=heron.url, timeout=10)
        self.token = ""
        self.renew()

    def renew(self) -> None:
        form = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
        answer = self.client.post("/oauth/token", data=form, auth=(self.tenant.client_id, self.tenant.client_secret))
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token}"})

    def changes(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("POST", "/v2/recordings/changes", body)

    def listing(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, list[int]]:
        """Every page of one listing: (items, the final sync token, the page sizes)."""
        items: list[dict[str, Any]] = []
        sizes = []
        request = dict(body)
        while True:
            answer = self.changes(request)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            assert "error" not in page, page
            items += page["recordings"]
            sizes.append(len(page["recordings"]))
            if page["next_cursor"] is None:
                assert page["next_sync_token"]
                return items, page["next_sync_token"], sizes
            assert page["next_sync_token"] is None
            request = {**body, "cursor": page["next_cursor"]}

    def batch(self, ids: list[str]) -> httpx.Response:
        return self.call("POST", "/v2/media/batch", {"ids": ids})


@pytest.fixture
def heron() -> Iterator[Any]:
    with HeronServer(seed=1, rate_limit=None, settle_after=None) as server:
        yield server


def _error_code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def test_client_credentials_tokens_live_sixty_seconds(heron: Any) -> None:
    north = heron.tenants["north"]
    client = httpx.Client(base_url=heron.url)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(north.client_id, north.client_secret))
    assert answer.status_code == 200
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 60
    assert token["scope"] == "media:read recordings:read"

    # the token route's errors are RFC 6749's, not Heron's format
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(north.client_id, "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    in_body = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": north.client_id,
                                                "client_secret": north.client_secret})
    assert in_body.status_code == 401 and in_body.json()["error"] == "invalid_client"
    grant = client.post("/oauth/token", data={"grant_type": "password"}, auth=(north.client_id, north.client_secret))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"

    api = Api(heron)
    assert api.changes({"limit": 1}).status_code == 200
    assert _error_code(client.post("/v2/recordings/changes", json={})) == "missing_token"
    bogus = client.post("/v2/recordings/changes", json={}, headers={"Authorization": "Bearer hat_nope"})
    assert bogus.status_code == 401 and _error_code(bogus) == "invalid_token"

    heron.advance(61)
    expired = api.changes({"limit": 1})
    assert expired.status_code == 401 and _error_code(expired) == "token_expired"
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert heron.expired_token_requests == 1
    api.renew()
    assert api.changes({"limit": 1}).status_code == 200
    heron.expire_tokens()
    assert _error_code(api.changes({"limit": 1})) == "token_expired"

    listing_only = Api(heron, scope="recordings:read")
    refused = listing_only.batch(["seg_x"])
    assert refused.status_code == 403 and _error_code(refused) == "insufficient_scope"
    assert heron.token_requests["north"] >= 5


def test_token_requests_have_a_limit_of_their_own() -> None:
    with HeronServer(recordings=2, token_rate_limit=3) as heron:
        north = heron.tenants["north"]
        answers = [httpx.post(heron.token_url, data={"grant_type": "client_credentials"},
                              auth=(north.client_id, north.client_secret)) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"] == "rate_limited" and int(answers[-1].headers["Retry-After"]) > 0
        assert heron.rate_limited == 0          # the API's own limit is another one


def test_the_snapshot_pages_by_cursor_then_the_sync_token_gives_only_changes(heron: Any) -> None:
    api = Api(heron)
    items, token, sizes = api.listing({"limit": 25})
    assert sizes == [25, 25, 10]
    assert [item["id"] for item in items] == heron.recording_ids("north")
    first = items[10]
    assert first["workspace_id"] == api.tenant.workspace_id and first["timezone"] == "Europe/Berlin"
    started = parsedate_to_datetime(first["started_at"])          # RFC 2822, local time with its offset
    assert started.utcoffset() == started.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()
    assert isinstance(first["created_ms"], int) and first["created_ms"] > started.timestamp() * 1000
    assert first["segments"] and {"id", "index", "status", "channels", "offset_seconds"} <= set(first["segments"][0])

    south_items, _, _ = Api(heron, "south").listing({})
    assert not {i["id"] for i in south_items} & {i["id"] for i in items}
    assert parsedate_to_datetime(south_items[0]["started_at"]).utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))

    nothing, token, _ = api.listing({"sync_token": token})
    assert nothing == []

    arrivals = heron.add_arrivals(2, back_dated_days=5)
    heron.touch(items[3]["id"])
    heron.delete(items[4]["id"])
    changes, token, sizes = api.listing({"sync_token": token, "limit": 3})   # the body again, with the cursor
    assert sizes == [3, 1]
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {*arrivals, items[3]["id"], items[4]["id"]}
    now = datetime.now(UTC)
    for arrival in arrivals:           # stored now, but the call was five days ago
        assert now - parsedate_to_datetime(by_id[arrival]["started_at"]) > timedelta(days=5)
        assert abs(by_id[arrival]["created_ms"] / 1000 - now.timestamp()) < 60
    assert by_id[items[3]["id"]]["tags"] == ["reviewed"]
    assert by_id[items[4]["id"]] == {"id": items[4]["id"], "deleted": True,
                                     "deleted_ms": by_id[items[4]["id"]]["deleted_ms"]}
    assert api.listing({"sync_token": token})[0] == []

    # a recording changed twice is listed once; a snapshot page can be short while more follow
    heron.touch(items[5]["id"])
    heron.touch(items[5]["id"])
    assert [c["id"] for c in api.listing({"sync_token": token})[0]] == [items[5]["id"]]
    for gone in items[6:8]:
        heron.delete(gone["id"])
    page = api.changes({"limit": 25}).json()
    assert len(page["recordings"]) == 22 and page["next_cursor"] is not None

    north_cursor = page["next_cursor"]
    foreign = Api(heron, "south").changes({"cursor": north_cursor})
    assert foreign.status_code == 400 and _error_code(foreign) == "invalid_cursor"
    assert _error_code(api.changes({"cursor": north_cursor[:-3] + "AAA"})) == "invalid_cursor"
    assert _error_code(api.changes({"sync_token": "hst1_forged.xyz"})) == "invalid_sync_token"
    assert _error_code(api.changes({"limit": 500})) == "invalid_request"


def test_sync_tokens_expire_with_410_and_a_full_re_list_recovers() -> None:
    with HeronServer(rate_limit=None, settle_after=None, sync_token_ttl=3600) as heron:
        api = Api(heron)
        _, token, _ = api.listing({"limit": 200})
        heron.expire_sync_tokens()
        expired = api.changes({"sync_token": token})
        assert expired.status_code == 410 and _error_code(expired) == "sync_token_expired"
        items, token, _ = api.listing({"limit": 200})                 # the full re-list
        assert len(items) == 60
        assert api.changes({"sync_token": token}).status_code == 200

        heron.advance(3601)                                            # too old
        api.renew()
        assert _error_code(api.changes({"sync_token": token})) == "sync_token_expired"

        _, token, _ = api.listing({"limit": 200})
        heron.add_arrivals(3)
        page = api.changes({"sync_token": token, "limit": 1}).json()
        heron.expire_sync_tokens()                                     # in the middle of a pass
        midway = api.changes({"sync_token": token, "limit": 1, "cursor": page["next_cursor"]})
        assert midway.status_code == 410 and _error_code(midway) == "sync_token_expired"

        snapshot_page = api.changes({"limit": 10}).json()
        heron.advance(3601)
        api.renew()
        old = api.changes({"limit": 10, "cursor": snapshot_page["next_cursor"]})
        assert old.status_code == 400 and _error_code(old) == "cursor_expired"


def test_segments_attach_late_and_settling_is_no_feed_change(heron: Any) -> None:
    api = Api(heron)
    items, token, _ = api.listing({"limit": 100})
    open_ones = [i for i in items if not i["settled"]]
    assert len(open_ones) == 4                       # seeded: the newest four
    assert any(i["segments"] == [] for i in open_ones)
    assert any({s["status"] for s in i["segments"]} == {"ready", "processing"} for i in open_ones)

    [rid] = heron.add_arrivals(1, settled=False, attached=False, segments=2)
    [listed] = api.listing({"sync_token": token})[0]
    assert listed["id"] == rid and listed["settled"] is False and listed["segments"] == []
    _, token, _ = api.listing({"sync_token": token})
    heron.attach(rid)
    current = api.call("GET", f"/v2/recordings/{rid}").json()
    assert [s["status"] for s in current["segments"]] == ["processing", "processing"]
    ids = [s["id"] for s in current["segments"]]
    pending = api.batch(ids)
    assert pending.status_code == 202 and pending.headers["Retry-After"] == "300"
    assert pending.json()["items"] == [{"id": i, "status": "pending", "retry_after": 300} for i in ids]

    heron.settle([rid], media_delay=30)
    settled = api.call("GET", f"/v2/recordings/{rid}").json()
    assert settled["settled"] is True and all(s["status"] in ("ready", "failed") for s in settled["segments"])
    assert settled["updated_ms"] == current["updated_ms"]
    assert api.listing({"sync_token": token})[0] == []              # settling is not a change
    ready = [s["id"] for s in settled["segments"] if s["status"] == "ready"]
    assert all("ready_ms" in s for s in settled["segments"] if s["status"] == "ready")
    soon = api.batch(ready)
    assert soon.status_code == 202 and 1 <= int(soon.headers["Retry-After"]) <= 30
    heron.advance(31)
    api.renew()
    later = api.batch(ready)
    assert later.status_code == 200 and all(i["status"] == "ready" for i in later.json()["items"])

    # by itself after `settle_after`, and at the 7-day deadline whatever happens
    with HeronServer(recordings=1, rate_limit=None, settle_after=120) as other:
        [auto] = other.add_arrivals(1, settled=False)
        other.advance(119)
        assert other.recording(auto)["settled"] is False
        other.advance(2)
        assert other.recording(auto)["settled"] is True
    [stuck] = heron.add_arrivals(1, settled=False, segments=2)
    heron.advance(7 * 86400 + 1)
    api.renew()
    final = api.call("GET", f"/v2/recordings/{stuck}").json()
    assert final["settled"] is True and {s["status"] for s in final["segments"]} == {"failed"}
    failed = api.batch([s["id"] for s in final["segments"]]).json()["items"]
    assert {i.get("error") for i in failed} == {"segment_failed"}


def test_a_batch_answers_each_id_on_its_own(heron: Any) -> None:
    api = Api(heron)
    ready = heron.segment_ids("north", downloadable=True)
    purged = next(s["id"] for s in heron.recording(heron.recording_ids("north")[0])["segments"])
    doomed_recording = heron.segment(ready[5])[0]
    heron.delete(doomed_recording)
    [fresh] = heron.add_arrivals(1, segments=1, media_delay=45)
    fresh_segment = heron.recording(fresh)["segments"][0]["id"]
    ids = [ready[3], purged, ready[5], "seg_0000000000000000", fresh_segment, ready[3]]
    answer = api.batch(ids)
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [i["id"] for i in items] == ids[:5]                      # in order, a repeated id once
    assert items[0]["status"] == "ready" and items[0]["url"].startswith(heron.media_url + "/o/")
    assert items[0]["size_bytes"] == len(heron.audio(ready[3]))
    assert abs(items[0]["expires_ms"] / 1000 - heron.now().timestamp() - 30) < 2
    assert items[1] == {"id": purged, "error": "media_purged"}
    assert items[2] == {"id": ready[5], "error": "recording_deleted"}
    assert items[3] == {"id": "seg_0000000000000000", "error": "not_found"}
    assert items[4]["status"] == "pending" and 40 <= items[4]["retry_after"] <= 45
    assert Api(heron, "south").batch([ready[3]]).json()["items"] == [{"id": ready[3], "error": "not_found"}]

    too_many = api.batch([f"seg_{n:016x}" for n in range(51)])
    assert too_many.status_code == 400 and _error_code(too_many) == "too_many_ids"
    assert too_many.json()["error"]["max_ids"] == 50
    assert _error_code(api.batch([])) == "invalid_request"
    assert api.batch(ready[:50]).status_code == 200
    assert heron.largest_batch == 50

    heron.fail_batch_items(1)
    flaky = api.batch(ready[10:12]).json()["items"]
    assert flaky[0] == {"id": ready[10], "error": "temporarily_unavailable"} and flaky[1]["status"] == "ready"


def test_signed_urls_stream_wav_with_its_length_and_sha256(heron: Any) -> None:
    api = Api(heron)
    segment_id = heron.segment_ids("north", downloadable=True)[7]
    recording_id, listed = heron.segment(segment_id)
    [item] = api.batch([segment_id]).json()["items"]
    assert httpx.URL(item["url"]).port != httpx.URL(heron.url).port        # another origin

    download = httpx.get(item["url"])
    assert download.status_code == 200 and download.headers["Content-Type"] == "audio/wav"
    assert int(download.headers["Content-Length"]) == len(download.content) == item["size_bytes"]
    assert download.headers["X-Heron-Sha256"] == hashlib.sha256(download.content).hexdigest()
    assert download.content == heron.audio(segment_id)
    with wave.open(io.BytesIO(download.content)) as audio:
        assert (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) == (8000, 2, listed["channels"])
        seconds = audio.getnframes() / audio.getframerate()
        samples = array("h", audio.readframes(audio.getnframes()))
    assert 1.0 < seconds <= heron.recording(recording_id)["duration_seconds"]   # the call's length bounds it
    assert max(abs(s) for s in samples) > 3000                                  # not silence
    deadline = time.monotonic() + 5  # the server counts a download once its last byte is written
    while heron.downloads[segment_id] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heron.downloads[segment_id] == 1
    assert [r.status for r in heron.requests(host="media")] == [200]

    with_auth = httpx.get(item["url"], headers={"Authorization": f"Bearer {api.token}"})
    assert with_auth.status_code == 400 and _error_code(with_auth) == "unexpected_authorization"
    assert heron.media_with_authorization == 1
    forged = httpx.get(item["url"][:-4] + "AAAA")
    assert forged.status_code == 403 and _error_code(forged) == "signature_mismatch"

    heron.advance(31)
    expired = httpx.get(item["url"])
    assert expired.status_code == 403 and _error_code(expired) == "url_expired"
    api.renew()
    [again] = api.batch([segment_id]).json()["items"]
    assert httpx.get(again["url"]).status_code == 200
    assert heron.expire_urls() == 1
    assert _error_code(httpx.get(again["url"])) == "url_expired"
    assert heron.downloads[segment_id] == 2


def test_deleted_recordings_are_gone_with_404(heron: Any) -> None:
    api = Api(heron)
    ready = heron.segment_ids("north", downloadable=True)
    first, second = ready[0], next(s for s in ready if heron.segment(s)[0] != heron.segment(ready[0])[0])
    items = api.batch([first, second]).json()["items"]
    heron.delete(heron.segment(first)[0])
    heron.purge_media(heron.segment(second)[0])
    gone = httpx.get(items[0]["url"])
    assert gone.status_code == 404 and _error_code(gone) == "recording_deleted"
    purged = httpx.get(items[1]["url"])
    assert purged.status_code == 410 and _error_code(purged) == "media_purged"

    answer = api.call("GET", f"/v2/recordings/{heron.segment(first)[0]}")
    assert answer.status_code == 404 and _error_code(answer) == "recording_deleted"
    assert answer.json()["error"]["deleted_ms"] > 0
    unknown = api.call("GET", "/v2/recordings/rec_0000000000000000")
    assert unknown.status_code == 404 and _error_code(unknown) == "not_found"


def test_five_requests_a_second_then_429_counted() -> None:
    with HeronServer(recordings=3, rate_limit=5) as heron:
        north, south = Api(heron), Api(heron, "south")
        rid = heron.recording_ids("north")[0]
        for _attempt in range(3):
            time.sleep(1.02 - time.time() % 1)          # at the start of a window: the burst stays in it
            burst = [north.call("GET", f"/v2/recordings/{rid}") for _ in range(8)]
            if len({a.headers["X-RateLimit-Reset"] for a in burst}) == 1:
                break
        statuses = [a.status_code for a in burst]
        assert statuses == [200] * 5 + [429] * 3
        assert [a.headers["X-RateLimit-Remaining"] for a in burst] == ["4", "3", "2", "1", "0", "0", "0", "0"]
        reset = int(burst[0].headers["X-RateLimit-Reset"])
        assert reset - 1 <= time.time() < reset + 1          # a Unix time, in seconds
        assert all(a.headers["X-RateLimit-Limit"] == "5" for a in burst)
        assert _error_code(burst[-1]) == "rate_limited" and burst[-1].headers["Retry-After"] == "1"
        assert heron.rate_limited == 3
        assert heron.max_requests_in_window("north") >= 8
        assert heron.max_requests_in_any_second("north") >= 8
        north.renew()                                    # token requests are not limited by it
        assert south.call("GET", f"/v2/recordings/{heron.recording_ids('south')[0]}").status_code == 200
        time.sleep(max(0.0, reset - time.time()) + 0.01)
        assert north.call("GET", f"/v2/recordings/{rid}").status_code == 200
        assert heron.rate_limited == 3
        assert [r.code for r in heron.requests(path="/v2/recordings/")].count("rate_limited") == 3


def test_business_errors_on_http_200_and_injected_failures(heron: Any) -> None:
    api, south = Api(heron), Api(heron, "south")
    heron.suspend("north")
    for answer in (api.changes({}), api.call("GET", f"/v2/recordings/{heron.recording_ids()[0]}"),
                   api.batch(["seg_x"])):
        assert answer.status_code == 200 and _error_code(answer) == "tenant_suspended"
    assert south.changes({"limit": 1}).status_code == 200 and "error" not in south.changes({"limit": 1}).json()
    heron.suspend("north", False)

    heron.feed_busy(1)
    busy = api.changes({"limit": 5})
    assert busy.status_code == 200 and busy.json()["error"]["code"] == "feed_busy"
    assert busy.json()["error"]["retry_after"] == 2
    assert len(api.changes({"limit": 5}).json()["recordings"]) == 5

    heron.fail_next(1)
    failed = api.changes({"limit": 5})
    assert failed.status_code == 503 and _error_code(failed) == "unavailable" and failed.headers["Retry-After"] == "1"
    assert api.changes({"limit": 5}).status_code == 200
    assert _error_code(api.call("GET", "/v2/nowhere")) == "not_found"
    assert api.call("GET", "/v2/recordings/changes").status_code == 405

    codes = [r.code for r in heron.requests(tenant="north", path="/v2/recordings/changes")]
    assert codes == ["tenant_suspended", "feed_busy", None, "unavailable", None]
    logged = heron.requests(path="/v2/media/batch")
    assert logged[0].body == {"ids": ["seg_x"]} and logged[0].tenant == "north"


def test_the_seed_decides_the_data_and_every_audio_fits_its_call() -> None:
    anchor = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with HeronServer(seed=3, recordings=12, anchor=anchor) as one, \
            HeronServer(seed=3, recordings=12, anchor=anchor) as two, HeronServer(seed=4, recordings=12) as other:
        assert one.tenants == two.tenants and one.tenants != other.tenants
        for tenant in ("north", "south"):
            listed = [one.recording(r) for r in one.recording_ids(tenant)]
            assert listed == [two.recording(r) for r in two.recording_ids(tenant)]
            assert not set(one.recording_ids(tenant)) & set(other.recording_ids(tenant))
            for recording in listed:
                assert recording["created_ms"] <= anchor.timestamp() * 1000
                for segment in recording["segments"]:
                    with wave.open(io.BytesIO(one.audio(segment["id"]))) as audio:
                        assert audio.getnframes() / 8000 <= recording["duration_seconds"]
            assert one.audio(listed[5]["segments"][0]["id"]) == two.audio(listed[5]["segments"][0]["id"])
            imported = listed[5]       # every twelfth seeded recording was imported days after its call
            lag = imported["created_ms"] / 1000 - parsedate_to_datetime(imported["started_at"]).timestamp()
            assert lag > 2 * 86400


def test_it_runs_by_hand_with_port_and_prints_its_credentials() -> None:
    process = subprocess.Popen([sys.executable, str(HERE / "heron_server.py"), "--port", "0", "--recordings", "3"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            line = process.stdout.readline()
            assert line, "the server printed nothing"
            lines.append(line)
        printed = json.loads("".join(lines))
        north = printed["tenants"]["north"]
        basic = base64.b64encode(f"{north['client_id']}:{north['client_secret']}".encode()).decode()
        answer = httpx.post(printed["token_url"], content="grant_type=client_credentials",
                            headers={"Authorization": f"Basic {basic}",
                                     "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and answer.json()["expires_in"] == 60
    finally:
        process.terminate()
        process.wait(timeout=10)
