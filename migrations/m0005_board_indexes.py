"""Drop board indexes that no query uses and that only slowed every append.

`board_leaf (voter)`, `board_leaf (signed_digest)` and `board_leaf (election, voter)` were never
used by a query (the board is read by election and seq; idempotency is checked in memory and,
as a last guard, by the unique `(election, signed_digest)` index). `board_leaf (election)` and
`merkle_node (election)` are covered by the unique `(election, seq)` and `(election, level,
idx)` indexes, which also serve `ON DELETE CASCADE`. Random keys made each of them touch a
different page per ballot: on SQLite a batch of 150 ballots wrote ~2 MB to the WAL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-11-25T07:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "drop unused board indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def drop_indexes():
        for name in ("board_leaf_voter", "board_leaf_signed_digest", "board_leaf_election_voter", "board_leaf_election", "merkle_node_election"):
            await Migration.raw(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(drop_indexes)
    return manager
