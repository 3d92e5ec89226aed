"""Setting up an assembly in the browser (issue #18).

- `assembly.descriptions`: the description in each language, JSON `{lang: text}` like `titles`
  (the page falls back as `Lang.description_of` says; `description` stays the main one).
- `provision.chapter`: the chapter line of a provision made by a draft import ("Глава 2. …"),
  "" otherwise; the agenda built per chapter groups by it.

The `secretary` role needs no change: `membership.role` is a 16-character string.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T23:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "assembly.descriptions, provision.chapter"


def _params(default):
    return {
        "default": default,
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Assembly",
        tablename="assembly",
        column_name="descriptions",
        db_column_name="descriptions",
        column_class_name="Text",
        column_class=Text,
        params=_params("{}"),
        schema=None,
    )
    manager.add_column(
        table_class_name="Provision",
        tablename="provision",
        column_name="chapter",
        db_column_name="chapter",
        column_class_name="Varchar",
        column_class=Varchar,
        params={**_params(""), "length": 300},
        schema=None,
    )
    return manager
