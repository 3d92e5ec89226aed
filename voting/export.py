"""`kurultai export ELECTION_ID DIR`: the election, roll, board, latest tree head, result and the
server key as files (the offline format of `voting.client.write_bundle`), for
`kurultai verify --offline DIR`. The files are 0600, in a directory created 0700."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deliberation.core.errors import IllegalTransition
from kurultai.files import PRIVATE_FILE_MODE, private_dir
from voting.client import write_bundle
from voting.core.keys import Signer
from voting.board import stored_roll
from voting.elections import require_row
from voting.tables import Leaf, TreeHead
from voting.verifier import Bundle


async def export_election(election_id: int, directory: Path, signer: Signer) -> dict[str, Any]:
    stored = await stored_election(election_id)
    write_private_bundle(stored.bundle(signer.public_key_raw), directory)
    return {"election": str(election_id), "status": stored.status, "ballots": len(stored.leaves)}


@dataclass(frozen=True)
class StoredElection:
    """An election's signed objects as stored (JSON text), read without parsing the board, so a
    caller on an event loop can parse it in a thread (the open-data archive, kurultai/record)."""

    election_id: int
    status: str
    election: str
    roll: str
    leaves: list[str]
    sth: str | None
    result: str | None

    def bundle(self, server_public_key: bytes) -> Bundle:
        """The offline bundle `kurultai export` writes (`voting.client.write_bundle`)."""
        return Bundle(
            election=json.loads(self.election),
            roll=json.loads(self.roll),
            board=[json.loads(leaf) for leaf in self.leaves],
            sth=json.loads(self.sth) if self.sth else None,
            result=json.loads(self.result) if self.result else None,
            server_public_key=server_public_key,
        )


async def stored_election(election_id: int) -> StoredElection:
    row = await require_row(election_id)
    if row["status"] == "draft":
        raise IllegalTransition(f"election {election_id} is a draft: there is nothing signed to export")
    leaves = await Leaf.select(Leaf.leaf).where(Leaf.election == election_id).order_by(Leaf.seq)
    head = await TreeHead.select(TreeHead.envelope).where(TreeHead.election == election_id).order_by(TreeHead.tree_size, ascending=False).first()
    return StoredElection(
        election_id=election_id,
        status=row["status"],
        election=row["election_envelope"],
        roll=await stored_roll(election_id),
        leaves=[lf["leaf"] for lf in leaves],
        sth=head["envelope"] if head else None,
        result=row["result_envelope"] or None,
    )


def write_private_bundle(bundle: Bundle, directory: Path) -> None:
    """`write_bundle` with every file 0600: written in a private (0700) directory made inside
    `directory`, closed there, then moved into place, so that no file is ever open to others.
    `directory` is created 0700 when missing; an existing one is the user's and stays as it is."""
    private_dir(directory, tighten_existing=False)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))  # mode 0700
    try:
        write_bundle(bundle, staging)
        for file in sorted(staging.iterdir()):
            os.chmod(file, PRIVATE_FILE_MODE)
            os.replace(file, directory / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
