"""Issue #15: `kurultai verify` on an open election, and `kurultai verify --follow` watching one
through a real `kurultai serve` (SQLite and PostgreSQL) until its result is verified: one
follower on the assembly's websocket, one polling the tree head."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.api.conftest import KURULTAI, api, run
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer, sign_object
from voting.core.signed import digest


def open_election(url: str, env: dict[str, str], delegates: int) -> tuple[str, dict[str, Any], list[Signer], str]:
    """A demo assembly's election opened with a key per delegate: (id, election envelope, voters, moderator token)."""
    demo = json.loads(run(env, "demo", "--json", "--delegates", str(delegates)).stdout)
    aid, eid = demo["assembly"], demo["election"]
    mod = api(url, "POST", "/api/auth/token", body=demo["moderator"])["token"]
    voters = []
    for cred in demo["delegates"]:
        token = api(url, "POST", "/api/auth/token", body=cred)["token"]
        voter = Signer.generate()
        api(url, "POST", "/api/me/keys", token, {"assembly": aid, "public_key": b64u_encode(voter.public_key_raw)})
        api(url, "POST", f"/api/assemblies/{aid}/keys/{voter.key_id}/approve", mod)
        voters.append(voter)
    opened = api(url, "POST", f"/api/elections/{eid}/open", mod)
    return eid, opened["election"], voters, mod


def cast(url: str, election: dict[str, Any], voter: Signer, revision: int, ranking: list[str]) -> int:
    signed = {
        "v": 1,
        "type": "ballot",
        "election": election["signed"]["id"],
        "election_digest": digest(election["signed"]),
        "voter": voter.key_id,
        "revision": revision,
        "ranking": ranking,
        "nonce": b64u_encode(os.urandom(16)),
    }
    receipt = api(url, "POST", f"/api/elections/{election['signed']['id']}/ballots", body=sign_object(voter, signed))
    return int(receipt["seq"])


def wait_for(path: Path, text: str, proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, f"the follower exited {proc.returncode}: {path.read_text()}"
        assert time.monotonic() < deadline, f"{text!r} never came: {path.read_text()}"
        time.sleep(0.05)


def test_verify_open_then_follow_until_the_result(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = server
    eid, election, voters, mod = open_election(url, env, 4)
    options = [o["id"] for o in election["signed"]["options"]]
    sq, a1, a2 = options
    cast(url, election, voters[0], 1, [a1, a2])
    cast(url, election, voters[1], 1, [a2])
    cast(url, election, voters[2], 1, [])

    # verify once: everything up to the current tree head, the tally so far
    checked = run(env, "verify", url, eid)
    assert checked.returncode == 0
    assert checked.stdout.startswith(f"OK: election {eid} (schulze): open, 3 ballots verified up to tree size 3, no result yet\n"), checked.stdout
    assert "  live tally    the server's tally at tree size 3 agrees\n" in checked.stdout

    # a pinned key the server does not hold is a failure at once, also when following
    other = Signer.generate().public_key_b64u
    pinned = run(env, "verify", "--follow", "--server-key", other, url, eid, check=False)
    assert pinned.returncode == 1 and "server_key: the server serves key" in pinned.stdout, pinned.stdout

    followers = {}
    for name, extra in (("websocket", []), ("polling", ["--no-websocket", "--poll", "0.2"])):
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("w") as o, err.open("w") as e:
            proc = subprocess.Popen([*KURULTAI, "verify", "--follow", *extra, url, eid], env=env, stdout=o, stderr=e)
        followers[name] = (proc, out, err)
    try:
        for name, (proc, _, err) in followers.items():
            wait_for(err, f"following election {eid} ({name}): tree size 3, 3 ballots verified", proc)

        # more ballots, in a few tree heads: revotes, a first vote, an abstention turned vote
        cast(url, election, voters[3], 1, [sq])
        cast(url, election, voters[1], 2, [a1, sq])
        for _name, (proc, _, err) in followers.items():
            wait_for(err, "tree size 5, 5 ballots verified", proc)
        cast(url, election, voters[2], 2, [a2, a1])
        cast(url, election, voters[0], 2, [a2])
        cast(url, election, voters[3], 2, [a1])
        tally = api(url, "GET", f"/api/elections/{eid}/tally")
        assert tally["tree_size"] == 8
        closed = api(url, "POST", f"/api/elections/{eid}/close", mod)
        assert closed["status"] == "closed"
        result = api(url, "GET", f"/api/elections/{eid}/result")["signed"]

        for name, (proc, out, err) in followers.items():
            assert proc.wait(timeout=20) == 0, (name, out.read_text(), err.read_text())
            stdout = out.read_text()
            assert stdout.startswith(f"OK: election {eid} (schulze): 8 ballots on the board, 4 voters on the roll, 4 counted; winner {result['winner']}\n"), stdout
            assert f"  tree head  size 8, root {result['root_hash']}\n" in stdout
            followed = next(line for line in stdout.splitlines() if line.startswith("  followed   "))
            heads = int(followed.split()[1])
            assert heads >= 3 and "each consistent with the one before" in followed and f"({name})" in followed
            if name == "websocket":  # tally.updated events: each compared with the recount at its tree size
                assert "live tallies agree" in followed or "live tally agree" in followed, followed
            assert "tree size 8, 8 ballots verified" in err.read_text()
    finally:
        for proc, _, _ in followers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # closed: both commands verify the signed result as before
    assert run(env, "verify", url, eid).stdout == run(env, "verify", "--follow", url, eid).stdout
    missing = run(env, "verify", "--follow", url, "999", check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("error: HTTP 404 "), (missing.stdout, missing.stderr)
