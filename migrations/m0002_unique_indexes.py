"""Composite unique indexes that Piccolo columns cannot express (same SQL on SQLite and PostgreSQL).

A separate migration because a migration manager runs its raw steps before its table steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-11-25T00:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def unique_indexes():
        # Composite uniqueness that Piccolo columns cannot express; the same SQL runs on
        # SQLite and PostgreSQL.
        for sql in (
            'CREATE UNIQUE INDEX IF NOT EXISTS membership_assembly_user ON membership (assembly, "user")',
            "CREATE UNIQUE INDEX IF NOT EXISTS event_assembly_seq ON event (assembly_id, seq)",
            "CREATE UNIQUE INDEX IF NOT EXISTS audit_assembly_seq ON audit_record (assembly_id, seq)",
            'CREATE UNIQUE INDEX IF NOT EXISTS cosponsor_amendment_user ON cosponsor (amendment, "user")',
        ):
            await Migration.raw(sql)

    manager.add_raw(unique_indexes)
    return manager
