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
`parallel` (the board in chunks, on worker processes), `monitor` (an open election, head by
head). The rules applied to each leaf are the protocol package's: reading a leaf and a board
file (`voting.core.leaves`), §5's checks on leaves and §4's counted ballots
(`voting.core.board_checks`). A module-level name is looked up in the module that uses it, so
a test patches it there (`voting.verifier.parallel.CHUNK_SIZE`).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import replace

from voting.core.errors import MalformedError
from voting.core.leaves import NotOneLeafPerLine, parse_board

from .checks import _Verifier
from .model import BoardFile, Bundle, Failure, Report, Summary
from .monitor import Monitor
from .parallel import _board_lines

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
                except NotOneLeafPerLine:  # a chunk of lines is not one leaf per line: the whole file, here
                    pass
            bundle = _parsed(bundle)
        return _Verifier(bundle, workers, progress=progress).run()
    finally:
        if gc_was_enabled:
            gc.enable()


def _parsed(bundle: Bundle) -> Bundle:
    """The bundle with its BoardFile parsed here (the board, or None and its problem)."""
    board = bundle.board
    assert type(board) is BoardFile
    try:
        return replace(bundle, board=parse_board(board.data))
    except MalformedError as exc:
        problems = list(bundle.problems)
        at = len(problems) if board.problem_index is None else board.problem_index
        problems.insert(at, Failure("board", f"{board.name}: {exc}"))
        return replace(bundle, board=None, problems=tuple(problems))
