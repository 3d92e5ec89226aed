"""Fixtures shared by the board-file and pool tests (test_verifier_board_file.py,
test_verifier_fast_paths.py, test_verifier_pool.py)."""

from __future__ import annotations

import os
from typing import Any

import pytest

import voting.core.board_checks as board_checks
import voting.verifier as verifier
from voting.verifier import Bundle


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> list[Bundle]:
    """Boards of any size on the pool, in chunks of 4 leaves; returns the bundles parsed whole."""
    monkeypatch.setattr(verifier.parallel, "POOL_MIN_LEAVES", 0)
    monkeypatch.setattr(verifier.parallel, "CHUNK_SIZE", 4)
    parsed: list[Bundle] = []
    whole = verifier._parsed

    def spy(bundle: Bundle) -> Bundle:
        parsed.append(bundle)
        return whole(bundle)

    monkeypatch.setattr(verifier, "_parsed", spy)
    return parsed


@pytest.fixture
def dead_workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every worker dies as it starts (the pool breaks); returns the first leaf of each chunk
    checked in the calling process (the workers' appends would stay in the workers)."""
    in_process: list[int] = []
    chunk = board_checks.LeafScan.chunk

    def spy(self: board_checks.LeafScan, lo: int, hi: int) -> Any:
        in_process.append(lo)
        return chunk(self, lo, hi)

    monkeypatch.setattr(board_checks.LeafScan, "chunk", spy)
    monkeypatch.setattr(verifier.parallel, "_worker_init", lambda: os._exit(1))
    return in_process
