"""Copy each election's roll into `election_roll` (one row per election), then drop the old column.

Piccolo runs a migration's raw functions before its column operations, so the copy (raw) and the
drop (a column operation) can share this migration, in that order.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-11-25T07:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "copy rolls, drop election.roll_envelope"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def copy_rolls():
        await Migration.raw("CREATE UNIQUE INDEX IF NOT EXISTS election_roll_election ON election_roll (election)")
        await Migration.raw("INSERT INTO election_roll (election, envelope) SELECT id, roll_envelope FROM election WHERE roll_envelope <> ''")

    manager.add_raw(copy_rolls)
    manager.drop_column(table_class_name="Election", tablename="election", column_name="roll_envelope", db_column_name="roll_envelope", schema=None)
    return manager
