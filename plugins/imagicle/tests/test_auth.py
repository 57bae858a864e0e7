"""Authentication over real HTTP: static token, client credentials, renewal mid-run, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.testing import collect, find_secrets, inspect_store
from collector_imagicle.testing import ImagicleEmulation


def complete(tmp_path: Path, emulation: ImagicleEmulation, name: str) -> bool:
    return bool(inspect_store(tmp_path / "store").recordings[name] == emulation.account(name).valid_ids())


def test_a_static_bearer_token_works_without_any_token_request(tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    result = collect(imagicle.config(tmp_path, "two"))
    assert result.exit_code == 0 and complete(tmp_path, imagicle, "two")
    assert imagicle.emulator.count(kind="auth") == 0


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_client_credentials_work_with_either_way_of_sending_them(
        tmp_path: Path, imagicle: ImagicleEmulation, client_auth: str) -> None:
    source = imagicle.source("one")
    result = collect(imagicle.config(tmp_path, "one", oauth={**source["oauth"], "client_auth": client_auth}))
    assert result.exit_code == 0 and complete(tmp_path, imagicle, "one")
    assert imagicle.emulator.count(kind="auth", status=200) == 1  # one token, cached for the whole run


def test_a_token_revoked_mid_run_is_renewed_once_and_the_run_completes(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    imagicle.emulator.revoke_tokens_after(3)
    result = collect(imagicle.config(tmp_path, "one"))
    assert result.exit_code == 0, result.summaries[0].messages
    assert complete(tmp_path, imagicle, "one")
    assert imagicle.emulator.count(status=401) >= 1
    assert imagicle.emulator.count(kind="auth", status=200) == 2


def test_a_short_lived_token_is_renewed_before_it_expires(tmp_path: Path) -> None:
    emulation = ImagicleEmulation()
    try:
        emulation.account("one").token_lifetime = 0.5
        emulation.set_latency(0.02)  # the run lasts well beyond one token lifetime
        result = collect(emulation.config(tmp_path, "one"))
        assert result.exit_code == 0 and complete(tmp_path, emulation, "one")
        assert emulation.emulator.count(kind="auth", status=200) >= 2
    finally:
        emulation.close()


def test_refused_client_credentials_stop_the_tenant_with_a_clear_message_and_no_secret(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    wrong = "wrong-secret-" + os.urandom(6).hex()
    os.environ["TEST_IMAGICLE_WRONG"] = wrong
    try:
        source = imagicle.source("one")
        oauth = {**source["oauth"], "client_secret": {"env": "TEST_IMAGICLE_WRONG"}}
        result = collect(imagicle.config(tmp_path, "one", oauth=oauth))
    finally:
        os.environ.pop("TEST_IMAGICLE_WRONG")
    (summary,) = result.summaries
    assert result.exit_code == 1 and summary.status.value == "stopped"
    (message,) = summary.messages
    assert "refused the credentials at POST /oauth2/token (HTTP 401: invalid_client)" in message
    assert "client_id ('collector-one')" in message
    assert wrong not in message and imagicle.emulator.count(kind="metadata") == 0
    assert find_secrets([tmp_path], [wrong]) == []


def test_an_unknown_static_token_is_reported_as_refused_credentials(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    os.environ["TEST_IMAGICLE_REVOKED"] = "revoked-" + os.urandom(6).hex()
    try:
        result = collect(imagicle.config(tmp_path, "two", token={"env": "TEST_IMAGICLE_REVOKED"}))
    finally:
        os.environ.pop("TEST_IMAGICLE_REVOKED")
    (message,) = result.summaries[0].messages
    assert "refused the credentials when listing recordings (HTTP 401" in message and "revoked-" not in message
    assert imagicle.emulator.count(kind="metadata") == 1  # a static token cannot be renewed: no retry loop


def test_a_standard_user_is_told_an_administrator_or_controller_identity_is_needed(
        tmp_path: Path, imagicle: ImagicleEmulation) -> None:
    standard = "standard-" + os.urandom(6).hex()
    imagicle.account("two").static_tokens[standard] = "standard"
    os.environ["TEST_IMAGICLE_STANDARD"] = standard
    try:
        result = collect(imagicle.config(tmp_path, "two", token={"env": "TEST_IMAGICLE_STANDARD"}))
    finally:
        os.environ.pop("TEST_IMAGICLE_STANDARD")
    (summary,) = result.summaries
    assert result.exit_code == 1
    (message,) = summary.messages
    assert "HTTP 403" in message and "administrator or controller identity" in message
    assert standard not in message
