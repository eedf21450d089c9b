"""Start ``blockade app`` as the user does (``blockade app --no-browser --port P``) for the app's tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(folder: Path, *extra: str, timeout: float = 90, env: dict | None = None):
    """Yield ``(url, log_path)`` of a running app; stop it afterwards (the log is left for assertions)."""
    port = free_port()
    log = folder / "app.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen([sys.executable, "-c", "from occupancy.cli import main; main()", "app",
                                 "--no-browser", "--port", str(port), *extra], stdout=handle,
                                stderr=subprocess.STDOUT, cwd=folder,
                                env=None if env is None else {**os.environ, **env})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"blockade app did not start: {log.read_text(errors='replace')}")
            time.sleep(0.3)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
