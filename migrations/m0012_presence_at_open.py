"""Who was in the room when a vote opened (issue #17), kept on the election row so that the vote
says it for ever, whatever happens to the attendance list afterwards:

- `election.delegates_at_open`: how many delegates the assembly had when the vote opened (the
  denominator of "12 of 40 present"; `present_at_open` (m0011) is the numerator);
- `election.attendance_at_open`: JSON `{"present": [username, …], "left_off": [username, …]}`:
  the delegates checked in at opening, and the delegates with an approved key left off the roll
  because they were not ("present" basis only; empty otherwise). "" for votes opened before.

Unsigned metadata (PROTOCOL.md is unchanged). The unique index on attendance is the next
migration (m0012_presence_at_open_index: Piccolo runs a migration's raw SQL before its column
operations).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T22:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "election.delegates_at_open, election.attendance_at_open"


def _params(**extra):
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Election",
        tablename="election",
        column_name="delegates_at_open",
        db_column_name="delegates_at_open",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=None, null=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="Election",
        tablename="election",
        column_name="attendance_at_open",
        db_column_name="attendance_at_open",
        column_class_name="Text",
        column_class=Text,
        params=_params(default=""),
        schema=None,
    )
    return manager
