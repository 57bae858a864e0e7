"""The emulator follows the vendor's page: parameters, 400s, ordering, totals, transcription 204/404, tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from collector_imagicle.testing import ImagicleEmulation


def listing(emulation: ImagicleEmulation, **params: Any) -> httpx.Response:
    token = next(iter(emulation.account("two").static_tokens))
    return httpx.get(emulation.emulator.api_url + "/v1/recordings", params=params,
                     headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("params", "message"), [
    ({"from": 0}, "quantity is required"),
    ({"quantity": 10}, "from is required"),
    ({"quantity": 0, "from": 0}, "quantity must be at least 1"),
    ({"quantity": 10, "from": -1}, "from must be at least 0"),
    ({"quantity": "ten", "from": 0}, "quantity must be a number"),
    ({"quantity": 10, "from": 0, "enddate": "2026-01-02T00:00:00Z"}, "startdate is required if enddate is provided"),
    ({"quantity": 10, "from": 0, "startdate": "2026-01-02T00:00:00Z", "enddate": "2026-01-01T00:00:00Z"},
     "enddate must be after startdate"),
    ({"quantity": 10, "from": 0, "startdate": "yesterday"}, "startdate must be an ISO date string"),
    ({"quantity": 10, "from": 0, "sentiment": "POSITIVE,HAPPY"}, "unknown sentiment HAPPY"),
])
def test_bad_parameters_answer_400(imagicle: ImagicleEmulation, params: dict[str, Any], message: str) -> None:
    response = listing(imagicle, **params)
    assert response.status_code == 400 and response.json() == {"message": message}


def test_the_list_is_newest_first_with_the_total_of_the_filtered_set(imagicle: ImagicleEmulation) -> None:
    first = listing(imagicle, quantity=5, **{"from": 0}).json()
    rest = listing(imagicle, quantity=100, **{"from": 5}).json()
    dates = [r["date"] for r in first["recordings"] + rest["recordings"]]
    assert first["total"] == 12 and len(dates) == 12 and dates == sorted(dates, reverse=True)
    negative = listing(imagicle, quantity=100, sentiment="NEGATIVE", **{"from": 0}).json()
    assert negative["total"] == len(negative["recordings"]) < 12
    assert all(r["analysisResult"]["sentiment"] == "NEGATIVE" for r in negative["recordings"])


def test_transcriptions_answer_200_204_or_404(imagicle: ImagicleEmulation) -> None:
    token = next(iter(imagicle.account("two").static_tokens))

    def status(recording_id: str) -> int:
        return httpx.get(f"{imagicle.emulator.api_url}/v1/recordings/{recording_id}/transcription",
                         headers={"Authorization": f"Bearer {token}"}).status_code

    (later,) = imagicle.emulator.add_recordings("two", 1, transcript="later")
    assert later.id is not None
    ready, never = (sorted(imagicle.transcript_ids("two", kind))[0] for kind in ("ready", "never"))
    assert (status(ready), status(later.id), status(never)) == (200, 204, 404)
    imagicle.emulator.make_transcripts_ready()
    assert status(later.id) == 200


def test_the_token_route_checks_grant_type_and_client(imagicle: ImagicleEmulation) -> None:
    url, secret = imagicle.emulator.token_url, imagicle.account("one").clients["collector-one"]
    assert httpx.post(url, data={"grant_type": "password"}).json() == {"error": "unsupported_grant_type"}
    assert httpx.post(url, data={"grant_type": "client_credentials"}, auth=("collector-one", "x")).status_code == 401
    good = httpx.post(url, data={"grant_type": "client_credentials", "client_id": "collector-one",
                                 "client_secret": secret}).json()
    assert good["token_type"] == "Bearer" and good["expires_in"] == 300.0
    response = httpx.get(imagicle.emulator.api_url + "/v1/recordings", params={"quantity": 1, "from": 0},
                         headers={"Authorization": f"Bearer {good['access_token']}"})
    assert response.status_code == 200
    imagicle.emulator.expire_tokens()
    response = httpx.get(imagicle.emulator.api_url + "/v1/recordings", params={"quantity": 1, "from": 0},
                         headers={"Authorization": f"Bearer {good['access_token']}"})
    assert response.status_code == 401
