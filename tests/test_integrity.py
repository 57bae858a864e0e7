"""Exact integrity end to end, over real HTTP: bodies cut together with their Content-Length, and a
valid file of another recording, against what the vendor said and what the file says of itself.

The transfer cannot see a body cut with a Content-Length cut to match; the container's exact
self-description (MP3 Xing/LAME counts and CRC, Ogg pages, WAV chunk sizes) or the vendor's own size
or checksum must. What nothing stronger than a decode vouches for is stored as "decodes", never as
proven (collector/_storage/_proof.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collector import AudioExpectation, hookimpl
from collector._cli._main import run_cli
from collector._storage._mp3 import mpeg_frame_length
from collector.emulator import Request, Response, synth_audio
from collector.engine import EXIT_PARTIAL, Plugins
from collector.testing import collect, query_catalog, write_config

TYPES = {"mp3-lame": "audio/mpeg", "mp3-no-xing": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}


def _mp3_frames(data: bytes) -> list[int]:
    sizes, at = [], 0
    while at + 4 <= len(data) and (length := mpeg_frame_length(data[at:at + 4])):
        sizes.append(length)
        at += length
    return sizes


def _ogg_pages(data: bytes) -> list[int]:
    sizes, at = [], 0
    while at + 27 <= len(data):
        count = data[at + 26]
        length = 27 + count + sum(data[at + 27:at + 27 + count])
        sizes.append(length)
        at += length
    return sizes


def _body(kind: str, seed: str) -> bytes:
    if kind == "opus":
        return synth_audio(seed, duration=3.0, fmt="ogg-opus")
    data = synth_audio(seed, duration=3.0, fmt="mp3" if kind.startswith("mp3") else "wav")
    return data[_mp3_frames(data)[0]:] if kind == "mp3-no-xing" else data  # without its Xing/Info frame


def _cut(kind: str, data: bytes, cut: str) -> bytes:
    last = {"mp3-lame": _mp3_frames, "mp3-no-xing": _mp3_frames, "opus": _ogg_pages}.get(kind)
    size = {"1 byte": 1, "700 bytes": 700, "one frame": last(data)[-1] if last else 2}[cut]
    return data[:-size]


@pytest.fixture
def vendor(Toy: type[Any]) -> Any:
    """A toy vendor whose audio answers are set per item (`bodies`), each with its true Content-Length."""

    class Vendor(Toy):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(0)
            self.bodies: dict[str, tuple[bytes, str]] = {}
            self.headers: dict[str, dict[str, str]] = {}

        def audio(self, request: Request, item_id: str) -> Response:
            self._auth(request)
            data, media_type = self.bodies[item_id]
            return Response(200, data, media_type, self.headers.get(item_id, {}))

    with Vendor() as running:
        yield running


def _add(vendor: Any, vendor_id: str, body: bytes, media_type: str, **listed: Any) -> None:
    """A recording the vendor lists (3 s long; no size unless `listed` gives one) and serves as `body`."""
    (new,) = vendor.add(1)
    item = next(i for i in vendor.items if i["id"] == new)
    item.pop("size")
    item.update({"id": vendor_id, "duration": 3.0, **listed})
    vendor.bodies[vendor_id] = (body, media_type)


def _stored(store: Path) -> dict[str, tuple[str, str | None, list[str]]]:
    return {vendor_id: (status, evidence, json.loads(checks) if checks else [])
            for vendor_id, status, evidence, checks in query_catalog(
                store, "SELECT vendor_id, status, evidence, checks FROM audio")}


def test_a_body_cut_with_its_content_length_is_never_stored_as_proven(
        tmp_path: Path, vendor: Any, toy_source: Callable[..., Any], toy_plugins: Plugins,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No size in the listing: only the file itself can tell. Every cut of an exact container is
    quarantined; an MP3 without Xing cut on a frame boundary is stored, but as "decodes" only."""
    for kind in TYPES:
        whole = _body(kind, f"{kind}-whole")
        for cut in ("", "1 byte", "one frame", "700 bytes"):
            _add(vendor, f"{kind}-{cut.replace(' ', '-') or 'whole'}", _cut(kind, whole, cut) if cut else whole,
                 TYPES[kind])
    config = write_config(tmp_path, [toy_source(vendor, transcripts=False, max_attempts=1)])
    assert collect(config, toy_plugins).exit_code == EXIT_PARTIAL
    outcome = _stored(tmp_path / "store")
    for kind in TYPES:
        assert outcome[f"{kind}-whole"][:2] == ("stored", "decodes" if kind == "mp3-no-xing" else "complete")
        assert "transfer" in outcome[f"{kind}-whole"][2]
        for cut in ("1-byte", "one-frame", "700-bytes"):
            expected = ("stored", "decodes") if (kind, cut) == ("mp3-no-xing", "one-frame") else ("quarantined", None)
            assert outcome[f"{kind}-{cut}"][:2] == expected, (kind, cut, outcome[f"{kind}-{cut}"])
    capsys.readouterr()
    assert run_cli(["--config", str(config), "status", "--json"], toy_plugins) == 0
    (tenant,) = json.loads(capsys.readouterr().out)["tenants"]
    assert tenant["evidence"] == {"complete": 3, "decodes": 2}  # status says which are proven


