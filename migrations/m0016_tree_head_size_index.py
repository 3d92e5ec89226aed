"""`tree_head (election, tree_size)` instead of `tree_head (election)`.

A serving process that catches up on the leaves another process appended (`voting.board.catch_up`,
`serve --workers N`) reads the tree head of each batch's end with its leaves, in the batch's
transaction while the election's row is locked; `GET …/sth` and the proofs look heads up by size
too. By election alone each lookup read every head of the election (one per batch of ballots).
The new index also serves what the old one did (the heads of an election, `ON DELETE CASCADE`).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-04T14:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tree_head (election, tree_size)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def head_by_size():
        await Migration.raw("CREATE INDEX IF NOT EXISTS tree_head_election_size ON tree_head (election, tree_size)")
        await Migration.raw("DROP INDEX IF EXISTS tree_head_election")

    manager.add_raw(head_by_size)
    return manager
