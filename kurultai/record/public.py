"""The observer's view of a whole assembly: everything the record's outputs are built from.

Read through the domain's public views (the ones the API serves to anyone: the assembly, its
members, the draft, amendments, comments, agenda, speakers' lists and elections), so an output
can show no more than an observer could fetch. Three things are narrowed further:

- comments: a hidden comment is left out altogether (its text is already gone from the row;
  the audit log that keeps it is never read here);
- phase changes: from the audit log only the `agenda.phase` entries, and of those only the item,
  the phases, whether it was a reopening, the time and the actor (the audit log as a whole is
  for the secretary: it holds hidden comments' texts);
- users: a username and a display name, never a password hash, an invitation or a token;
- presence: the public attendance list (`GET /api/assemblies/{aid}/presence`) and, from the
  audit log, the `presence.changed` entries with only what the live event of that name tells
  (who, in or out, how many present) plus the time and who made the change.

`PublicRecord` is plain data (JSON-ready dicts and lists) so that the builders (the archive, the
adopted text, later the minutes and the comparative table) run in a thread with no database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from deliberation import agenda, amendments, assemblies, comments, draft, presence
from deliberation.common import iso, load
from deliberation.tables import AgendaItem, Assembly, Provision, ProvisionVersion, SpeakerEntry
from kurultai.unit_of_work import AuditRecord
from voting.client import server_key_json
from voting.elections import list_elections, require_row
from voting.export import StoredElection, stored_election
from voting.register import register


@dataclass
class PublicRecord:
    """An assembly as observers see it, at one moment (`generated_at`)."""

    assembly: dict[str, Any]
    generated_at: str
    server_key: dict[str, str]
    members: list[dict[str, Any]]
    document: dict[str, Any]  # the consolidated text now (draft.document)
    provisions: list[dict[str, Any]]
    provision_versions: list[dict[str, Any]]
    amendments: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    agenda: list[dict[str, Any]]
    phase_changes: list[dict[str, Any]]
    speakers: list[dict[str, Any]]
    elections: list[dict[str, Any]]
    server_public_key: bytes = b""
    #: the attendance list now (deliberation.presence.attendance)
    attendance: dict[str, Any] = field(default_factory=lambda: {"present_count": 0, "delegates": 0, "members": []})
    #: every check-in and check-out, in order: {"username", "present", "present_count", "at", "by"}
    presence_changes: list[dict[str, Any]] = field(default_factory=list)
    #: election id -> {"quorum_basis", "present_at_open"} (what the vote's page shows beside turnout)
    election_quorum: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: election id -> the register of who has voted (voting.register), of each named vote that opened
    registers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: election id -> its signed objects as stored, for every election that is not a draft
    #: (`StoredElection.bundle` parses them, in the builder's thread)
    elections_stored: dict[str, StoredElection] = field(default_factory=dict)


async def public_record(assembly_id: int, *, now_ms: int, server_public_key: bytes, with_bundles: bool = True) -> PublicRecord:
    """Read assembly `assembly_id` as an observer sees it (NotFound when there is none).
    `with_bundles=False` skips the elections' boards (the adopted text needs none)."""
    row = await load(Assembly, assembly_id, "assembly")
    views = await list_elections(assembly_id)
    elections = [_election_entry(e) for e in views]
    stored: dict[str, StoredElection] = {}
    registers: dict[str, dict[str, Any]] = {}
    if with_bundles:
        for e in elections:
            if e["status"] != "draft":
                stored[e["id"]] = await stored_election(int(e["id"]))
                if e["named"]:  # a secret vote has no register, anywhere
                    registers[e["id"]] = await register(await require_row(int(e["id"])), leaves=len(stored[e["id"]].leaves))
    return PublicRecord(
        assembly=_assembly_entry(assemblies.assembly_view(row)),
        generated_at=iso(now_ms) or "",
        server_key=server_key_json(server_public_key),
        members=[_member_entry(m) for m in await assemblies.list_members(assembly_id)],
        document=await draft.document(assembly_id),
        provisions=await _provisions(assembly_id),
        provision_versions=await _provision_versions(assembly_id),
        amendments=[_amendment_entry(a) for a in await amendments.list_amendments(assembly_id)],
        comments=[_comment_entry(c) for c in await comments.list_comments(assembly_id) if not c["hidden"]],
        agenda=[_item_entry(i) for i in await agenda.list_items(assembly_id, now_ms)],
        phase_changes=await _phase_changes(assembly_id),
        speakers=await _speakers(assembly_id),
        elections=elections,
        server_public_key=server_public_key,
        elections_stored=stored,
        registers=registers,
        attendance=await presence.attendance(assembly_id),
        presence_changes=await _presence_changes(assembly_id),
        election_quorum={e["id"]: {"quorum_basis": e.get("quorum_basis") or "all", "present_at_open": e.get("present_at_open")} for e in views},
    )


ASSEMBLY_FIELDS = ("id", "title", "titles", "description", "descriptions", "languages", "document_version", "created_at")


