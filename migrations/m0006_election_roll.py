"""The signed roll moves out of the election row into its own table (see m0007 for the copy).

Every batch of ballots updates the election row (tree size, root, compact range), and SQLite
rewrites a whole row on update: with a roll of 10,000 voters (~1 MB) in it, each batch wrote a
megabyte to the WAL and checkpoints ran every few batches.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Serial, Text
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Election(Table, tablename="election", schema=None):
    id = Serial(null=False, primary_key=True, unique=False, index=False, index_method=IndexMethod.btree, choices=None, db_column_name="id", secret=False)


ID = "2026-11-25T07:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "election roll table"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_table(class_name="ElectionRoll", tablename="election_roll", schema=None, columns=None)
    manager.add_column(
        table_class_name="ElectionRoll",
        tablename="election_roll",
        column_name="election",
        db_column_name="election",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Election,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
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
    manager.add_column(
        table_class_name="ElectionRoll",
        tablename="election_roll",
        column_name="envelope",
        db_column_name="envelope",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.hash,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
