"""Wait until a server process answers HTTP 200 on a URL, or fail with a clear message."""

from __future__ import annotations

import subprocess
import time

import requests


class NotReadyError(RuntimeError):
    """The server exited or did not answer in time."""


def wait_for_http(url: str, proc: subprocess.Popen, name: str, timeout: float,
                  hint: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NotReadyError(f"{name} exited with {proc.returncode}{hint}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise NotReadyError(f"{name} did not answer {url} in {timeout:.0f}s{hint}")