def _assembly_entry(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in ASSEMBLY_FIELDS}


def _member_entry(m: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": m["user_id"], "username": m["username"], "display_name": m["display_name"] or m["username"], "role": m["role"]}


async def _provisions(assembly_id: int) -> list[dict[str, Any]]:
    rows = await Provision.select().where(Provision.assembly == assembly_id).order_by(Provision.id)
    return [{"id": r["id"], "number": r["number"], "kind": r["kind"], "chapter": r.get("chapter") or "", "created_at": iso(r["created_ms"])} for r in rows]


async def _provision_versions(assembly_id: int) -> list[dict[str, Any]]:
    rows = (
        await ProvisionVersion.select(
            ProvisionVersion.provision,
            ProvisionVersion.provision.number.as_alias("number"),
            ProvisionVersion.document_version,
            ProvisionVersion.position,
            ProvisionVersion.title,
            ProvisionVersion.text,
            ProvisionVersion.amendment,
            ProvisionVersion.created_ms,
        )
        .where(ProvisionVersion.assembly == assembly_id)
        .order_by(ProvisionVersion.document_version, ProvisionVersion.id)
    )
    return [
        {
            "provision": r["provision"],
            "number": r["number"],
            "document_version": r["document_version"],
            "position": r["position"],
            "title": r["title"],
            "text": r["text"],
            "deleted": r["text"] is None,
            "amendment": r["amendment"],
            "created_at": iso(r["created_ms"]),
        }
        for r in rows
    ]


AMENDMENT_FIELDS = ("id", "provision", "kind", "title", "text", "rationale", "author", "cosponsors", "status", "reason", "base_document_version", "created_at", "updated_at")


def _amendment_entry(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in AMENDMENT_FIELDS}


def _comment_entry(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("id", "provision", "amendment", "parent", "author", "stance", "text", "created_at")}


def _item_entry(i: dict[str, Any]) -> dict[str, Any]:
    return {k: i[k] for k in ("id", "position", "title", "description", "planned_minutes", "phase", "speaking_time_s", "provisions", "outcome", "created_at")}


async def _phase_changes(assembly_id: int) -> list[dict[str, Any]]:
    rows = (
        await AuditRecord.select(AuditRecord.seq, AuditRecord.actor, AuditRecord.payload, AuditRecord.created_at)
        .where((AuditRecord.assembly_id == assembly_id) & (AuditRecord.action == "agenda.phase"))
        .order_by(AuditRecord.seq)
    )
    out = []
    for r in rows:
        p = json.loads(r["payload"])
        out.append({"audit_seq": r["seq"], "item": p.get("item"), "from": p.get("from"), "to": p.get("to"), "reopened": bool(p.get("reopened")), "at": r["created_at"], "by": r["actor"]})
    return out


async def _presence_changes(assembly_id: int) -> list[dict[str, Any]]:
    rows = (
        await AuditRecord.select(AuditRecord.actor, AuditRecord.payload, AuditRecord.created_at)
        .where((AuditRecord.assembly_id == assembly_id) & (AuditRecord.action == "presence.changed"))
        .order_by(AuditRecord.seq)
    )
    out = []
    for r in rows:
        p = json.loads(r["payload"])
        out.append({"username": p.get("username"), "present": bool(p.get("present")), "present_count": p.get("present_count"), "at": r["created_at"], "by": r["actor"]})
    return out


async def _speakers(assembly_id: int) -> list[dict[str, Any]]:
    items = await AgendaItem.select(AgendaItem.id).where(AgendaItem.assembly == assembly_id)
    if not items:
        return []
    rows = (
        await SpeakerEntry.select(SpeakerEntry.all_columns(), SpeakerEntry.user.username.as_alias("username"), SpeakerEntry.user.display_name.as_alias("display_name"))
        .where(SpeakerEntry.agenda_item.is_in([i["id"] for i in items]))
        .order_by(SpeakerEntry.id)
    )
    return [
        {
            "id": r["id"],
            "item": r["agenda_item"],
            "username": r["username"],
            "display_name": r["display_name"] or r["username"],
            "kind": r["kind"],
            "speech_type": r.get("speech_type") or "contribution",
            "status": r["status"],
            "requested_at": iso(r["requested_ms"]),
            "started_at": iso(r["started_ms"]),
            "ended_at": iso(r["ended_ms"]),
            "spoken_ms": r.get("spoken_ms") or 0,
        }
        for r in rows
    ]


ELECTION_FIELDS = ("id", "status", "agenda_item", "provision", "kind", "title", "method", "visibility", "named", "rule", "options", "tree_size", "root_hash", "created_at", "opened_at", "closed_at")


def _election_entry(e: dict[str, Any]) -> dict[str, Any]:
    entry = {k: e.get(k) for k in ELECTION_FIELDS}
    entry["named"] = bool(entry["named"])
    entry["directory"] = None if e["status"] == "draft" else f"elections/{e['id']}/"
    return entry
