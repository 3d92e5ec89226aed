"""Waiting for a `kurultai serve` process that a test started."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx


def wait_healthy(url: str, proc: subprocess.Popen[Any], timeout: float = 30.0, *, uds: str | None = None) -> bool:
    """Polls `GET {url}/api/health` (on the Unix socket ``uds`` when given) until it answers 200
    (True), or the process exits or the time runs out (False); the caller reports the failure
    with its own log."""
    deadline = time.monotonic() + timeout
    with httpx.Client(transport=httpx.HTTPTransport(uds=uds), timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if (uds is None or _listening(uds)) and client.get(f"{url}/api/health").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return False


def _listening(uds: str) -> bool:
    """Whether a server accepts on the Unix socket (probed first: httpx's transport leaves its
    socket open when the connection is refused)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(uds)
        except OSError:
            return False
    return True
