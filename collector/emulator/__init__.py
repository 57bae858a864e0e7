"""Tools for building vendor emulators: real HTTP servers on 127.0.0.1 with limits and faults.

Plugins ship an emulator of their vendor's API, built from the vendor's documentation, for their
tests and for `collector demo`:

- `EmulatorServer`, `Request`, `Response`, `EmulatorError`: routes, parsing, streamed answers,
  a server-side sliding-window rate limit and a request log;
- `FaultPlan` (each server's `.faults`): scripted or random 500, 503, 429, dropped connections,
  malformed JSON, HTML instead of audio, truncated bodies, slow answers;
- `synth_audio`, `wav_stream`, `truncated`: real, unique, decodable audio.
"""

from ._audio import AUDIO_FORMATS, synth_audio, truncated, wav_duration_for_bytes, wav_stream
from ._server import (
    CONTENT_FAULTS,
    LOOPBACK,
    TRANSIENT_FAULTS,
    EmulatorError,
    EmulatorServer,
    FaultPlan,
    LoggedRequest,
    Request,
    Response,
)

__all__ = [
    "AUDIO_FORMATS",
    "CONTENT_FAULTS",
    "LOOPBACK",
    "TRANSIENT_FAULTS",
    "EmulatorError",
    "EmulatorServer",
    "FaultPlan",
    "LoggedRequest",
    "Request",
    "Response",
    "synth_audio",
    "truncated",
    "wav_duration_for_bytes",
    "wav_stream",
]
