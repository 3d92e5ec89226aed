"""Run a real `kurultai serve` process for a test (SQLite data directory or PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.serving import wait_healthy

KURULTAI = [sys.executable, "-m", "kurultai.cli"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, port: int, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KURULTAI_")}
    env.update({"KURULTAI_DATA_DIR": str(data_dir), "KURULTAI_PORT": str(port), **extra})
    if database_url:
        env["KURULTAI_DATABASE_URL"] = database_url
    return env


def cli(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*KURULTAI, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"kurultai {' '.join(args)} exited {proc.returncode}: {proc.stdout} {proc.stderr}")
    return proc


def seed(env: dict[str, str], voters: int, *, open_election: bool = True) -> dict[str, Any]:
    args = [sys.executable, "-m", "tests.reliability.seed", str(voters)] + ([] if open_election else ["--draft"])
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"seeding failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Server:
    """One `kurultai serve` process; `kill()` is SIGKILL, `start()` starts it again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.url = f"http://127.0.0.1:{env['KURULTAI_PORT']}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("a")
        self.proc = subprocess.Popen([*KURULTAI, "serve"], env=self.env, stdout=log, stderr=log, text=True, cwd=ROOT)
        log.close()
        if wait_healthy(self.url, self.proc, timeout):
            return
        self.kill()
        raise AssertionError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


@contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[Server]:
    server = Server(env, log)
    server.start()
    try:
        yield server
    finally:
        server.stop()
