"""Waiting for a `kurultai serve` process that a test started."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx


def wait_healthy(url: str, proc: subprocess.Popen[Any], timeout: float = 30.0) -> bool:
    """Polls `GET {url}/api/health` until it answers 200 (True), or the process exits or the
    time runs out (False); the caller reports the failure with its own log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False
