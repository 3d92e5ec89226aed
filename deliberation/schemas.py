"""Wire types of the deliberation API (msgspec Structs, decoded and validated at the edge).

Unknown fields are rejected. Strings refuse NUL characters (PostgreSQL cannot store them) and
have length limits; integers are bounded so that no database ever sees an out-of-range value.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

NO_NUL = r"^[^\x00]*$"
Id = Annotated[int, Meta(ge=1, le=2**31 - 1)]
Name = Annotated[str, Meta(min_length=1, max_length=300, pattern=NO_NUL)]
Short = Annotated[str, Meta(max_length=300, pattern=NO_NUL)]
Text = Annotated[str, Meta(max_length=50_000, pattern=NO_NUL)]
Username = Annotated[str, Meta(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, Meta(min_length=1, max_length=1024, pattern=NO_NUL)]
Minutes = Annotated[int, Meta(ge=1, le=24 * 60)]
Seconds = Annotated[int, Meta(ge=10, le=3600)]
Threshold = Annotated[int, Meta(ge=0, le=10_000)]
Lang = Annotated[str, Meta(min_length=2, max_length=2)]
Number = Annotated[str, Meta(min_length=1, max_length=32, pattern=NO_NUL)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    def changes(self) -> dict:
        """Fields that were given (not None), for partial updates."""
        return {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not None}


class TokenRequest(Input, kw_only=True):
    username: Annotated[str, Meta(max_length=64, pattern=NO_NUL)]
    password: Annotated[str, Meta(max_length=1024, pattern=NO_NUL)]
    device_token: Annotated[str, Meta(max_length=512, pattern=NO_NUL)] | None = None  # from an earlier login


class UserCreate(Input, kw_only=True):
    username: Username
    password: Password | None = None
    is_admin: bool = False
    display_name: Short = ""


class InviteCreate(Input, kw_only=True):
    assembly: Id | None = None
    role: Annotated[str, Meta(max_length=16)] = "delegate"


class InviteAccept(Input, kw_only=True):
    token: Annotated[str, Meta(min_length=1, max_length=200)]
    password: Password


class AssemblyCreate(Input, kw_only=True):
    title: Name
    description: Text = ""
    languages: list[Lang] | None = None
    titles: dict[Lang, Short] | None = None
    descriptions: dict[Lang, Text] | None = None
    cosponsor_threshold: Threshold = 0
    speaking_time_s: Seconds = 180


class AssemblyUpdate(Input, kw_only=True):
    title: Name | None = None
    description: Text | None = None
    languages: list[Lang] | None = None
    titles: dict[Lang, Short] | None = None
    descriptions: dict[Lang, Text] | None = None
    cosponsor_threshold: Threshold | None = None
    speaking_time_s: Seconds | None = None


class MemberSet(Input, kw_only=True):
    username: Username
    role: Annotated[str, Meta(max_length=16)]


class MemberUpdate(Input, kw_only=True):
    """A change of a member (issue #18): any of role, weight, active."""

    role: Annotated[str, Meta(max_length=16)] | None = None
    weight: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    active: bool | None = None


class ProvisionCreate(Input, kw_only=True):
    number: Number | None = None
    kind: Annotated[str, Meta(max_length=16)] = "article"
    title: Short = ""
    text: Text
    after: Id | None = None


class ProvisionUpdate(Input, kw_only=True):
    title: Short | None = None
    text: Text | None = None
    delete: bool | None = None


class AgendaItemCreate(Input, kw_only=True):
    title: Name
    description: Text = ""
    planned_minutes: Minutes = 15
    speaking_time_s: Seconds | None = None
    provisions: list[Id] = []


class AgendaItemUpdate(Input, kw_only=True):
    title: Name | None = None
    description: Text | None = None
    planned_minutes: Minutes | None = None
    speaking_time_s: Seconds | None = None
    provisions: list[Id] | None = None
    position: Annotated[int, Meta(ge=1, le=10_000)] | None = None


class AgendaItemMerge(Input, kw_only=True):
    into: Id  # the item that keeps its title and receives the provisions


class AgendaItemSplit(Input, kw_only=True):
    provisions: Annotated[list[Id], Meta(min_length=1, max_length=10_000)]  # some of the item's, not all
    title: Name  # the new item's


class PhaseChange(Input, kw_only=True):
    phase: Annotated[str, Meta(max_length=16)]
    reason: Annotated[str, Meta(max_length=2000)] | None = None  # required to reopen the phase before


class CurrentItem(Input, kw_only=True):
    item: Id | None = None  # None: back to the default item


class AmendmentCreate(Input, kw_only=True):
    provision: Id
    kind: Annotated[str, Meta(max_length=16)]
    text: Text | None = None
    title: Short = ""
    rationale: Text = ""
    submit: bool = False


class AmendmentUpdate(Input, kw_only=True):
    kind: Annotated[str, Meta(max_length=16)] | None = None
    text: Text | None = None
    title: Short | None = None
    rationale: Text | None = None


class Decision(Input, kw_only=True):
    reason: Text = ""


class CommentCreate(Input, kw_only=True):
    provision: Id | None = None
    amendment: Id | None = None
    parent: Id | None = None
    stance: Annotated[str, Meta(max_length=16)] = "neutral"
    text: Annotated[str, Meta(min_length=1, max_length=10_000, pattern=NO_NUL)]


class CommentHide(Input, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=2000, pattern=NO_NUL)]


