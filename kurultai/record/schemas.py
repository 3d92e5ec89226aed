"""The JSON Schemas (draft 2020-12) of the open-data archive's files (docs/open-data.md).

`SCHEMAS` maps a schema's file name (under `schemas/` in the archive) to the schema; `schema_for`
names the schema of a file of the archive. Our own files are closed (`additionalProperties:
false`): a new field is a new format version. The election files are PROTOCOL.md's objects, as
`kurultai export` writes them; their schemas check the envelope and the fields a reader needs,
and leave the signed content to the verifier (`kurultai verify --offline`).
"""

from __future__ import annotations

from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: 2: `named` in elections.json, elections/{id}/register.json of a named vote
FORMAT_VERSION = 2
BASE_ID = f"https://kurultai.example/open-data/{FORMAT_VERSION}/"

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
HEX64: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
B64U: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def closed(properties: dict[str, Any], title: str = "") -> dict[str, Any]:
    """An object with exactly these properties, all required."""
    out: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    if title:
        out["title"] = title
    return out


def array_of(item: dict[str, Any], title: str) -> dict[str, Any]:
    return {"title": title, "type": "array", "items": item}


LANG_MAP: dict[str, Any] = {"type": "object", "propertyNames": {"enum": ["kk", "ru", "en"]}, "additionalProperties": STR}

ASSEMBLY = closed(
    {
        "id": INT,
        "title": STR,
        "titles": LANG_MAP,
        "description": STR,
        "descriptions": LANG_MAP,
        "languages": {"type": "array", "items": {"enum": ["kk", "ru", "en"]}, "minItems": 1},
        "document_version": INT,
        "created_at": nullable(TIME),
    },
    "The assembly",
)

MEMBER = closed({"user_id": INT, "username": STR, "display_name": STR, "role": {"enum": ["moderator", "secretary", "delegate", "observer"]}})

CONSOLIDATED = closed({"id": INT, "number": STR, "kind": {"enum": ["article", "paragraph"]}, "title": STR, "text": STR, "version": INT})
DOCUMENT = closed(
    {"assembly": INT, "title": STR, "version": INT, "current_version": INT, "provisions": {"type": "array", "items": CONSOLIDATED}},
    "The consolidated text at the archive's document version",
)

PROVISION = closed({"id": INT, "number": STR, "kind": {"enum": ["article", "paragraph"]}, "chapter": STR, "created_at": nullable(TIME)})

PROVISION_VERSION = closed(
    {
        "provision": INT,
        "number": STR,
        "document_version": INT,
        "position": INT,
        "title": STR,
        "text": nullable(STR),
        "deleted": BOOL,
        "amendment": nullable(INT),
        "created_at": nullable(TIME),
    }
)

AMENDMENT = closed(
    {
        "id": INT,
        "provision": INT,
        "kind": {"enum": ["replace", "insert_after", "delete"]},
        "title": STR,
        "text": nullable(STR),
        "rationale": STR,
        "author": nullable(STR),
        "cosponsors": {"type": "array", "items": STR},
        "status": {"enum": ["draft", "submitted", "admitted", "withdrawn", "rejected", "adopted"]},
        "reason": STR,
        "base_document_version": INT,
        "created_at": nullable(TIME),
        "updated_at": nullable(TIME),
    }
)

COMMENT = closed(
    {
        "id": INT,
        "provision": nullable(INT),
        "amendment": nullable(INT),
        "parent": nullable(INT),
        "author": nullable(STR),
        "stance": {"enum": ["for", "against", "neutral"]},
        "text": STR,
        "created_at": nullable(TIME),
    }
)

PHASE = {"enum": ["pending", "debate", "amendments", "voting", "closed"]}

AGENDA_ITEM = closed(
    {
        "id": INT,
        "position": INT,
        "title": STR,
        "description": STR,
        "planned_minutes": INT,
        "phase": PHASE,
        "speaking_time_s": INT,
        "provisions": {"type": "array", "items": INT},
        "outcome": nullable({"type": "object"}),
        "created_at": nullable(TIME),
    }
)

PHASE_CHANGE = closed({"audit_seq": INT, "item": INT, "from": PHASE, "to": PHASE, "reopened": BOOL, "at": TIME, "by": nullable(STR)})

SPEAKER = closed(
    {
        "id": INT,
        "item": INT,
        "username": STR,
        "display_name": STR,
        "kind": STR,
        "speech_type": STR,
        "status": STR,
        "requested_at": nullable(TIME),
        "started_at": nullable(TIME),
        "ended_at": nullable(TIME),
        "spoken_ms": INT,
    }
)

OPTION = {"type": "object", "properties": {"id": STR, "label": STR}, "required": ["id", "label"]}

ELECTION_ENTRY = closed(
    {
        "id": STR,
        "status": {"enum": ["draft", "open", "closed"]},
        "agenda_item": INT,
        "provision": nullable(INT),
        "kind": {"enum": ["amendments", "yes_no"]},
        "title": STR,
        "method": {"enum": ["schulze", "ranked_pairs", "irv", "borda", "plurality", "yes_no"]},
        "visibility": {"enum": ["live", "after_close"]},
        "named": BOOL,
        "rule": nullable({"type": "object"}),
        "options": {"type": "array", "items": OPTION},
        "tree_size": INT,
        "root_hash": nullable(HEX64),
        "created_at": nullable(TIME),
        "opened_at": nullable(TIME),
        "closed_at": nullable(TIME),
        "directory": nullable({"type": "string", "pattern": "^elections/[0-9]+/$"}),
    }
)

