"""`kurultai export ELECTION_ID DIR`: the election, roll, board, latest tree head, result and the
server key as files (the offline format of `voting.client.write_bundle`), for
`kurultai verify --offline DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deliberation.core.errors import IllegalTransition
from voting.client import write_bundle
from voting.core.keys import Signer
from voting.board import stored_roll
from voting.elections import require_row
from voting.tables import Leaf, TreeHead
from voting.verifier import Bundle


async def export_election(election_id: int, directory: Path, signer: Signer) -> dict[str, Any]:
    row = await require_row(election_id)
    if row["status"] == "draft":
        raise IllegalTransition(f"election {election_id} is a draft: there is nothing signed to export")
    leaves = await Leaf.select(Leaf.leaf).where(Leaf.election == election_id).order_by(Leaf.seq)
    head = await TreeHead.select(TreeHead.envelope).where(TreeHead.election == election_id).order_by(TreeHead.tree_size, ascending=False).first()
    bundle = Bundle(
        election=json.loads(row["election_envelope"]),
        roll=json.loads(await stored_roll(election_id)),
        board=[json.loads(lf["leaf"]) for lf in leaves],
        sth=json.loads(head["envelope"]) if head else None,
        result=json.loads(row["result_envelope"]) if row["result_envelope"] else None,
        server_public_key=signer.public_key_raw,
    )
    write_bundle(bundle, directory)
    return {"election": str(election_id), "status": row["status"], "ballots": len(leaves)}
