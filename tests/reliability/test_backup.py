"""`kurultai backup DEST` (SQLite online backup) while a server runs and takes ballots, and a
restore: a server started on the restored data directory serves the same board, tree head and
server key. On PostgreSQL the command refuses and points to pg_dump."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.server import cli, free_port, running, seed, server_env
from voting.core.keys import Signer, sign_object
from voting.core.signed import digest


def cast(url: str, info: dict[str, Any], voter: dict[str, str], revision: int) -> dict[str, Any]:
    election = info["election_envelope"]["signed"]
    signed = {
        "v": 1,
        "type": "ballot",
        "election": str(info["election"]),
        "election_digest": digest(election),
        "voter": voter["key_id"],
        "revision": revision,
        "ranking": [election["options"][revision % 3]["id"]],
        "nonce": "A" * 21 + "Q",
    }
    body = json.dumps(sign_object(Signer.from_private_bytes(bytes.fromhex(voter["private_key"])), signed))
    r = httpx.post(f"{url}/api/elections/{info['election']}/ballots", content=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def test_backup_while_serving_and_restore(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", free_port())
    cli(env, "migrate")
    info = seed(env, 4)
    eid = info["election"]
    dest = tmp_path / "backups" / "kurultai-backup.sqlite3"
    with running(env, tmp_path / "server.log") as server:
        for _i, voter in enumerate(info["voters"]):
            cast(server.url, info, voter, 1)
        before = {p: httpx.get(f"{server.url}/api/elections/{eid}/{p}").json() for p in ("sth", "board", "tally")}
        key = httpx.get(f"{server.url}/api/server-key").json()
        out = cli(env, "backup", str(dest)).stdout
        assert "backed up" in out and dest.exists()
        cast(server.url, info, info["voters"][0], 2)  # after the backup: not in it
        refused = cli(env, "backup", str(dest), check=False)
        assert refused.returncode != 0 and "exists" in refused.stderr
    assert before["sth"]["signed"]["tree_size"] == 4

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(dest, restored / "kurultai.sqlite3")
    shutil.copy(tmp_path / "data" / "server-key.ed25519", restored / "server-key.ed25519")
    env2 = server_env(restored, free_port())
    with running(env2, tmp_path / "restored.log") as server:
        after = {p: httpx.get(f"{server.url}/api/elections/{eid}/{p}").json() for p in ("sth", "board", "tally")}
        assert after == before
        assert httpx.get(f"{server.url}/api/server-key").json() == key
        cast(server.url, info, info["voters"][1], 2)  # the restored server takes ballots
        r = httpx.post(f"{server.url}/api/elections/{eid}/close", headers={"Authorization": f"Bearer {info['tokens']['moderator']}"}, timeout=60)
        assert r.status_code == 200, r.text
        assert cli(env2, "verify", server.url, str(eid)).returncode == 0


def test_backup_refuses_postgres(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", free_port(), "postgres://postgres@127.0.0.1:5432/whatever")
    proc = cli(env, "backup", str(tmp_path / "x.sqlite3"), check=False)
    assert proc.returncode != 0 and "pg_dump" in proc.stderr
    assert not (tmp_path / "x.sqlite3").exists()
