"""The agenda item the chair put on the floor (issue #17): `assembly.current_item`, 0 for none."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "assembly.current_item"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Assembly",
        tablename="assembly",
        column_name="current_item",
        db_column_name="current_item",
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
