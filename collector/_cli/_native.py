"""What native libraries print on file descriptor 2, routed through the logger (see `capture_native_stderr`).

A module of its own, importing nothing heavy: the `collector` command installs it before parsing
its arguments, and `collector --help` must stay quick.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def capture_native_stderr() -> None:
    """Route what native libraries write straight to file descriptor 2 through the logger.

    libmpg123 (inside libsndfile) prints decoder warnings with C's stderr, which Python logging
    cannot see: they would break a JSON log stream and bypass redaction. So file descriptor 2
    becomes a pipe read by a thread that logs each line ("collector.native", INFO), and Python's
    own `sys.stderr` (the log handler's stream) writes to the original descriptor. Called once by
    the `collector` command, never by code embedding the collector.

    The interpreter's own `-X importtime` (`PYTHONPROFILEIMPORTTIME`) report is written with C's
    stderr too: its lines ("import time: ...") are passed through to the original descriptor as they
    are, not relabelled as a native library's messages.
    """
    if getattr(capture_native_stderr, "installed", False):
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    sys.stderr = open(original, "w", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115

    importtime = "importtime" in sys._xoptions or bool(os.environ.get("PYTHONPROFILEIMPORTTIME"))

    def pump() -> None:
        import logging

        native = logging.getLogger("collector.native")
        with open(read_end, "rb", buffering=0) as pipe:
            for line in iter(pipe.readline, b""):
                if importtime and line.startswith(b"import time:"):
                    os.write(original, line)
                    continue
                text = line.decode("utf-8", "replace").strip()
                if text:
                    native.info("A native library said: %s", text, extra={"event": "native_message"})

    reader = threading.Thread(target=pump, name="native-stderr", daemon=True)
    reader.start()

    def drain() -> None:
        os.dup2(original, 2)  # closes the pipe's last write end: the reader sees the end and stops
        reader.join(timeout=1.0)

    atexit.register(drain)
    setattr(capture_native_stderr, "installed", True)  # noqa: B010
