"""Unique indexes of the voting tables (same SQL on SQLite and PostgreSQL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-11-25T00:59:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "voting unique indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def unique_indexes():
        for sql in (
            "CREATE UNIQUE INDEX IF NOT EXISTS board_leaf_election_seq ON board_leaf (election, seq)",
            "CREATE UNIQUE INDEX IF NOT EXISTS board_leaf_election_signed ON board_leaf (election, signed_digest)",
            "CREATE UNIQUE INDEX IF NOT EXISTS merkle_node_position ON merkle_node (election, level, idx)",
            "CREATE UNIQUE INDEX IF NOT EXISTS delegate_key_assembly_key ON delegate_key (assembly, key_id)",
            "CREATE INDEX IF NOT EXISTS board_leaf_election_voter ON board_leaf (election, voter)",
        ):
            await Migration.raw(sql)

    manager.add_raw(unique_indexes)
    return manager
