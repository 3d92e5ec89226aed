"""Speech types on the speakers' list (issue #17): `speaker_entry.speech_type`, a contribution
unless said otherwise. Points of order already on a list get their type in the next migration
(m0010_speech_type_points_of_order: Piccolo runs a migration's raw SQL before its column
operations, so the copy cannot share this one)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "speaker_entry.speech_type"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="SpeakerEntry",
        tablename="speaker_entry",
        column_name="speech_type",
        db_column_name="speech_type",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 24,
            "default": "contribution",
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
