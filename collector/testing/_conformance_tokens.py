"""The conformance suite's checks for vendors whose tokens are short-lived or rotate.

An emulation declares its vendor's token shape with `short_tokens = True` (access tokens that live
seconds or minutes: have the emulator issue them with a lifetime of 1-3 s during the suite, so the
suite's runs outlast several of them) and/or `token_rotation = True` (refresh tokens that work
once: every refresh answers a new one and the old one is refused), and implements
`token_audit()`, usually the `audit()` of the `collector.emulator.TokenEndpoint` its emulator
mounts (add several with `+`). The suite then checks, across a run, a run killed with SIGKILL,
its resumption and (with `short_tokens`) a run slowed to outlast several token lifetimes, that:

- the vendor never saw a refresh token used twice (each new one was kept, across processes);
- no request arrived with an access token that had expired (renewed before expiry, and checked
  again after the wait for a rate-limit slot);
- the vendor refused no token request;
- the token requests stay near the minimum: one per tenant and process, plus one per half
  lifetime of running (a token is reused until near its expiry, never fetched per request).

SIGKILL and rotation: the only valid refresh token is lost if a process dies between the vendor's
answer and the moment the new token is on disk (milliseconds per refresh); no client can avoid
that. The suite's kills (here and in the other SIGKILL tests) therefore wait for a moment when no
token request has been answered for a little while, so they test resumption, not that window.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from collector._base._exits import EXIT_OK
from collector._storage._store import CATALOG_NAME

from ._emulation import Emulation, Expectations
from ._harness import collect, inspect_store, wait_until_committed

if TYPE_CHECKING:
    from ._harness import StoreContents

_LONG_RUN_RECORDINGS = 40
"""Arrivals per tenant for the slowed run that must outlast several short-lived tokens."""

_QUIET = 0.25
"""Seconds without a token answer before a kill is safe from the rotation window."""


def wait_for_quiet_tokens(emulation: Any, *, timeout: float = 30.0) -> None:
    """For an emulation with token traits: wait until no token request is being answered and none
    has been for a little while (a safe moment to SIGKILL a run); for others, return at once."""
    if not (getattr(emulation, "short_tokens", False) or getattr(emulation, "token_rotation", False)):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        audit = emulation.token_audit()
        if audit.in_flight == 0 and (audit.last_answer is None or time.monotonic() - audit.last_answer >= _QUIET):
            return
        time.sleep(0.01)


class TokenConformance:
    """The token checks, inherited by `SourceConformance`."""

    config_for: Callable[..., Path]
    assert_complete: Callable[[StoreContents, Expectations], None]

    def test_tokens_are_reused_renewed_and_rotated_safely(self, tmp_path: Path, emulation: Emulation) -> None:
        if not (emulation.short_tokens or emulation.token_rotation):
            pytest.skip("the emulation declares neither short-lived nor rotating tokens")
        config = self.config_for(tmp_path, emulation)
        tenants = len(emulation.sources())
        started = time.monotonic()
        first = collect(config)
        assert first.exit_code == EXIT_OK, [s.messages for s in first.summaries]
        emulation.add_recordings(12)
        emulation.set_latency(0.02)
        _kill_when_tokens_are_quiet(tmp_path, emulation, config)
        emulation.set_latency(0.0)
        resumed = collect(config)
        assert resumed.exit_code == EXIT_OK, [s.messages for s in resumed.summaries]
        lifetime = emulation.token_audit().lifetime
        if emulation.short_tokens:  # a run that outlasts several tokens: renewed in time, not per request
            emulation.add_recordings(_LONG_RUN_RECORDINGS)
            emulation.set_latency(lifetime / 10)
            before = time.monotonic()
            long = collect(config)
            lasted = time.monotonic() - before
            emulation.set_latency(0.0)
            assert long.exit_code == EXIT_OK, [s.messages for s in long.summaries]
            assert lasted >= 1.5 * lifetime, (
                f"the slowed run lasted {lasted:.1f} s, under 1.5 token lifetimes ({lifetime:g} s): have the "
                "emulator issue shorter-lived tokens (1-3 s) so the suite can check their renewal")
        self.assert_complete(inspect_store(tmp_path / "store"), emulation.expected())
        elapsed = time.monotonic() - started
        audit = emulation.token_audit()
        assert audit.reused_refresh_tokens == 0, (
            f"the vendor saw {audit.reused_refresh_tokens} refresh token(s) used again: a rotated refresh token "
            "was not kept (save it with a TokenStore before using the access token)")
        assert audit.expired_arrivals == 0, (
            f"{audit.expired_arrivals} request(s) arrived with an expired access token: tokens must be renewed "
            "before they expire")
        assert audit.refused == 0, f"the vendor refused {audit.refused} token request(s)"
        processes = 4 if emulation.short_tokens else 3  # the first run, the killed one, its resumption, the long one
        most = tenants * (processes + math.ceil(elapsed / (audit.lifetime / 2))) if audit.lifetime else math.inf
        assert audit.token_requests <= most, (
            f"{audit.token_requests} token requests for {tenants} tenant(s) in {elapsed:.1f} s of {processes} runs "
            f"with {audit.lifetime:g} s tokens (at most {most}): tokens are fetched again long before they expire")


def _kill_when_tokens_are_quiet(tmp_path: Path, emulation: Emulation, config: Path) -> None:
    """`collector run` in a subprocess, SIGKILLed once it committed some work, between token requests."""
    log_file = tmp_path / "killed-run.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "collector", "--config", str(config), "run"],
                                   stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_until_committed(tmp_path / "store" / CATALOG_NAME, process, recordings=3)
            wait_for_quiet_tokens(emulation)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, log_file.read_text()
