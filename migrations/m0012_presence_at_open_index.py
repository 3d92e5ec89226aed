"""One attendance row per assembly and member (issue #17): a unique index on
`attendance (assembly, "user")`, the same SQL on SQLite and PostgreSQL. deliberation/presence.py
already keeps one row under the assembly's lock; the index makes the database say so too. Should
a database hold duplicates, the most recent row of each member is kept.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-03T22:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique attendance (assembly, user)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def unique_attendance():
        await Migration.raw('DELETE FROM attendance WHERE id NOT IN (SELECT MAX(id) FROM attendance GROUP BY assembly, "user")')
        await Migration.raw('CREATE UNIQUE INDEX IF NOT EXISTS attendance_assembly_user ON attendance (assembly, "user")')

    manager.add_raw(unique_attendance)
    return manager