SERVER_KEY = closed({"algorithm": {"const": "ed25519"}, "public_key": B64U, "key_id": HEX64}, "The server's public key (PROTOCOL §2)")

MANIFEST_FILE = closed({"path": STR, "schema": nullable(STR), "media_type": STR, "bytes": INT, "sha256": HEX64})
MANIFEST = closed(
    {
        "format": {"const": "kurultai-open-data"},
        "format_version": {"const": FORMAT_VERSION},
        "assembly": INT,
        "generated_at": TIME,
        "document_version": INT,
        "server_key": SERVER_KEY,
        "files": {"type": "array", "items": MANIFEST_FILE},
    },
    "The archive's table of contents",
)


def envelope(kind: str, signed: dict[str, Any]) -> dict[str, Any]:
    """A PROTOCOL §2 envelope of a signed object of `type` kind."""
    inner = {"type": "object", "properties": {"v": {"const": 1}, "type": {"const": kind}, **signed}, "required": ["v", "type", *signed]}
    return closed({"signed": inner, "signature": B64U, "signer": HEX64}, f"The signed {kind} (PROTOCOL §2-§4)")


ELECTION = envelope(
    "election",
    {"id": STR, "assembly": STR, "agenda_item": STR, "title": STR, "options": {"type": "array", "items": OPTION}, "method": STR, "visibility": STR, "roll_digest": HEX64, "opened_at": STR},
)
ROLL = envelope(
    "roll",
    {
        "election": STR,
        "voters": {
            "type": "array",
            "items": {"type": "object", "properties": {"key_id": HEX64, "public_key": B64U, "weight": {"type": "integer", "minimum": 1}}, "required": ["key_id", "public_key", "weight"]},
        },
    },
)
REGISTER_ENTRY = closed({"username": STR, "display_name": STR, "key_id": HEX64, "ballots": INT, "revision": nullable(INT)})
REGISTER = closed(
    {
        "election": STR,
        "status": {"enum": ["open", "closed"]},
        "voted": INT,
        "roll_size": INT,
        "entries": {"type": "array", "items": REGISTER_ENTRY},
    },
    "Who on the roll of a named vote has voted, by name (GET /api/elections/{id}/register): the server's statement, not signed",
)
STH = envelope("sth", {"election": STR, "tree_size": INT, "root_hash": HEX64})
RESULT = envelope("result", {"election": STR})
BALLOT = envelope("ballot", {"election": STR, "election_digest": HEX64, "voter": HEX64, "revision": {"type": "integer", "minimum": 1}, "ranking": {"type": "array", "items": STR}, "nonce": B64U})
LEAF = {
    "type": "object",
    "properties": {"v": {"const": 1}, "type": {"const": "leaf"}, "seq": {"type": "integer", "minimum": 0}, "ballot": BALLOT, "received_at": STR},
    "required": ["v", "type", "seq", "ballot", "received_at"],
}
BOARD = array_of(LEAF, "The board: every accepted ballot as a leaf, in seq order (PROTOCOL §3)")

#: schema file name -> schema
SCHEMAS: dict[str, dict[str, Any]] = {
    "manifest.schema.json": MANIFEST,
    "assembly.schema.json": ASSEMBLY,
    "members.schema.json": array_of(MEMBER, "The members and their roles"),
    "document.schema.json": DOCUMENT,
    "provisions.schema.json": array_of(PROVISION, "Every provision ever in the draft"),
    "provision_versions.schema.json": array_of(PROVISION_VERSION, "Every version of every provision, by document version"),
    "amendments.schema.json": array_of(AMENDMENT, "Every amendment"),
    "comments.schema.json": array_of(COMMENT, "Every comment that is not hidden"),
    "agenda.schema.json": array_of(AGENDA_ITEM, "The agenda items in order"),
    "phase_changes.schema.json": array_of(PHASE_CHANGE, "Every phase change of an agenda item, in order"),
    "speakers.schema.json": array_of(SPEAKER, "Every entry of every speakers' list"),
    "elections.schema.json": array_of(ELECTION_ENTRY, "Every election (a draft has no directory)"),
    "election/election.schema.json": ELECTION,
    "election/roll.schema.json": ROLL,
    "election/board.schema.json": BOARD,
    "election/sth.schema.json": nullable(STH),
    "election/result.schema.json": nullable(RESULT),
    "election/server-key.schema.json": SERVER_KEY,
    "election/register.schema.json": REGISTER,
}

SCHEMAS = {name: {"$schema": DIALECT, "$id": BASE_ID + "schemas/" + name, **schema} for name, schema in SCHEMAS.items()}


def schema_for(path: str) -> str | None:
    """The schema file (under schemas/) of an archive file's path relative to the archive root."""
    if not path.endswith(".json") or path.startswith("schemas/"):
        return None
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "elections":
        name = "election/" + parts[2].removesuffix(".json") + ".schema.json"
    else:
        name = path.removesuffix(".json") + ".schema.json"
    return name if name in SCHEMAS else None
