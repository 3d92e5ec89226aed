"""Reading, exporting and verifying the hash-chained audit log."""

from __future__ import annotations

import json
from typing import Any

from deliberation.core.audit import AuditEntry, chain_head, entry_to_dict, verify_chain
from deliberation.core.errors import AuditChainError
from kurultai.unit_of_work import AuditRecord


async def entries(assembly_id: int) -> list[AuditEntry]:
    rows = await AuditRecord.select().where(AuditRecord.assembly_id == assembly_id).order_by(AuditRecord.seq)
    return [
        AuditEntry(
            seq=r["seq"],
            actor=r["actor"],
            action=r["action"],
            payload=json.loads(r["payload"]),
            created_at=r["created_at"],
            prev_hash=r["prev_hash"],
            hash=r["hash"],
        )
        for r in rows
    ]


async def export(assembly_id: int) -> dict[str, Any]:
    chain = await entries(assembly_id)
    try:
        verify_chain(chain)
        verified, problem = True, None
    except AuditChainError as exc:
        verified, problem = False, f"entry {exc.index}: {exc}"
    return {
        "assembly": assembly_id,
        "head": chain_head(chain),
        "verified": verified,
        "problem": problem,
        "entries": [entry_to_dict(e) for e in chain],
    }
