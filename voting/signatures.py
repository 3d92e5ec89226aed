"""Ballot signature checks off the event loop, in batches, in worker processes (issue #4: they
use every core).

`await checks.verify(public_key, message, signature)` is True when the Ed25519 signature
verifies. The checks asked for during one turn of the loop are grouped into frames, written to
the workers' pipes (at most two frames in flight per worker; the rest wait for the next answer),
and each answer resolves its frame's checks in one callback. The workers are
`python -m voting.sigworker` processes, one per core by default (`KURULTAI_SIGNATURE_PROCESSES`),
started with the app by `kurultai serve` (otherwise at the first check) and stopped with it.

Why processes and not threads: `cryptography`'s verify releases the GIL, but a thread has to
take the GIL back after every verification, and while the event loop runs Python (which, during
a vote, is nearly always) the thread waits for the interpreter's switch interval (5 ms) before it
gets it. Measured on the benchmark machine with a busy loop thread: two verifying threads
managed ~470 checks/s instead of ~13,000. With pipes the event loop is the only thread that
touches Python objects: it writes a frame (one system call) and reads the answers when the pipe
is readable, and the workers never wait for it.

With `processes=0` (or when a worker cannot be started) the checks run on a thread pool of one
thread per core in this process, as before. A worker that dies takes nothing with it: its
unanswered checks run again on that pool, and a new worker is started for the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from voting.core.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from voting.sigworker import ANSWER_HEAD, ITEM_HEAD, REQUEST_HEAD, check_frame

log = logging.getLogger("kurultai")

MAX_CHUNK = 256  # checks in one frame: a frame's answer waits for all of them
FRAMES_IN_FLIGHT = 2  # per worker: it starts the next frame while the loop reads its last answer
STOP_TIMEOUT_S = 2.0
_ROOT = str(Path(__file__).resolve().parent.parent)

Check = tuple[bytes, bytes, bytes, "asyncio.Future[bool]"]  # public key, message, signature, answer
Fallback = Callable[[asyncio.AbstractEventLoop, list[Check]], None]


def _frame_body(checks: Iterable[Check]) -> bytes:
    return b"".join([ITEM_HEAD.pack(key, signature, len(message)) + message for key, message, signature, _f in checks])


def _check_in_process(checks: list[Check]) -> bytes:
    """On a pool thread: the same answers a worker gives."""
    return check_frame(_frame_body(checks), len(checks))


class SignatureChecks:
    def __init__(self, processes: int | None = None, max_chunk: int = MAX_CHUNK) -> None:
        cores = os.cpu_count() or 1
        self.processes = cores if processes is None else max(0, processes)
        self.threads = cores
        self.max_chunk = max_chunk
        self._pending: list[Check] = []
        self._scheduled = False
        self._workers: list[_Worker] = []
        self._broken = False  # a worker could not start or died unused: check in this process
        self._stopped = False
        self._pool: ThreadPoolExecutor | None = None
        self.started = 0  # workers started so far

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
            future.set_result(False)
            return future
        self._pending.append((public_key, message, signature, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return future

    def start(self) -> None:
        """Start the workers now instead of at the first check (`kurultai serve` does, so that
        the first ballots of a vote do not wait for them to import)."""
        self._live_workers(asyncio.get_running_loop())

    @property
    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.alive]

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        self._dispatch(loop)

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the waiting checks to workers with room for another frame; the rest wait for
        the next answer (a busy worker would not read them sooner, and one frame then carries
        them all: fewer system calls and wake-ups on both sides)."""
        pending = [check for check in self._pending if not check[3].cancelled()]
        self._pending = []
        if not pending:
            return
        workers = self._live_workers(loop)
        if not workers:
            self._in_process(loop, pending)
            return
        ready = [w for w in workers if w.frames() < FRAMES_IN_FLIGHT]
        if not ready:
            self._pending = pending
            return
        ready.sort(key=_Worker.in_flight)
        size = min(self.max_chunk, -(-len(pending) // len(ready)))
        while pending and ready:
            for worker in ready:
                worker.send(pending[:size])
                pending = pending[size:]
                if not pending:
                    break
            ready = [w for w in ready if w.alive and w.frames() < FRAMES_IN_FLIGHT]
        self._pending = pending

    def _live_workers(self, loop: asyncio.AbstractEventLoop) -> list[_Worker]:
        if self.processes == 0 or self._broken or self._stopped:
            return []
        for worker in [w for w in self._workers if not w.alive]:
            self._workers.remove(worker)
            if not worker.answered:
                self._broken = True
                log.warning("a signature-check worker stopped before its first answer; checking signatures in the serving process from now on")
                return []
        while len(self._workers) < self.processes:
            try:
                self._workers.append(_Worker(loop, self._in_process, self._dispatch))
            except OSError as exc:
                self._broken = True
                log.warning("cannot start a signature-check worker (%s); checking signatures in the serving process", exc)
                return []
            self.started += 1
        return self._workers

    def _in_process(self, loop: asyncio.AbstractEventLoop, checks: list[Check]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="kurultai-signatures")
        size = -(-len(checks) // min(self.threads, len(checks)))
        for start in range(0, len(checks), size):
            chunk = checks[start : start + size]
            job = loop.run_in_executor(self._pool, _check_in_process, chunk)
            job.add_done_callback(partial(_deliver, chunk))

    async def stop(self) -> None:
        """Stop the workers (each finishes the frame it is checking, then sees its pipe close)
        and the in-process pool. Checks still waiting are cancelled."""
        self._stopped = True
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close_input()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for worker in workers:
            while worker.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            worker.terminate()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for check in self._pending:
            check[3].cancel()
        self._pending = []


def _deliver(checks: list[Check], job: asyncio.Future[bytes]) -> None:
    """A pool job's answers to its checks; a failed job fails them, a cancelled one (the pool
    was shut down) cancels them."""
    error = None if job.cancelled() else job.exception()
    answers = job.result() if not job.cancelled() and error is None else b""
    for i, (_key, _message, _signature, future) in enumerate(checks):
        if future.done():
            continue
        if i < len(answers):
            future.set_result(answers[i] == 1)
        elif error is not None:
            future.set_exception(error)
        else:
            future.cancel()


class _Worker:
    """One `voting.sigworker` process and the two ends of its pipes, driven by the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fallback: Fallback, on_answer: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voting.sigworker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.loop = loop
        self.fallback = fallback
        self.on_answer = on_answer
        self.to_worker = self.proc.stdin.fileno()
        self.from_worker = self.proc.stdout.fileno()
        os.set_blocking(self.to_worker, False)
        os.set_blocking(self.from_worker, False)
        loop.add_reader(self.from_worker, self._readable)
        self.waiting: dict[int, list[Check]] = {}
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.next_id = 0
        self.alive = True
        self.answered = False
        self._writing = False  # a writer callback is registered for the rest of the outbox

    def in_flight(self) -> int:
        return sum(len(checks) for checks in self.waiting.values())

    def frames(self) -> int:
        return len(self.waiting)

    def send(self, checks: list[Check]) -> None:
        frame_id, self.next_id = self.next_id, (self.next_id + 1) & 0xFFFF_FFFF
        body = _frame_body(checks)
        self.waiting[frame_id] = checks
        self._write(REQUEST_HEAD.pack(frame_id, len(checks), len(body)) + body)

    def _write(self, data: bytes) -> None:
        if self.outbox:
            self.outbox += data
            return
        try:
            written = os.write(self.to_worker, data)
        except BlockingIOError:
            written = 0
        except OSError:  # BrokenPipeError: the worker is gone
            self._lost()
            return
        if written < len(data):
            self.outbox += data[written:]
            self.loop.add_writer(self.to_worker, self._writable)
            self._writing = True

    def _writable(self) -> None:
        try:
            written = os.write(self.to_worker, self.outbox)
        except BlockingIOError:
            return
        except OSError:
            self._lost()
            return
        del self.outbox[:written]
        if not self.outbox:
            self._stop_writing()

    def _stop_writing(self) -> None:
        # Only while registered: once the pipe is closed its fd number may belong to a socket.
        if self._writing:
            self._writing = False
            self.loop.remove_writer(self.to_worker)

    def _readable(self) -> None:
        try:
            data = os.read(self.from_worker, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        inbox = self.inbox
        inbox += data
        while len(inbox) >= ANSWER_HEAD.size:
            frame_id, count = ANSWER_HEAD.unpack_from(inbox)
            end = ANSWER_HEAD.size + count
            if len(inbox) < end:
                break
            checks = self.waiting.pop(frame_id, None)
            if checks is None or len(checks) != count:
                log.error("a signature-check worker answered a frame it was not sent (id %d, %d checks); stopping it", frame_id, count)
                if checks is not None:
                    self.waiting[frame_id] = checks
                self._lost()
                return
            answers = inbox[ANSWER_HEAD.size : end]
            del inbox[:end]
            self.answered = True
            for check, ok in zip(checks, answers):
                if not check[3].done():
                    check[3].set_result(ok == 1)
        self.on_answer(self.loop)

    def _lost(self) -> None:
        """The worker died or broke the protocol: its unanswered checks run in this process."""
        if not self.alive:
            return
        log.warning("signature-check worker %d stopped (exit code %s); %d checks run again in the serving process", self.proc.pid, self.proc.poll(), self.in_flight())
        self.terminate()
        unanswered = [check for checks in self.waiting.values() for check in checks if not check[3].done()]
        self.waiting.clear()
        if unanswered:
            self.fallback(self.loop, unanswered)
        # Checks waiting for room go to the other (or a new) worker, after whatever called us.
        self.loop.call_soon(self.on_answer, self.loop)

    def close_input(self) -> None:
        """Close the worker's stdin: it answers what it has read, then exits."""
        if self.alive:
            self._stop_writing()
            self.outbox.clear()
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def terminate(self) -> None:
        """Kill the process if it still runs, reap it and close our ends of its pipes."""
        if self.alive:
            self.alive = False
            self.loop.remove_reader(self.from_worker)
            self._stop_writing()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
