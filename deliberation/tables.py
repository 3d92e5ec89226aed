"""Piccolo tables of the deliberation domain and of accounts.

Times are stored as integer milliseconds since the epoch (`*_ms`), which behaves the same on
SQLite and PostgreSQL; the API formats them as RFC 3339. Structured values are stored as JSON
text and decoded in the service layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.combination import Where
from piccolo.engine.base import Engine
from piccolo.table import Table

from kurultai.db import TableOfDatabaseInUse, register_tables


@register_tables
def deliberation_tables(db: Engine, tables: Mapping[str, type[Table]]) -> list[type[Table]]:
    """The deliberation domain's tables, bound to the engine `db` (one set per database)."""

    class User(Table, tablename="kurultai_user", db=db):
        username = Varchar(length=64, unique=True, index=True)
        display_name = Varchar(length=200, default="")
        password_hash = Text(null=True, default=None)
        is_admin = Boolean(default=False)
        invite_hash = Varchar(length=64, null=True, default=None, index=True)
        invite_expires_ms = BigInt(null=True, default=None)
        created_ms = BigInt(default=0)
        email = Varchar(length=254, null=True, default=None)  # from a member import; migrations/m0014
        language = Varchar(length=8, null=True, default=None)  # kk | ru | en, from a member import; migrations/m0014

    class AuthToken(Table, tablename="auth_token", db=db):
        token_hash = Varchar(length=64, unique=True, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade)
        kind = Varchar(length=16)  # "bearer" | "session"
        csrf = Varchar(length=64, default="")
        expires_ms = BigInt()
        created_ms = BigInt(default=0)

    class Assembly(Table, tablename="assembly", db=db):
        title = Varchar(length=300)
        description = Text(default="")
        languages = Text(default='["en"]')  # JSON list of language codes
        titles = Text(default="{}")  # JSON {lang: title}
        descriptions = Text(default="{}")  # JSON {lang: description}; migrations/m0013
        cosponsor_threshold = Integer(default=0)  # 0: admission only by a moderator
        speaking_time_s = Integer(default=180)
        document_version = Integer(default=0)
        last_event_seq = BigInt(default=0)
        created_ms = BigInt(default=0)
        current_item = BigInt(default=0)  # the agenda item the chair put on the floor; 0: none chosen

    class Membership(Table, tablename="membership", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
        role = Varchar(length=16)  # moderator (the chair) | secretary | delegate | observer
        weight = Integer(default=1)  # the voting weight a new election's roll gives a delegate; migrations/m0014
        active = Boolean(default=True)  # false: deactivated (on no new roll, no rights of the role); migrations/m0014

    class Provision(Table, tablename="provision", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        number = Varchar(length=32)
        kind = Varchar(length=16)  # article | paragraph
        position = Integer()
        created_ms = BigInt(default=0)
        chapter = Varchar(length=300, default="")  # the chapter line of an imported draft ("Глава 2. …"); migrations/m0013

    class ProvisionVersion(Table, tablename="provision_version", db=db):
        provision = ForeignKey(references=Provision, on_delete=OnDelete.cascade, index=True)
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        document_version = Integer()
        position = Integer()
        title = Varchar(length=300, default="")
        text = Text(null=True, default=None)  # None: the provision is deleted from this version on
        amendment = Integer(null=True, default=None)
        author = Integer(null=True, default=None)
        created_ms = BigInt(default=0)

    class AgendaItem(Table, tablename="agenda_item", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        position = Integer()
        title = Varchar(length=300)
        description = Text(default="")
        planned_minutes = Integer(default=15)
        phase = Varchar(length=16, default="pending")
        speaking_time_s = Integer(default=180)
        timer_limit_ms = BigInt(default=180_000)
        timer_elapsed_ms = BigInt(default=0)
        timer_started_ms = BigInt(null=True, default=None)
        current_speaker = Integer(null=True, default=None)  # SpeakerEntry id
        outcome = Text(default="")  # JSON of a recorded yes/no result (issue #4)
        created_ms = BigInt(default=0)

    class AgendaProvision(Table, tablename="agenda_provision", db=db):
        agenda_item = ForeignKey(references=AgendaItem, on_delete=OnDelete.cascade, index=True)
        provision = ForeignKey(references=Provision, on_delete=OnDelete.cascade)

    class Amendment(Table, tablename="amendment", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        provision = ForeignKey(references=Provision, on_delete=OnDelete.cascade, index=True)
        kind = Varchar(length=16)  # replace | insert_after | delete
        text = Text(null=True, default=None)
        title = Varchar(length=300, default="")
        rationale = Text(default="")
        author = ForeignKey(references=User, on_delete=OnDelete.cascade)
        status = Varchar(length=16, default="draft")
        base_document_version = Integer(default=0)
        reason = Text(default="")
        result_provision = Integer(null=True, default=None)
        created_ms = BigInt(default=0)
        updated_ms = BigInt(default=0)

    class Cosponsor(Table, tablename="cosponsor", db=db):
        amendment = ForeignKey(references=Amendment, on_delete=OnDelete.cascade, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade)
        created_ms = BigInt(default=0)

    class Comment(Table, tablename="comment", db=db):
        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        provision = Integer(null=True, default=None)
        amendment = Integer(null=True, default=None)
        parent = Integer(null=True, default=None)
        author = ForeignKey(references=User, on_delete=OnDelete.cascade)
        stance = Varchar(length=16, default="neutral")
        text = Text(default="")
        hidden = Boolean(default=False)
        hidden_reason = Text(default="")
        created_ms = BigInt(default=0)

    class SpeakerEntry(Table, tablename="speaker_entry", db=db):
        agenda_item = ForeignKey(references=AgendaItem, on_delete=OnDelete.cascade, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade)
        kind = Varchar(length=16)  # speech | point_of_order (point_of_order iff speech_type is)
        status = Varchar(length=16, default="waiting")
        position = Integer()
        requested_ms = BigInt(default=0)
        started_ms = BigInt(null=True, default=None)
        ended_ms = BigInt(null=True, default=None)
        spoken_ms = BigInt(default=0)  # the timer's time when the speech ended (pauses excluded); migrations/m0009
        speech_type = Varchar(length=24, default="contribution")  # contribution | pro | contra | point_of_order | question | intervention; migrations/m0010

    class Attendance(Table, tablename="attendance", db=db):
        """Who is in the room (issue #17; migrations/m0011): one row per assembly and member ever checked in."""

        assembly = ForeignKey(references=Assembly, on_delete=OnDelete.cascade, index=True)
        user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
        present = Boolean(default=False)
        changed_ms = BigInt(default=0)
        changed_by = Varchar(length=64, default="")  # the member themself, or the chair who checked them in or out

    return [User, AuthToken, Assembly, Membership, Provision, ProvisionVersion, AgendaItem, AgendaProvision, Amendment, Cosponsor, Comment, SpeakerEntry, Attendance]


# The names the rest of the code queries: each the class of the database in use (kurultai.db).
User = TableOfDatabaseInUse("User")
AuthToken = TableOfDatabaseInUse("AuthToken")
Assembly = TableOfDatabaseInUse("Assembly")
Membership = TableOfDatabaseInUse("Membership")
Provision = TableOfDatabaseInUse("Provision")
ProvisionVersion = TableOfDatabaseInUse("ProvisionVersion")
AgendaItem = TableOfDatabaseInUse("AgendaItem")
AgendaProvision = TableOfDatabaseInUse("AgendaProvision")
Amendment = TableOfDatabaseInUse("Amendment")
Cosponsor = TableOfDatabaseInUse("Cosponsor")
Comment = TableOfDatabaseInUse("Comment")
SpeakerEntry = TableOfDatabaseInUse("SpeakerEntry")
Attendance = TableOfDatabaseInUse("Attendance")


def active_member() -> Where:
    """A membership with the rights of its role: not deactivated (migrations/m0014). Every query
    of the current members filters with it (rolls, presence, rights, invitation cards); the
    websocket's rights check writes the same rule in its SQL (`realtime/rights.py`)."""
    return Membership.active == True  # noqa: E712
