"""A point of order on a list from before m0010 is of speech type `point_of_order` (the column
m0010_speech_type added says `contribution` for every existing entry)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-03T22:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "speaker_entry.speech_type of points of order"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)

    async def points_of_order():
        await Migration.raw("UPDATE speaker_entry SET speech_type = 'point_of_order' WHERE kind = 'point_of_order'")

    manager.add_raw(points_of_order)
    return manager
