"""Named (non-secret) votes (issue #17): `election.named`, false by default.

A named vote publishes a register of who has voted: the roll's members by name, with how many
ballots each has cast. The flag is chosen while the vote is a draft and frozen when it opens.
Unsigned metadata, like `quorum_basis` (m0011): PROTOCOL.md is unchanged, the signed election
object does not carry it, and the register is the server's statement of which member holds
which key on the roll, which no outside verifier can check.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "election.named"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kurultai", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Election",
        tablename="election",
        column_name="named",
        db_column_name="named",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
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
