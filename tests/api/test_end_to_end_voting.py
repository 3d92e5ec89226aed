"""Issue #4 end to end, through a real `kurultai serve` process and the real CLI commands:
demo → keys → open → cast with revotes → close → `kurultai verify` passes online and offline,
the winning amendment is in the consolidated text, and tampered exports fail."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import api, run


@pytest.mark.slow
def test_demo_vote_verify_and_tamper(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = server
    demo = json.loads(run(env, "demo", "--json", "--delegates", "4").stdout)
    aid, eid = demo["assembly"], demo["election"]
    mod = api(url, "POST", "/api/auth/token", body=demo["moderator"])["token"]

    keys = []
    for i, cred in enumerate(demo["delegates"]):
        key = tmp_path / f"key{i}"
        run(env, "keygen", "--out", str(key))
        assert (key.stat().st_mode & 0o777) == 0o600
        out = run(env, "register-key", url, "--assembly", str(aid), "--key", str(key), "--username", cred["username"], password=cred["password"]).stdout
        assert "pending" in out
        keys.append(key)
    for k in api(url, "GET", f"/api/assemblies/{aid}/keys", mod):
        api(url, "POST", f"/api/assemblies/{aid}/keys/{k['key_id']}/approve", mod)
    opened = api(url, "POST", f"/api/elections/{eid}/open", mod)
    options = [o["id"] for o in opened["election"]["signed"]["options"]]
    assert options[0] == "status_quo" and len(options) == 3
    a1, a2 = options[1], options[2]

    rankings = [f"{a1},{a2}", f"{a1},status_quo", f"{a2},{a1}", ""]
    for key, rank in zip(keys, rankings):
        out = run(env, "vote", url, eid, "--key", str(key), "--rank", rank).stdout
        assert "recorded" in out
    # revotes: the second delegate changes their mind twice, the fourth stops abstaining
    run(env, "vote", url, eid, "--key", str(keys[1]), "--rank", f"{a2}")
    run(env, "vote", url, eid, "--key", str(keys[1]), "--rank", f"{a1},{a2}")
    run(env, "vote", url, eid, "--key", str(keys[3]), "--rank", f"{a1}")
    # a key on no roll: `vote` runs PROTOCOL §5 (check_ballot) on its ballot first and sends nothing
    stranger = tmp_path / "stranger"
    run(env, "keygen", "--out", str(stranger))
    before = api(url, "GET", f"/api/elections/{eid}/sth")
    refused = run(env, "vote", url, eid, "--key", str(stranger), "--rank", a1, check=False)
    assert refused.returncode == 1 and "your key" in refused.stderr + refused.stdout and "is not on the roll" in refused.stderr + refused.stdout
    assert api(url, "GET", f"/api/elections/{eid}/sth") == before  # nothing was sent: no new tree head either
    tally = api(url, "GET", f"/api/elections/{eid}/tally")
    assert tally["tree_size"] == 7 and tally["counted"] == 4 and tally["winner"] == a1

    closed = api(url, "POST", f"/api/elections/{eid}/close", mod)
    assert closed["status"] == "closed"
    verified = run(env, "verify", url, eid)
    assert verified.returncode == 0

    doc = api(url, "GET", f"/api/assemblies/{aid}/document")
    article3 = next(p for p in doc["provisions"] if p["number"] == "3")
    winner_id = int(a1.split("-")[1])
    assert article3["text"] == api(url, "GET", f"/api/amendments/{winner_id}")["text"]
    assert api(url, "GET", f"/api/amendments/{winner_id}")["status"] == "adopted"

    export = tmp_path / "export"
    run(env, "export", eid, str(export))
    assert run(env, "verify", "--offline", str(export)).returncode == 0

    def tampered(name: str, change: Any) -> subprocess.CompletedProcess[str]:
        target = tmp_path / name
        shutil.copytree(export, target)
        change(target)
        return run(env, "verify", "--offline", str(target), check=False)

    def edit(target: Path, file: str, fn: Any, lines: bool = False) -> None:
        data = json.loads((target / file).read_text())
        data = fn(data) or data
        if lines:  # the export's layout, one leaf per line: the verifier's workers parse it
            text = "[\n  " + ",\n  ".join(json.dumps(leaf, separators=(",", ":")) for leaf in data) + "\n]\n"
        else:
            text = json.dumps(data)
        (target / file).write_text(text)

    def change_ballot(board: list[dict[str, Any]]) -> None:
        board[2]["ballot"]["signed"]["ranking"] = ["status_quo"]

    def reorder(board: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [board[1], board[0], *board[2:]]

    def change_result(result: dict[str, Any]) -> None:
        result["signed"]["winner"] = "status_quo"

    def extra_key(roll: dict[str, Any]) -> None:
        from voting.core.encoding import b64u_encode
        from voting.core.keys import Signer

        s = Signer.generate()
        roll["signed"]["voters"].append({"key_id": s.key_id, "public_key": b64u_encode(s.public_key_raw), "weight": 1})
        roll["signed"]["voters"].sort(key=lambda v: v["key_id"])

    cases = {
        "changed-ballot": lambda t: edit(t, "board.json", change_ballot),
        "dropped-leaf": lambda t: edit(t, "board.json", lambda b: b[:-1]),
        "reordered-leaves": lambda t: edit(t, "board.json", reorder),
        "changed-result": lambda t: edit(t, "result.json", change_result),
        "extra-roll-key": lambda t: edit(t, "roll.json", extra_key),
        "changed-ballot-lines": lambda t: edit(t, "board.json", change_ballot, lines=True),
        "dropped-leaf-lines": lambda t: edit(t, "board.json", lambda b: b[:-1], lines=True),
        "reordered-leaves-lines": lambda t: edit(t, "board.json", reorder, lines=True),
        "malformed-board": lambda t: (t / "board.json").write_text((t / "board.json").read_text()[:-4]),
    }
    for name, change in cases.items():
        proc = tampered(name, change)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert proc.stdout.startswith("FAILED: "), (name, proc.stdout, proc.stderr)
        if name == "malformed-board":
            assert "\n  board: board.json: " in proc.stdout, proc.stdout

    def indent(target: Path) -> None:  # the same board in another layout
        board = json.loads((target / "board.json").read_text())
        (target / "board.json").write_text(json.dumps(board, indent=2))

    proc = tampered("indented-board", indent)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
