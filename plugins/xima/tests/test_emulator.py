"""The Xima emulator follows the docs: real HTTP, strict request checks, real Opus, limits and caps."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import soundfile

from collector.emulator import LOOPBACK
from collector_xima.emulator import XimaEmulator, XimaTenant

TOKEN = "emulator-test-token"
LIST = "/rest/api/v2/recordings"


@pytest.fixture
def emulator() -> Iterator[XimaEmulator]:
    server = XimaEmulator(XimaTenant(name="acme-ns", token=TOKEN, recordings=6), rate_limit=None).start()
    try:
        yield server
    finally:
        server.stop()


def client(server: XimaEmulator, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def window(hours: float = 6) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"startTime": (now - timedelta(hours=hours)).isoformat(timespec="milliseconds"),
            "endTime": now.isoformat(timespec="milliseconds")}


def test_it_listens_on_loopback_only(emulator: XimaEmulator) -> None:
    assert emulator.url.startswith(f"http://{LOOPBACK}:")


def test_listings_need_iso_times_with_an_offset_encoded_in_the_url(emulator: XimaEmulator) -> None:
    with client(emulator) as http:
        assert len(http.get(LIST, params=window()).json()) == 6
        plus = window()
        plus = {k: datetime.fromisoformat(v).astimezone(timezone(timedelta(hours=5, minutes=30)))
                .isoformat(timespec="milliseconds") for k, v in plus.items()}
        assert len(http.get(LIST, params=plus).json()) == 6
        raw = f"{LIST}?startTime={plus['startTime']}&endTime={plus['endTime']}"  # '+' not encoded: a space
        assert http.get(raw).status_code == 400
        naive = {k: v[:-6] for k, v in window().items()}
        assert http.get(LIST, params=naive).status_code == 400
        assert http.get(LIST, params={"startTime": window()["startTime"]}).status_code == 400
        calls = http.get("/rest/api/v2/call-recording-info", params=window()).json()
        assert sum(len(c["recordings"]) for c in calls) == 6 and all("endTime" in c for c in calls)


def test_a_wrong_token_is_refused(emulator: XimaEmulator) -> None:
    with client(emulator, "wrong") as http:
        assert http.get(LIST, params=window()).status_code == 401
    emulator.revoke_token()
    with client(emulator) as http:
        assert http.get(LIST, params=window()).status_code == 401


def test_audio_is_real_opus_8k_mono_of_the_listed_size_and_unique(emulator: XimaEmulator) -> None:
    with client(emulator) as http:
        items = http.get(LIST, params=window()).json()
        bodies = set()
        for item in items[:3]:
            response = http.get(f"{LIST}/acme-ns/{item['recordingKey']}/audio")
            assert response.status_code == 200 and response.headers["content-type"].startswith("audio/ogg")
            assert len(response.content) == item["size"] and response.content[:4] == b"OggS"
            info = soundfile.info(io.BytesIO(response.content))
            assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "OPUS")
            assert info.duration == pytest.approx(item["duration"] / 1000, abs=0.02)
            bodies.add(response.content)
        assert len(bodies) == 3
        key = items[0]["recordingKey"]
        assert http.get(f"{LIST}/other-tenant/{key}/audio").status_code == 404
        assert http.get(f"{LIST}/acme-ns/unknown-key/audio").status_code == 404
        assert http.get(f"{LIST}/acme-ns/{key}/audio", params={"format": "wav"}).status_code == 400
        emulator.tenant.denied.add(key)
        assert http.get(f"{LIST}/acme-ns/{key}/audio").status_code == 403


def test_the_sliding_window_limit_answers_429_with_retry_after() -> None:
    server = XimaEmulator(XimaTenant(name="t", token=TOKEN, recordings=1), rate_limit=(3, 10.0)).start()
    try:
        with client(server) as http:
            statuses = [http.get(LIST, params=window()).status_code for _ in range(4)]
            last = http.get(LIST, params=window())
        assert statuses == [200, 200, 200, 429] and last.status_code == 429
        assert 1 <= int(last.headers["Retry-After"]) <= 10
    finally:
        server.stop()


def test_the_rolling_egress_cap_answers_509_until_the_window_rolls(emulator: XimaEmulator) -> None:
    emulator.tenant.egress_window = 0.3
    with client(emulator) as http:
        items = http.get(LIST, params=window()).json()
        emulator.tenant.egress_cap = items[0]["size"] + items[1]["size"]
        paths = [f"{LIST}/acme-ns/{item['recordingKey']}/audio" for item in items[:3]]
        assert [http.get(p).status_code for p in paths] == [200, 200, 509]
        assert "Bandwidth Limit Exceeded" in http.get(paths[2]).json()["message"]
        time.sleep(0.35)  # the scaled "five days" pass
        assert http.get(paths[2]).status_code == 200


def test_late_arrivals_reports_in_progress_and_failing_windows(emulator: XimaEmulator) -> None:
    with client(emulator) as http:
        before = len(http.get(LIST, params=window()).json())
        emulator.add_late_recording(datetime.now(UTC) - timedelta(hours=3))
        assert len(http.get(LIST, params=window()).json()) == before + 1
        emulator.pending_reports = 1
        assert http.get(LIST, params=window()).status_code == 202
        assert http.get(LIST, params=window()).status_code == 200
        emulator.failing_at = datetime.now(UTC) - timedelta(hours=1)
        assert http.get(LIST, params=window()).status_code == 503
        assert http.get(LIST, params=window(0.5)).status_code == 200


def test_wrapped_answers() -> None:
    server = XimaEmulator(XimaTenant(name="t", token=TOKEN, recordings=2, wrap="data"), rate_limit=None).start()
    try:
        with client(server) as http:
            body = http.get(LIST, params=window()).json()
        assert isinstance(body, dict) and len(body["data"]) == 2
    finally:
        server.stop()
