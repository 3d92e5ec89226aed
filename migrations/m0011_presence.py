"""Presence and quorum (issue #17): who is in the room, and what a vote's quorum is measured against.

- `attendance`: one row per assembly and member who was ever checked in: `present`, when it last
  changed (`changed_ms`) and by whom (`changed_by`, a username: the member or the chair).
- `election.quorum_basis`: "all" (the roll holds every delegate with an approved key; the default,
  and every election before this migration) or "present" (the roll holds only the delegates who
  were checked in when the vote opened). Not part of any signed object (PROTOCOL.md is unchanged).
- `election.present_at_open`: how many delegates were checked in when the vote opened.

One row per (assembly, user) is kept by deliberation/presence.py, which writes under the
assembly's lock (the single writer on SQLite).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import BigInt, Boolean, ForeignKey, Integer, Serial, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Assembly(Table, tablename="assembly", schema=None):
    id = Serial(null=False, primary_key=True, unique=False, index=False, index_method=IndexMethod.btree, choices=None, db_column_name="id", secret=False)


class User(Table, tablename="kurultai_user", schema=None):
    id = Serial(null=False, primary_key=True, unique=False, index=False, index_method=IndexMethod.btree, choices=None, db_column_name="id", secret=False)


ID = "2026-12-03T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "attendance; election.quorum_basis, election.present_at_open"


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


def _fk(references):
    return _params(references=references, on_delete=OnDelete.cascade, on_update=OnUpdate.cascade, target_column=None, null=True, index=True)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_table(class_name="Attendance", tablename="attendance", schema=None, columns=None)
    columns = [
        ("assembly", ForeignKey, _fk(Assembly)),
        ("user", ForeignKey, _fk(User)),
        ("present", Boolean, _params(default=False)),
        ("changed_ms", BigInt, _params(default=0)),
        ("changed_by", Varchar, _params(length=64, default="")),
    ]
    for name, cls, params in columns:
        manager.add_column(
            table_class_name="Attendance",
            tablename="attendance",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    manager.add_column(
        table_class_name="Election",
        tablename="election",
        column_name="quorum_basis",
        db_column_name="quorum_basis",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=16, default="all"),
        schema=None,
    )
    manager.add_column(
        table_class_name="Election",
        tablename="election",
        column_name="present_at_open",
        db_column_name="present_at_open",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=None, null=True),
        schema=None,
    )

    return manager