class FloorRequest(Input, kw_only=True):
    speech_type: Annotated[str, Meta(max_length=24)] | None = None  # contribution (default), pro, contra, point_of_order, question, intervention
    kind: Annotated[str, Meta(max_length=16)] | None = None  # older: speech | point_of_order; must agree with speech_type
    username: Annotated[str, Meta(max_length=64)] | None = None  # a moderator adds this member


class FloorGive(Input, kw_only=True):
    entry: Id | None = None


class SpeakerOrder(Input, kw_only=True):
    order: Annotated[list[Id], Meta(max_length=10_000)]


class TimerAction(Input, kw_only=True):
    action: Annotated[str, Meta(max_length=16)]


# -- responses -------------------------------------------------------------------------------------
# What the API sends. Field order is the order on the wire (the services' dicts are converted with
# `msgspec.convert`, then encoded in this order), so keep it when adding a field. `None` is sent
# as null, never left out.


class Output(msgspec.Struct, kw_only=True):
    """A response body."""


class UserView(Output, kw_only=True):
    id: int
    username: str
    display_name: str
    is_admin: bool


class Me(UserView, kw_only=True):
    memberships: dict[int, str]  # assembly id -> role


class TokenIssued(Output, kw_only=True):
    token: str
    token_type: str
    expires_in: int  # seconds
    device_token: str


class Invitation(Output, kw_only=True):
    username: str
    token: str
    url: str


class AssemblyView(Output, kw_only=True):
    id: int
    title: str
    titles: dict[str, str]
    description: str
    descriptions: dict[str, str]
    languages: list[str]
    cosponsor_threshold: int
    speaking_time_s: int
    document_version: int
    current_item: int | None = None  # the item the chair put on the floor
    created_at: str


class CurrentItemView(Output, kw_only=True):
    assembly: int
    current_item: int | None


class Member(Output, kw_only=True):
    user_id: int
    username: str
    display_name: str
    role: str
    weight: int = 1  # the voting weight a new election's roll gives them (issue #18)
    active: bool = True  # false: deactivated, on no new roll and without the rights of the role


class AuditEntryView(Output, kw_only=True):
    seq: int
    actor: str | None
    action: str
    payload: dict[str, Any]
    created_at: str
    prev_hash: str
    hash: str


class AuditExport(Output, kw_only=True):
    assembly: int  # 0: the global log
    head: str
    verified: bool
    problem: str | None
    entries: list[AuditEntryView]


class DocumentProvision(Output, kw_only=True):
    id: int
    number: str
    kind: str
    title: str
    text: str
    version: int


class Document(Output, kw_only=True):
    assembly: int
    title: str
    version: int
    current_version: int
    provisions: list[DocumentProvision]


class ProvisionVersionView(Output, kw_only=True):
    document_version: int
    title: str
    text: str | None  # None: deleted in this version
    amendment: int | None
    created_at: str


class ProvisionView(Output, kw_only=True):
    id: int
    assembly: int
    number: str
    kind: str
    title: str
    text: str | None
    deleted: bool
    history: list[ProvisionVersionView]


class TimerView(Output, kw_only=True):
    running: bool
    started_at_ms: int | None
    elapsed_ms: int
    remaining_ms: int
    limit_ms: int


class Outcome(Output, kw_only=True):
    """The result of a yes/no vote on the item."""

    election: str
    winner: str
    yes: int
    no: int
    abstain: int
    quorum_met: bool
    passed: bool


