"""Ballot signature checks off the event loop, in batches (issue #4: they use every core).

One `run_in_executor` per ballot costs the event loop more than the ballot's own checks (a
concurrent future, a pool lock, a thread wake-up and a `call_soon_threadsafe` each). Here the
checks asked for during one turn of the loop are grouped: they are split into one chunk per core
and each chunk is one job of the checks' own thread pool, whose answer resolves every ballot of
the chunk in one callback. `cryptography`'s Ed25519 verify releases the GIL, so the chunks run in
parallel on the cores while the loop goes on with other requests.

That pool has one thread per core. In the loop's default pool (six threads on two cores) the
checks queued ahead of the database writer's work, and the extra threads only fought over the
GIL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

MAX_CHUNK = 64


class BatchedChecks:
    """`await checks.run(fn, *args)`: `fn(*args)` runs on a pool thread, batched with the other
    calls made in the same loop turn; its result or exception comes back as usual."""

    def __init__(self, parallel: int | None = None, max_chunk: int = MAX_CHUNK) -> None:
        self.parallel = max(1, parallel or os.cpu_count() or 1)
        self.max_chunk = max_chunk
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the pool's threads (after the checks already given to them)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((fn, args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        pending = [item for item in pending if not item[2].cancelled()]
        if not pending:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="kurultai-signatures")
        chunks = max(min(self.parallel, len(pending)), -(-len(pending) // self.max_chunk))
        size = -(-len(pending) // chunks)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            job = loop.run_in_executor(self._pool, _run_chunk, [(fn, args) for fn, args, _f in chunk])
            job.add_done_callback(partial(_deliver, [f for _fn, _a, f in chunk]))


def _run_chunk(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    out: list[tuple[bool, Any]] = []
    for fn, args in calls:
        try:
            out.append((True, fn(*args)))
        except Exception as exc:  # the call's own error, raised again in its caller
            out.append((False, exc))
    return out


def _deliver(futures: list[asyncio.Future[Any]], job: asyncio.Future[list[tuple[bool, Any]]]) -> None:
    if job.cancelled():
        for f in futures:
            f.cancel()
        return
    error = job.exception()
    for i, f in enumerate(futures):
        if f.done():
            continue
        if error is not None:
            f.set_exception(error)
            continue
        ok, value = job.result()[i]
        if ok:
            f.set_result(value)
        else:
            f.set_exception(value)
