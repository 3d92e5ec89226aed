"""A fixture shared by the board-file tests (test_verifier_board_file.py, test_verifier_fast_paths.py)."""

from __future__ import annotations

import pytest

import voting.verifier as verifier
from voting.verifier import Bundle


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> list[Bundle]:
    """Boards of any size on the pool, in chunks of 4 leaves; returns the bundles parsed whole."""
    monkeypatch.setattr(verifier, "POOL_MIN_LEAVES", 0)
    monkeypatch.setattr(verifier, "CHUNK_SIZE", 4)
    parsed: list[Bundle] = []
    whole = verifier._parsed

    def spy(bundle: Bundle) -> Bundle:
        parsed.append(bundle)
        return whole(bundle)

    monkeypatch.setattr(verifier, "_parsed", spy)
    return parsed
