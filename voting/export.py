"""`kurultai export ELECTION_ID DIR`: the election, roll, board, latest tree head, result and the
server key as files, for `kurultai verify --offline DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deliberation.core.errors import IllegalTransition
from voting.core.keys import Signer
from voting.elections import require_row
from voting.server_key import public_view
from voting.tables import Leaf, TreeHead

FILES = ("election.json", "roll.json", "board.json", "sth.json", "result.json", "server-key.json")


async def export_election(election_id: int, directory: Path, signer: Signer) -> dict[str, Any]:
    row = await require_row(election_id)
    if row["status"] == "draft":
        raise IllegalTransition(f"election {election_id} is a draft: there is nothing signed to export")
    leaves = await Leaf.select(Leaf.leaf).where(Leaf.election == election_id).order_by(Leaf.seq)
    head = await TreeHead.select(TreeHead.envelope).where(TreeHead.election == election_id).order_by(TreeHead.tree_size, ascending=False).first()
    objects = {
        "election.json": json.loads(row["election_envelope"]),
        "roll.json": json.loads(row["roll_envelope"]),
        "board.json": [json.loads(lf["leaf"]) for lf in leaves],
        "sth.json": json.loads(head["envelope"]) if head else None,
        "result.json": json.loads(row["result_envelope"]) if row["result_envelope"] else None,
        "server-key.json": public_view(signer),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, obj in objects.items():
        if obj is None:
            continue
        (directory / name).write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {"election": str(election_id), "status": row["status"], "ballots": len(leaves), "files": [n for n, o in objects.items() if o is not None]}
