"""Piccolo tables of the voting domain: delegate keys, elections, the board and tree heads."""

from __future__ import annotations

from collections.abc import Mapping

from piccolo.columns import BigInt, Boolean, ForeignKey, Integer, Text, Varchar
from piccolo.columns.base import OnDelete
from piccolo.engine.base import Engine
from piccolo.table import Table

from kurultai.db import TableOfDatabaseInUse, register_tables

import deliberation.tables  # noqa: F401  # registers the tables voting's refer to, first


@register_tables
def voting_tables(db: Engine, tables: Mapping[str, type[Table]]) -> list[type[Table]]:
    """The voting domain's tables, bound to the engine `db`; `tables` holds the deliberation domain's on the same engine."""
    Assembly = tables["Assembly"]
    User = tables["User"]
    AgendaItem = tables["AgendaItem"]

    class DelegateKey(Table, tablename="delegate_key", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
        key_id = Varchar(length=64, index=True)
        public_key = Varchar(length=64)
        status = Varchar(length=16, default="pending")  # pending | approved | revoked
        created_ms = BigInt(default=0)
        decided_ms = BigInt(null=True, default=None)
        decided_by = Varchar(length=64, null=True, default=None)

    class Election(Table, tablename="election", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        agenda_item = ForeignKey(references=AgendaItem, on_delete=OnDelete.cascade, index=True)
        provision = Integer(null=True, default=None)
        kind = Varchar(length=16)  # amendments | yes_no
        title = Varchar(length=300)
        method = Varchar(length=16)
        visibility = Varchar(length=16, default="live")
        rule = Text(default="")  # JSON {"majority","quorum_percent"} for yes_no
        options = Text(default="[]")  # JSON [{"id","label"}] in tie-break order
        weights = Text(default="{}")  # JSON {username: weight}
        status = Varchar(length=16, default="draft")  # draft | open | closed
        election_envelope = Text(default="")
        result_envelope = Text(default="")
        election_digest = Varchar(length=64, default="")
        tree_size = BigInt(default=0)
        root_hash = Varchar(length=64, default="")
        compact_range = Text(default="[]")  # JSON list of hex hashes (the right border of the tree)
        created_ms = BigInt(default=0)
        opened_ms = BigInt(null=True, default=None)
        closed_ms = BigInt(null=True, default=None)
        quorum_basis = Varchar(length=16, default="all")  # all | present: who is on the roll (migrations/m0011)
        present_at_open = Integer(null=True, default=None)  # delegates checked in when the vote opened
        delegates_at_open = Integer(null=True, default=None)  # delegates of the assembly when the vote opened (migrations/m0012)
        attendance_at_open = Text(default="")  # JSON {"present": [username], "left_off": [username]} at opening; "" before m0012
        named = Boolean(default=False)  # a named (non-secret) vote: its register of who has voted is public (migrations/m0015)

    class ElectionRoll(Table, tablename="election_roll", db=db):
        """The signed roll, frozen when the election opens (migrations/m0006, m0007).

        Not a column of `election`: that row is updated by every batch of ballots (tree size, root,
        compact range), and SQLite rewrites a whole row on update; a roll of 10,000 voters is ~1 MB."""

        election = ForeignKey(references=Election, on_delete=OnDelete.cascade)  # unique, migrations/m0007
        envelope = Text(default="")

    class Leaf(Table, tablename="board_leaf", db=db):
        election = ForeignKey(references=Election, on_delete=OnDelete.cascade)  # indexed by (election, seq), migrations/m0004
        seq = BigInt()
        leaf = Text()  # JCS bytes of the leaf object, as text
        leaf_hash = Varchar(length=64)
        signed_digest = Varchar(length=64)  # hex(H(JCS(ballot.signed))): idempotency
        voter = Varchar(length=64)
        revision = BigInt()
        ranking = Text()  # JSON list
        receipt = Text()  # JSON of the receipt handed out
        received_ms = BigInt(default=0)

    class MerkleNode(Table, tablename="merkle_node", db=db):
        election = ForeignKey(references=Election, on_delete=OnDelete.cascade)  # indexed by (election, level, idx)
        level = Integer()
        idx = BigInt()
        hash = Varchar(length=64)

    class TreeHead(Table, tablename="tree_head", db=db):
        election = ForeignKey(references=Election, on_delete=OnDelete.cascade)  # indexed by (election, tree_size), migrations/m0016
        tree_size = BigInt()
        envelope = Text()
        created_ms = BigInt(default=0)

    return [DelegateKey, Election, ElectionRoll, Leaf, MerkleNode, TreeHead]


# The names the rest of the code queries: each the class of the database in use (kurultai.db).
DelegateKey = TableOfDatabaseInUse("DelegateKey")
Election = TableOfDatabaseInUse("Election")
ElectionRoll = TableOfDatabaseInUse("ElectionRoll")
Leaf = TableOfDatabaseInUse("Leaf")
MerkleNode = TableOfDatabaseInUse("MerkleNode")
TreeHead = TableOfDatabaseInUse("TreeHead")