def test_the_vendors_size_and_checksum_catch_what_the_file_cannot(
        tmp_path: Path, vendor: Any, toy_source: Callable[..., Any], toy_source_class: type[Any]) -> None:
    """With the vendor's size every cut is caught, even on a frame boundary of a file without Xing;
    with its checksum, so is a complete, valid file of another recording of the same size."""
    class Checked(toy_source_class):  # type: ignore[misc]
        def expected_audio(self, recording: Any) -> AudioExpectation:
            expectation = super().expected_audio(recording)
            checksum = recording.raw.get("sha256")
            return AudioExpectation(expectation.duration, size=expectation.size,
                                    checksum=f"sha256:{checksum}" if checksum else None)

    whole, other = _body("mp3-no-xing", "ours"), _body("mp3-no-xing", "another call")
    assert len(whole) == len(other) and whole != other
    for vendor_id, data, listed in (("cut-frame", _cut("mp3-no-xing", whole, "one frame"), {"size": len(whole)}),
                                    ("swapped", other, {"sha256": hashlib.sha256(whole).hexdigest()}),
                                    ("swapped-unchecked", other, {}),
                                    ("proven", whole, {"sha256": hashlib.sha256(whole).hexdigest()})):
        _add(vendor, vendor_id, data, "audio/mpeg", **listed)
    plugins = Plugins(entry_points_group=None, extra=[_Registering(Checked)])
    config = write_config(tmp_path, [toy_source(vendor, transcripts=False, max_attempts=1)])
    assert collect(config, plugins).exit_code == EXIT_PARTIAL
    outcome = _stored(tmp_path / "store")
    assert outcome["cut-frame"][0] == "quarantined" and outcome["swapped"][0] == "quarantined"
    assert outcome["swapped-unchecked"][:2] == ("stored", "decodes")  # the limit, said as it is
    assert outcome["proven"][:2] == ("stored", "checksum") and "vendor-checksum" in outcome["proven"][2]
    reasons = dict(query_catalog(tmp_path / "store", "SELECT vendor_id, reason FROM audio WHERE status='quarantined'"))
    assert f"The vendor announced {len(whole):,} bytes" in reasons["cut-frame"]
    assert "differs from the vendor's checksum" in reasons["swapped"]


def test_a_checksum_the_download_states_in_its_headers_is_checked(
        tmp_path: Path, vendor: Any, toy_source: Callable[..., Any], toy_source_class: type[Any]) -> None:
    """A vendor that states the checksum only with the download: the standard digest headers
    (RFC 9530 `Repr-Digest`, RFC 3230 `Digest`, `Content-MD5`) are checked whatever the plugin,
    the vendor's own header when `checksum_header` names it (hex). A valid file of another
    recording of the same size is caught by each; a matching one is proven by it."""
    class Headed(toy_source_class):  # type: ignore[misc]
        def expected_audio(self, recording: Any) -> AudioExpectation:
            return AudioExpectation(super().expected_audio(recording).duration, checksum_header="sha256:X-Toy-Sha256")

    whole, other = _body("mp3-no-xing", "ours"), _body("mp3-no-xing", "another call")
    sha256, md5 = hashlib.sha256(whole), hashlib.md5(whole)
    stated = {"repr-digest": {"Repr-Digest": f"sha-256=:{base64.b64encode(sha256.digest()).decode()}:"},
              "digest": {"Digest": f"MD5={base64.b64encode(md5.digest()).decode()}"},
              "content-md5": {"Content-MD5": base64.b64encode(md5.digest()).decode()},
              "own-header": {"X-Toy-Sha256": sha256.hexdigest()}}
    for name, headers in stated.items():
        for vendor_id, data in ((f"{name}-proven", whole), (f"{name}-swapped", other)):
            _add(vendor, vendor_id, data, "audio/mpeg")
            vendor.headers[vendor_id] = headers
    plugins = Plugins(entry_points_group=None, extra=[_Registering(Headed)])
    config = write_config(tmp_path, [toy_source(vendor, transcripts=False, max_attempts=1)])
    assert collect(config, plugins).exit_code == EXIT_PARTIAL
    outcome = _stored(tmp_path / "store")
    reasons = dict(query_catalog(tmp_path / "store", "SELECT vendor_id, reason FROM audio WHERE status='quarantined'"))
    for name in stated:
        assert outcome[f"{name}-proven"][:2] == ("stored", "checksum"), (name, outcome[f"{name}-proven"])
        assert "vendor-checksum" in outcome[f"{name}-proven"][2]
        assert outcome[f"{name}-swapped"][0] == "quarantined", (name, outcome[f"{name}-swapped"])
        assert "header states, so it is not the file the vendor sent" in reasons[f"{name}-swapped"]
    assert "the download's x-toy-sha256 header" in reasons["own-header-swapped"]


class _Registering:
    """A plugin registering one source class (a test's subclass of the toy source)."""

    def __init__(self, source: type[Any]) -> None:
        self.source = source

    @hookimpl
    def collector_register_sources(self, register: Callable[[type[Any]], None]) -> None:
        register(self.source)
