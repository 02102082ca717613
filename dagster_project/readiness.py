"""Servers we start: a free port to put them on, a clear error when a port is taken, and a wait
until the process answers HTTP 200 on a URL."""

from __future__ import annotations

import socket
import subprocess
import time

import requests


class NotReadyError(RuntimeError):
    """The server cannot start where asked, exited, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_port_free(host: str, port: int, variable: str) -> None:
    """Fail clearly when something already listens where a server should start."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise NotReadyError(f"{host}:{port} is already in use ({exc.strerror}); stop what "
                                f"runs there or choose another port with {variable}") from exc


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
