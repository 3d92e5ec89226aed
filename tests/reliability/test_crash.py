"""Crash safety (issue #7): SIGKILL `kurultai serve` at random moments while client processes
stream ballots; after every restart nothing receipted is lost, every tree head handed out is
consistent with the current tree, and the live tally equals a recount; `kurultai verify` passes
after close. The checks live in tests/reliability/crash.py; bench/crash.py runs the long version.

`KURULTAI_CRASH_KILLS` (default 10) sets the number of kills.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kurultai.settings import Settings
from tests.reliability import crash

KILLS = int(os.environ.get("KURULTAI_CRASH_KILLS", "10"))


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    if settings.database_url:
        from tests.conftest import reset_postgres

        asyncio.run(reset_postgres(settings.database_url))
    figures = crash.run(tmp_path / "crash", kills=KILLS, database_url=settings.database_url, gap=(0.4, 1.6))
    print(f"\n[{'postgres' if settings.database_url else 'sqlite'}] {figures.summary()}")
    assert figures.kills == KILLS
    assert figures.receipts_checked > 0 and figures.consistency_proofs > 0 and figures.tallies_checked == KILLS + 1
    assert figures.events_checked > 0