class AgendaItemView(Output, kw_only=True):
    id: int
    assembly: int
    position: int
    title: str
    description: str
    planned_minutes: int
    phase: str
    speaking_time_s: int
    provisions: list[int]
    outcome: Outcome | None
    timer: TimerView
    current_speaker: int | None
    created_at: str


class SpeakerEntryView(Output, kw_only=True):
    id: int
    user_id: int
    username: str
    display_name: str
    kind: str  # speech | point_of_order
    speech_type: str  # contribution | pro | contra | point_of_order | question | intervention
    status: str
    requested_at: str | None
    started_at: str | None
    ended_at: str | None


class SpeakingTotal(Output, kw_only=True):
    user_id: int
    username: str
    display_name: str
    spoken_ms: int
    speeches: int


class Speakers(Output, kw_only=True):
    item: int
    queue: list[SpeakerEntryView]
    current: SpeakerEntryView | None
    done: list[SpeakerEntryView]
    timer: TimerView
    totals: list[SpeakingTotal]  # each member's speaking time on the item


class RedlineOp(Output, kw_only=True):
    op: str  # "equal" | "insert" | "delete"
    text: str


class AmendmentView(Output, kw_only=True):
    id: int
    assembly: int
    provision: int
    kind: str
    title: str
    text: str | None
    rationale: str
    author: str | None
    cosponsors: list[str]
    status: str
    reason: str
    base_document_version: int
    current_text: str | None
    redline: list[RedlineOp]
    created_at: str
    updated_at: str


class CommentView(Output, kw_only=True):
    id: int
    assembly: int
    provision: int | None
    amendment: int | None
    parent: int | None
    author: str | None
    stance: str
    text: str | None  # None once hidden
    hidden: bool
    hidden_reason: str | None
    created_at: str


# -- the draft from a document (issue #18) --------------------------------------------------------


class RecognisedChapter(Output, kw_only=True):
    number: str
    heading: str
    label: str
    line: int


class RecognisedArticle(Output, kw_only=True):
    number: str
    kind: str  # article | paragraph
    heading: str
    text: str
    chapter: str
    paragraphs: int  # numbered paragraphs ("1)", "1.") in the text
    line: int


class SkippedPart(Output, kw_only=True):
    line: int
    text: str
    reason: str  # before_first_article | chapter_text | footnote


class StructureWarning(Output, kw_only=True):
    code: str  # empty_article | number_gap | duplicate_number | out_of_order | long_heading | long_number
    article: str
    detail: str


class DraftPreview(Output, kw_only=True):
    format: str  # docx | odt | text
    language: str | None
    lines: int
    chapters: list[RecognisedChapter]
    articles: list[RecognisedArticle]
    skipped: list[SkippedPart]
    warnings: list[StructureWarning]
    conflicts: list[str]  # numbers the assembly already has: an import would be refused


class DraftImported(Output, kw_only=True):
    assembly: int
    format: str
    document_version: int
    provisions: list[int]
    skipped: int
    warnings: int


class AgendaFromProvisions(Input, kw_only=True):
    per: Annotated[str, Meta(max_length=16)] = "article"  # article | chapter
    planned_minutes: Minutes = 15


# -- members from a spreadsheet (issue #18) -------------------------------------------------------


class MemberRowError(Output, kw_only=True):
    row: int  # the line of the file (CSV) or the sheet's row (XLSX); the header is row 1
    field: str  # display_name | username | email | role | weight | language
    code: str  # empty_name | name_too_long | bad_username | duplicate_username | already_member | unknown_role | appointed_role | bad_weight | bad_language | bad_email
    detail: str


class MemberRow(Output, kw_only=True):
    row: int
    display_name: str
    username: str
    username_generated: bool  # made from the name (the file left it empty)
    existing_user: bool  # the username is a user already: they become a member, their account is unchanged
    email: str | None
    role: str
    weight: int
    language: str | None


class MembersPreview(Output, kw_only=True):
    format: str  # csv | xlsx
    delimiter: str | None  # "," or ";" (CSV)
    columns: list[str]  # the header's known columns, in file order
    ignored_columns: list[str]
    rows: list[MemberRow]
    errors: list[MemberRowError]  # an import is refused while there is any


class MembersImported(Output, kw_only=True):
    assembly: int
    created_users: int
    members: list[Member]
