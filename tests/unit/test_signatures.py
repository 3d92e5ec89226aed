"""Ballot signature checks in worker processes (`voting.signatures`, `voting.sigworker`).

These start real `python -m voting.sigworker` processes and talk to them over their pipes."""

from __future__ import annotations

import asyncio
import io
import os
import signal

import pytest

from voting.core.keys import Signer
from voting.signatures import SignatureChecks
from voting.sigworker import ANSWER_HEAD, ITEM_HEAD, REQUEST_HEAD, check_frame, serve


def _signed(n: int, message: bytes = b"ballot") -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for i in range(n):
        signer = Signer.generate()
        msg = message + str(i).encode()
        out.append((signer.public_key_raw, msg, signer.sign(msg)))
    return out


def _tampered(checks: list[tuple[bytes, bytes, bytes]]) -> list[tuple[bytes, bytes, bytes]]:
    """Every other check broken: message changed, signature bit flipped, or another key."""
    out = []
    for i, (key, msg, sig) in enumerate(checks):
        if i % 6 == 1:
            msg = msg + b"!"
        elif i % 6 == 3:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        elif i % 6 == 5:
            key = checks[(i + 1) % len(checks)][0]
        out.append((key, msg, sig))
    return out


def test_worker_frames_answer_each_check_in_order() -> None:
    checks = _tampered(_signed(12))
    body = b"".join(ITEM_HEAD.pack(k, s, len(m)) + m for k, m, s in checks)
    stdin = io.BytesIO(REQUEST_HEAD.pack(7, len(checks), len(body)) + body + REQUEST_HEAD.pack(8, 0, 0))
    stdout = io.BytesIO()
    serve(stdin, stdout)
    out = stdout.getvalue()
    want = bytes(0 if i % 2 else 1 for i in range(12))
    assert out == ANSWER_HEAD.pack(7, 12) + want + ANSWER_HEAD.pack(8, 0)
    assert check_frame(body, 12) == want


def test_worker_stops_at_a_frame_cut_short() -> None:
    stdout = io.BytesIO()
    serve(io.BytesIO(REQUEST_HEAD.pack(1, 1, 500) + b"x" * 10), stdout)
    assert stdout.getvalue() == b""


@pytest.mark.parametrize("processes", [2, 0], ids=["processes", "threads"])
async def test_checks_give_the_signatures_answer(processes: int) -> None:
    checks = SignatureChecks(processes)
    try:
        cases = _tampered(_signed(40))
        answers = await asyncio.gather(*(checks.verify(k, m, s) for k, m, s in cases))
        assert answers == [i % 2 == 0 for i in range(40)]
        assert checks.started == processes
        # Keys and signatures of the wrong size are refused without a worker.
        assert await checks.verify(b"k" * 31, b"m", b"s" * 64) is False
        assert await checks.verify(cases[0][0], cases[0][1], cases[0][2] + b"\0") is False
    finally:
        await checks.stop()


async def test_large_batches_and_messages_cross_the_pipes() -> None:
    """More than a pipe buffer (64 KiB) at once: the rest is written when the pipe drains."""
    checks = SignatureChecks(1, max_chunk=1000)
    try:
        cases = _signed(300, message=b"m" * 2000)
        assert all(await asyncio.gather(*(checks.verify(k, m, s) for k, m, s in cases)))
    finally:
        await checks.stop()


async def test_a_killed_worker_loses_no_check_and_is_replaced() -> None:
    checks = SignatureChecks(1, max_chunk=4)
    try:
        cases = _tampered(_signed(6))
        assert await checks.verify(*cases[0]) is True
        [pid] = checks.worker_pids
        os.kill(pid, signal.SIGKILL)
        answers = await asyncio.gather(*(checks.verify(k, m, s) for k, m, s in cases))
        assert answers == [i % 2 == 0 for i in range(6)]
        assert await checks.verify(*cases[2]) is True
        assert checks.started == 2 and checks.worker_pids and checks.worker_pids != [pid]
    finally:
        await checks.stop()


async def test_checks_wait_for_room_and_lose_nothing_when_the_worker_dies() -> None:
    """One worker, frames of two checks, two frames in flight: the other checks wait in the
    server for an answer, and when the worker is killed with frames in flight, those run in the
    server and the waiting ones go to a new worker."""
    checks = SignatureChecks(1, max_chunk=2)
    try:
        cases = _tampered(_signed(24))
        answers = await asyncio.gather(*(checks.verify(k, m, s) for k, m, s in cases))
        assert answers == [i % 2 == 0 for i in range(24)]
        [pid] = checks.worker_pids
        futures = [checks.verify(k, m, s) for k, m, s in cases]
        await asyncio.sleep(0)  # the flush: two frames of two go out, twenty checks wait
        assert len(checks._pending) == 20
        os.kill(pid, signal.SIGKILL)
        assert await asyncio.gather(*futures) == [i % 2 == 0 for i in range(24)]
        assert checks.started == 2 and checks.worker_pids != [pid]
    finally:
        await checks.stop()


@pytest.mark.parametrize(
    ("executable", "processes", "started", "logged"),
    [
        ("/nonexistent/python", 2, 0, "cannot start a signature-check worker"),
        ("/bin/false", 1, 1, "stopped before its first answer"),  # starts, exits at once
    ],
)
async def test_workers_that_cannot_run_leave_the_checks_to_threads(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, executable: str, processes: int, started: int, logged: str
) -> None:
    """A worker that cannot start, or exits before its first answer: its checks run on the
    threads, and no new worker is started in a loop."""
    monkeypatch.setattr("voting.signatures.sys.executable", executable)
    checks = SignatureChecks(processes)
    try:
        cases = _tampered(_signed(4))
        answers = await asyncio.gather(*(checks.verify(k, m, s) for k, m, s in cases))
        assert answers == [True, False, True, False]
        assert await checks.verify(*cases[0]) is True
        assert checks.started == started and checks.worker_pids == []
        assert logged in caplog.text
    finally:
        await checks.stop()


async def test_stop_ends_every_worker() -> None:
    checks = SignatureChecks(2)
    checks.start()
    pids = checks.worker_pids
    assert len(pids) == 2
    await checks.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: no zombie left either
    assert checks.worker_pids == []
