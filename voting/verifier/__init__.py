"""The independent verifier (PROTOCOL §7): check a whole election from its five published objects.

`verify_election(bundle)` re-checks every rule of PROTOCOL §2–4 on the election, roll, board,
signed tree head and result that anyone can fetch (or read from an export), and returns a
:class:`Report` listing every failed check with the seq it concerns. It raises nothing on bad
input: whatever the objects hold, a problem is a :class:`Failure`, never an exception.

It depends only on the pure core (`voting.core`), never on the server code or the database.
The board, the bulk of the work (a signature per ballot), is checked in chunks of leaves on
forked worker processes, one per core, while the calling process checks the roll and then
merges the chunks' results in seq order (docs/verifying.md, docs/benchmarks.md). A board given
as the bytes of its file (:class:`BoardFile`) is parsed by those workers too, each its chunks.

An open election is checked up to its current signed tree head (`Bundle.open`: no result
yet, the recount is the tally so far), or followed head by head with :class:`Monitor`, which
runs the same checks on each new head's leaves and proves each head consistent with the last.

One concept a module: `model` (the bundle and the report), `checks` (the election's checks),
`leaves` (reading one leaf), `board_file` (board.json), `parallel` (the board in chunks, on
worker processes), `monitor` (an open election, head by head). The names below are re-exported; a module-level name is looked up in the
module that uses it, so a test patches it there (`voting.verifier.parallel.CHUNK_SIZE`).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

from .board_file import _BoardLines, _Fallback, _line_breaks, _parsed, _raw_fields, parse_board
from .checks import RECOUNT_FIELDS, SMALL_ORDER_KEYS, _canonical, _quick_key_check, _Verifier
from .leaves import _fast_fields, _fast_leaf
from .model import BoardFile, Bundle, Failure, Report, Summary
from .monitor import Monitor
from .parallel import (
    CHUNK_SIZE,
    POOL_MIN_LEAVES,
    RANKINGS_KEPT,
    _board_lines,
    _BoardCheck,
    _check_signature,
    _counted,
    _Scan,
    _SCANS,
    _subtree_root,
    _worker_init,
)

__all__ = ["BoardFile", "Bundle", "Failure", "Monitor", "Report", "Summary", "parse_board", "verify_election"]


def verify_election(bundle: Bundle, *, workers: int | None = None, progress: Callable[[int], None] | None = None) -> Report:
    """Check every rule of PROTOCOL §2–4 on ``bundle``; never raises on bad input.

    ``workers`` is the number of worker processes for the board (default: the CPU count;
    1, or a board under POOL_MIN_LEAVES leaves, checks it in the calling thread);
    ``progress(n)`` is called from the calling thread as each chunk of n signatures is checked
    (again from the start, should a board file turn out to need parsing as a whole).
    """
    workers = workers or os.cpu_count() or 1
    gc_was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small, acyclic objects: the collector only slows it down
    try:
        if type(bundle.board) is BoardFile:
            lines = _board_lines(bundle.board, workers)
            if lines is not None:
                try:
                    return _Verifier(bundle, workers, progress=progress, lines=lines).run()
                except _Fallback:  # a chunk of lines is not one leaf per line: the whole file, here
                    pass
            bundle = _parsed(bundle)
        return _Verifier(bundle, workers, progress=progress).run()
    finally:
        if gc_was_enabled:
            gc.enable()
