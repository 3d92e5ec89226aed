"""A finished speech keeps the timer's time (issue #17): `speaker_entry.spoken_ms`, pauses excluded."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "speaker_entry.spoken_ms"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="SpeakerEntry",
        tablename="speaker_entry",
        column_name="spoken_ms",
        db_column_name="spoken_ms",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
