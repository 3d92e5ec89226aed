"""Members from a spreadsheet and their management (issue #18).

- `membership.weight`: the member's voting weight (an integer >= 1, default 1). A new election
  puts it on the roll for every delegate its own `weights` do not name (voting/elections.py).
- `membership.active`: false for a deactivated member, who keeps their place in the members list
  but is on no new roll and holds no right of their role in the assembly (kurultai/web/auth.py).
- `kurultai_user.email`, `kurultai_user.language`: what a member import brings (both nullable;
  the language is one of kk, ru, en).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "membership.weight, membership.active; kurultai_user.email, kurultai_user.language"


def _params(default, **extra):
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
        **extra,
    }


COLUMNS = [
    ("Membership", "membership", "weight", Integer, _params(1)),
    ("Membership", "membership", "active", Boolean, _params(True)),
    ("User", "kurultai_user", "email", Varchar, _params(None, null=True, length=254)),
    ("User", "kurultai_user", "language", Varchar, _params(None, null=True, length=8)),
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    for class_name, tablename, name, cls, params in COLUMNS:
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    return manager
