"""Open elections: `verify_election` on an open bundle, the head-by-head `Monitor`, and the
`--follow` loop against a fake server whose board grows, forks or lies.

Elections are built with the pure core alone (tests/unit/synthetic_election.py plays the
server); a forged tree head is one the server key really signed, over a board that rewrites
history, so only the consistency proof (or the root over the leaves) can catch it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.unit.synthetic_election import (
    OPENED_MS,
    SyntheticElection,
    build_election,
    make_ballot,
    sign_result,
    sign_tree,
)
from voting.client import FollowState, follow_election, server_key_json
from voting.core.encoding import format_time
from voting.core.errors import ProofError
from voting.core.keys import Signer, sign_object
from voting.core.merkle import MemoryNodeStore, consistency_proof
from voting.core.signed import compute_leaf_hash, make_leaf
from voting.verifier import Bundle, Monitor, Report, verify_election

A12, A13, SQ = "amendment-12", "amendment-13", "status_quo"
BALLOTS = [
    (0, 1, [A12, SQ]),
    (1, 1, [A13]),
    (2, 1, []),
    (0, 2, [A13, A12]),  # a revote
    (3, 1, [SQ, A12, A13]),
    (4, 1, [A12]),
    (1, 3, [A12, A13]),
    (5, 1, [A13, SQ]),
    (2, 2, [SQ]),
]
TALLY_FIELDS = ("counted", "ranking", "winner", "ties_broken", "details")


@pytest.fixture(scope="module")
def good() -> SyntheticElection:
    return build_election(ballots=BALLOTS, weights=[1, 2, 1, 3, 1, 1])


def checks(failures: Sequence[Any]) -> list[tuple[str, int | None]]:
    return [(f.check, f.seq) for f in failures]


def messages(failures: Sequence[Any]) -> str:
    return "\n".join(str(f) for f in failures)


def head(e: SyntheticElection, board: list[dict[str, Any]], n: int, *, signer: Signer | None = None, election_id: str | None = None) -> dict[str, Any]:
    """The server's signed tree head over the first n leaves of ``board`` (timestamp n ms after opening)."""
    env = sign_tree(e.server, election_id or e.election_id, board[:n], OPENED_MS + n)
    return sign_object(signer, env["signed"]) if signer is not None else env


def prover(board: list[dict[str, Any]]):
    """`proof(first, second)` as the server answers it, from the tree over ``board``."""
    store = MemoryNodeStore.from_leaf_hashes([compute_leaf_hash(leaf) for leaf in board])

    def proof(first: int, second: int) -> Any:
        return {"consistency_proof": [h.hex() for h in consistency_proof(first, second, store)]}

    return proof


def leaves_of(board: list[dict[str, Any]]):
    return lambda start, end: board[start:end]


def open_bundle(e: SyntheticElection, board: list[dict[str, Any]], n: int, tally: Any = None) -> Bundle:
    return e.bundle(board=board[:n], sth=head(e, board, n), result=None, open=True, tally=tally)


def monitor_of(e: SyntheticElection) -> Monitor:
    m = Monitor(e.election, e.roll, e.server.public_key_raw)
    assert m.ok, messages(m.failures)
    return m


def live_tally(e: SyntheticElection, n: int, board: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The live tally the server would publish over the first n leaves (its fields from the recount)."""
    board = board if board is not None else e.board
    report = verify_election(open_bundle(e, board, n), workers=1)
    assert report.ok
    counted = sign_result(e.server, e.election, e.roll, board[:n], head(e, board, n)["signed"])["signed"]
    return {"election": e.election_id, "tree_size": n, "root_hash": report.summary.root_hash, **{k: counted[k] for k in TALLY_FIELDS}}


def forked_board(e: SyntheticElection, at: int) -> list[dict[str, Any]]:
    """The same board with leaf ``at`` replaced by another ballot its voter really signed."""
    board = copy.deepcopy(e.board)
    signed = board[at]["ballot"]["signed"]
    voter = next(v for v in e.voters if v.key_id == signed["voter"])
    ballot = make_ballot(voter, e.election_id, e.election_digest, signed["revision"], [SQ])
    board[at] = make_leaf(at, ballot, board[at]["received_at"])
    return board


# --- verify_election on an open election --------------------------------------------------------


def test_open_election_verifies_up_to_its_tree_head(good):
    for n in (0, 1, 4, len(good.board)):
        report = verify_election(open_bundle(good, good.board, n, live_tally(good, n)), workers=1)
        assert report.ok, messages(report.failures)
        s = report.summary
        assert s.open and s.ballots == s.tree_size == n
        assert s.root_hash == head(good, good.board, n)["signed"]["root_hash"]
    final = verify_election(open_bundle(good, good.board, len(good.board)), workers=1).summary
    closed = verify_election(good.bundle(), workers=1).summary
    assert (final.counted, final.winner, final.ranking) == (closed.counted, closed.winner, closed.ranking)
    assert not closed.open


def test_a_closed_election_still_needs_its_result(good):
    report = verify_election(good.bundle(result=None))
    assert checks(report.failures) == [("result", None)] and not report.summary.open


def test_open_election_checks_every_leaf(good):
    board = copy.deepcopy(good.board)
    board[2]["ballot"]["signed"]["ranking"] = [A12]  # the signature no longer covers it
    report = verify_election(open_bundle(good, board, 5), workers=1)
    assert checks(report.failures) == [("ballot.signature", 2)]
    report = verify_election(good.bundle(board=good.board[:4], sth=head(good, good.board, 5), result=None, open=True))
    assert ("sth.tree_size", None) in checks(report.failures)


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("winner", "another", "tally.winner"),
        ("counted", 99, "tally.counted"),
        ("ranking", "reversed", "tally.ranking"),
        ("details", {}, "tally.details"),
        ("root_hash", "00" * 32, "tally.root_hash"),
        ("tree_size", 5, "tally.tree_size"),
        ("tree_size", True, "tally.tree_size"),
        ("counted", 1.5, "tally.counted"),
    ],
)
def test_open_election_live_tally_must_equal_the_recount(good, field, value, check):
    tally = live_tally(good, 6)
    if value == "another":
        value = next(o for o in (A12, A13, SQ) if o != tally["winner"])
    elif value == "reversed":
        value = tally["ranking"][::-1]
    tally[field] = value
    report = verify_election(open_bundle(good, good.board, 6, tally), workers=1)
    assert checks(report.failures) == [(check, None)], messages(report.failures)
    if check not in ("tally.root_hash", "tally.tree_size"):
        assert "the server's live tally says" in messages(report.failures)


def test_open_election_malformed_tally(good):
    tally = live_tally(good, 6)
    del tally["ties_broken"]
    for bad in (tally, ["not", "a", "tally"], None):
        report = verify_election(open_bundle(good, good.board, 6, bad or "x"), workers=1)
        assert checks(report.failures) == [("tally.fields", None)]


# --- the monitor ---------------------------------------------------------------------------------


def test_monitor_follows_heads_and_verifies_the_result(good):
    m = monitor_of(good)
    proof, leaves = prover(good.board), leaves_of(good.board)
    seen: list[int] = []
    verified = 0
    for n, new in [(0, True), (3, True), (5, True), (5, False), (2, False), (0, False), (9, True)]:
        assert m.update(head(good, good.board, n), proof, leaves, seen.append) is new, n
        assert m.ok, messages(m.failures)
        verified = max(verified, n)
        assert m.size == verified and m.head is not None and m.head.tree_size == verified
    assert (m.heads, m.size, seen) == (4, 9, [3, 2, 4])
    assert m.report().summary.open
    report = m.finish(good.result)
    assert report.ok and not report.summary.open
    assert report.summary == verify_election(good.bundle()).summary


def test_monitor_agrees_with_verify_election_at_every_head(good):
    """The reference: verify_election on each prefix, from scratch."""
    m = monitor_of(good)
    for n in range(len(good.board) + 1):
        m.update(head(good, good.board, n), prover(good.board), leaves_of(good.board))
        assert m.report() == verify_election(open_bundle(good, good.board, n), workers=1), n


def test_monitor_reports_the_same_leaf_failures_as_verify_election(good, monkeypatch):
    import voting.verifier.monitor as monitor_module

    monkeypatch.setattr(monitor_module, "STEP", 2)  # several steps a head
    board = copy.deepcopy(good.board)
    board[1]["ballot"]["signature"] = board[0]["ballot"]["signature"]  # a bad signature
    board[3]["ballot"]["signed"]["election"] = "43"  # another election (and a bad signature)
    stranger = Signer.from_private_bytes(b"\x0c" * 32)
    board[5] = make_leaf(5, make_ballot(stranger, good.election_id, good.election_digest, 1, [A12]), board[5]["received_at"])
    board[7]["seq"] = 8
    want = verify_election(open_bundle(good, board, len(board)), workers=1)
    m = monitor_of(good)
    for n in (4, 6, 9):  # heads over the tampered board: only the leaf checks can fail
        m.update(head(good, board, n), prover(board), leaves_of(board))
    assert sorted(checks(m.failures)) == sorted(checks(want.failures))
    assert sorted(map(str, m.failures)) == sorted(map(str, want.failures))
    assert m.head is None or m.head.tree_size < 9  # no head with a failed leaf is accepted


def test_monitor_live_tallies(good):
    m = monitor_of(good)
    proof, leaves = prover(good.board), leaves_of(good.board)
    assert m.check_tally(live_tally(good, 4))  # before its head: kept until the head is verified
    assert m.tallies == 0
    assert m.update(head(good, good.board, 4), proof, leaves) and m.tallies == 1
    assert m.check_tally(live_tally(good, 4)) and m.tallies == 2  # after it: compared at once
    assert m.check_tally(live_tally(good, 2)) and m.tallies == 2  # a size this monitor never verified
    wrong = live_tally(good, 7)
    wrong["winner"] = next(o for o in (A12, A13, SQ) if o != wrong["winner"])
    assert m.check_tally(wrong)  # pending
    assert not m.update(head(good, good.board, 7), proof, leaves)
    assert checks(m.failures) == [("tally.winner", None)]
    assert "the server's live tally says" in messages(m.failures)


def test_a_forked_history_is_not_consistent(good):
    m = monitor_of(good)
    assert m.update(head(good, good.board, 5), prover(good.board), leaves_of(good.board))
    forked = forked_board(good, 2)  # the server rewrites seq 2, then signs a head over the new history
    assert not m.update(head(good, forked, 9), prover(forked), leaves_of(forked))
    assert checks(m.failures) == [("sth.consistency", None)]
    text = messages(m.failures)
    assert "tree head 9 (" in text and "is not consistent with tree head 5 (" in text
    assert m.head is not None and m.head.tree_size == 5 and m.size == 5


def test_a_forked_history_with_an_honest_proof_is_caught_by_the_root(good):
    """The proof is the honest one, the head and leaves are the fork's: the root over the leaves says."""
    m = monitor_of(good)
    m.update(head(good, good.board, 5), prover(good.board), leaves_of(good.board))
    forked = forked_board(good, 6)  # a leaf after the verified head: its history is intact
    assert not m.update(head(good, good.board, 9), prover(good.board), leaves_of(forked))
    assert checks(m.failures) == [("sth.root_hash", None)]


@pytest.mark.parametrize("forge", ["bit flip", "truncated", "extra", "not hex", "not a list", "refused"])
def test_a_forged_consistency_proof(good, forge):
    honest = prover(good.board)

    def proof(first: int, second: int) -> Any:
        hashes = honest(first, second)["consistency_proof"]
        if forge == "bit flip":
            hashes[0] = ("1" if hashes[0][0] == "0" else "0") + hashes[0][1:]
        elif forge == "truncated":
            hashes = hashes[:-1]
        elif forge == "extra":
            hashes = [*hashes, "00" * 32]
        elif forge == "not hex":
            hashes[0] = hashes[0].upper()
        elif forge == "not a list":
            return {"consistency_proof": hashes[0]}
        else:
            raise ProofError("the server gives no consistency proof from 3 to 9: HTTP 400 bad_proof: no")
        return {"consistency_proof": hashes}

    m = monitor_of(good)
    m.update(head(good, good.board, 3), honest, leaves_of(good.board))
    assert not m.update(head(good, good.board, 9), proof, leaves_of(good.board))
    assert checks(m.failures) == [("sth.consistency", None)]
    assert f"tree head 9 ({format_time(OPENED_MS + 9)}) is not consistent with tree head 3" in messages(m.failures)


def test_an_older_head_must_be_a_prefix(good):
    m = monitor_of(good)
    m.update(head(good, good.board, 7), prover(good.board), leaves_of(good.board))
    forked = forked_board(good, 1)
    assert not m.update(head(good, forked, 4), prover(forked), leaves_of(forked))
    assert checks(m.failures) == [("sth.consistency", None)]
    assert "tree head 4 (" in messages(m.failures) and "with tree head 7 (" in messages(m.failures)


def test_same_size_other_root(good):
    m = monitor_of(good)
    m.update(head(good, good.board, 6), prover(good.board), leaves_of(good.board))

    def no_proof(first: int, second: int) -> Any:
        raise AssertionError("same size: no proof to fetch")

    assert not m.update(head(good, forked_board(good, 0), 6), no_proof, leaves_of(good.board))
    assert checks(m.failures) == [("sth.consistency", None)] and "root hash mismatch" in messages(m.failures)


def test_the_empty_tree_has_one_root(good):
    m = monitor_of(good)
    m.update(head(good, good.board, 3), prover(good.board), leaves_of(good.board))
    empty = sign_object(good.server, {**head(good, good.board, 0)["signed"], "root_hash": "11" * 32})
    assert not m.update(empty, prover(good.board), leaves_of(good.board))
    assert checks(m.failures) == [("sth.consistency", None)]


def test_a_head_of_another_key_or_election(good):
    m = monitor_of(good)
    other = Signer.from_private_bytes(b"\x0d" * 32)
    assert not m.update(head(good, good.board, 3, signer=other), prover(good.board), leaves_of(good.board))
    assert checks(m.failures) == [("sth.signature", None)]
    m = monitor_of(good)
    assert not m.update(head(good, good.board, 3, election_id="43"), prover(good.board), leaves_of(good.board))
    assert checks(m.failures) == [("sth.election", None)]
    m = monitor_of(good)
    assert not m.update({"signed": good.result["signed"], "signature": good.result["signature"], "signer": good.result["signer"]}, prover(good.board), leaves_of(good.board))
    assert checks(m.failures) == [("sth.envelope", None)]  # a result never passes for a tree head


def test_missing_leaves(good):
    m = monitor_of(good)
    assert not m.update(head(good, good.board, 5), prover(good.board), lambda start, end: good.board[start : end - 1])
    assert checks(m.failures) == [("board", None)]


def test_a_changed_result(good):
    m = monitor_of(good)
    m.update(head(good, good.board, 9), prover(good.board), leaves_of(good.board))
    ranking = good.result["signed"]["ranking"][::-1]
    result = sign_object(good.server, {**good.result["signed"], "winner": ranking[0], "ranking": ranking})
    report = m.finish(result)
    assert ("result.winner", None) in checks(report.failures) and ("result.ranking", None) in checks(report.failures)
    m = monitor_of(good)
    m.update(head(good, good.board, 8), prover(good.board), leaves_of(good.board))
    assert ("result.tree_size", None) in checks(m.finish(good.result).failures)  # the result covers more


def test_a_bad_roll_or_election_is_reported_at_once(good):
    roll = copy.deepcopy(good.roll)
    roll["signed"]["voters"][0]["weight"] = 5
    m = Monitor(good.election, roll, good.server.public_key_raw)
    assert ("roll.signature", None) in checks(m.failures) and ("election.roll_digest", None) in checks(m.failures)
    m = Monitor(None, good.roll, b"\x00" * 32)
    assert checks(m.failures)[:2] == [("server_key", None), ("election", None)]


# --- the follow loop, against a fake server ------------------------------------------------------


class GrowingServer:
    """The PROTOCOL §5 paths of one election whose board grows one step at each read of the tree
    head; after the last step the election is closed and its result signed. ``boards[i]`` is the
    board the server claims at step i (a fork when it differs from the one before)."""

    def __init__(self, e: SyntheticElection, sizes: list[int], boards: list[list[dict[str, Any]]] | None = None, visibility: str = "live") -> None:
        self.e, self.sizes, self.visibility = e, sizes, visibility
        self.boards = boards or [e.board] * len(sizes)
        self.step = -1  # before the first read of the tree head
        self.requests: list[str] = []

    @property
    def board(self) -> list[dict[str, Any]]:
        return self.boards[max(self.step, 0)][: self.sizes[max(self.step, 0)]]

    @property
    def closed(self) -> bool:
        return self.step >= len(self.sizes) - 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        e, path, params = self.e, request.url.path, request.url.params
        self.requests.append(f"{path}?{params}" if params else path)
        base = f"/api/elections/{e.election_id}"
        if path == "/api/server-key":
            body: Any = server_key_json(e.server.public_key_raw)
        elif path == base:
            body = {"status": "closed" if self.closed else "open", "election": e.election, "visibility": self.visibility}
        elif path == f"{base}/roll":
            body = e.roll
        elif path == f"{base}/sth":
            if not self.closed:
                self.step += 1
            body = head(e, self.board, len(self.board))
        elif path == f"{base}/proof/consistency":
            body = prover(self.board)(int(params["first"]), int(params["second"]))
        elif path == f"{base}/board":
            start, end = int(params["start"]), int(params["end"])
            body = {"entries": [{"seq": i, "leaf": leaf, "leaf_hash": compute_leaf_hash(leaf).hex()} for i, leaf in enumerate(self.board[start:end], start)]}
        elif path == f"{base}/result" and self.closed:
            body = sign_result(e.server, e.election, e.roll, self.board, head(e, self.board, len(self.board))["signed"])
        else:
            return httpx.Response(404, json={"error": "not_found", "detail": path})
        return httpx.Response(200, json=body)


def follow(server: GrowingServer, states: list[tuple[int, int]] | None = None, **kw: Any) -> Report | None:
    def on_state(state: FollowState) -> None:
        if states is not None:
            states.append((state.tree_size, state.heads))

    return follow_election("http://kurultai.test", server.e.election_id, websocket=False, poll_s=0.001, transport=httpx.MockTransport(server.handle), on_state=on_state, **kw)


def test_follow_polls_until_the_result_is_verified(good):
    server = GrowingServer(good, [0, 2, 2, 5, 9, 9])
    states: list[tuple[int, int]] = []
    report = follow(server, states)
    assert report is not None and report.ok, messages(report.failures)
    assert report.summary == verify_election(good.bundle()).summary
    assert states[-1] == (9, 4)  # heads 0, 2, 5 and 9
    proofs = [r for r in server.requests if r.endswith("/proof/consistency?first=2&second=5")]
    assert proofs and any("second=9" in r for r in server.requests)
    assert not any("first=0" in r for r in server.requests)  # no proof from the empty tree


def test_follow_stops_at_a_fork(good):
    forked = forked_board(good, 1)
    server = GrowingServer(good, [2, 5, 9, 9], boards=[good.board, good.board, forked, forked])
    report = follow(server)
    assert report is not None and checks(report.failures) == [("sth.consistency", None)]
    assert "tree head 9 (" in messages(report.failures) and "not consistent with tree head 5 (" in messages(report.failures)
    assert server.step == 2 and not any(r.endswith("/result") for r in server.requests)


def test_follow_a_closed_or_draft_election_returns_none(good):
    server = GrowingServer(good, [9])
    server.step = 0  # closed
    assert follow(server) is None
    assert server.requests == ["/api/server-key", f"/api/elections/{good.election_id}"]


def test_follow_with_a_pinned_key(good):
    other = Signer.from_private_bytes(b"\x0e" * 32)
    report = follow(GrowingServer(good, [3, 9, 9]), server_public_key=other.public_key_raw)
    assert report is not None and ("server_key", None) in checks(report.failures)


def test_cli_follow_exit_codes(good, monkeypatch):
    import voting.client_cli as cli_module
    from voting.client_cli import verify

    def with_server(server: GrowingServer) -> Any:
        def follow_fake(*args: Any, **kwargs: Any) -> Any:
            assert kwargs["websocket"] is False and kwargs["poll_s"] == 0.5  # from the command line
            return follow_election(*args, **{**kwargs, "poll_s": 0.001, "transport": httpx.MockTransport(server.handle)})

        return follow_fake

    monkeypatch.setattr(cli_module, "follow_election", with_server(GrowingServer(good, [1, 4, 9, 9])))
    result = CliRunner().invoke(verify, ["--follow", "--no-websocket", "--poll", "0.5", "http://kurultai.test", good.election_id])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: election {good.election_id} (schulze): 9 ballots on the board")
    assert "  followed   3 tree heads, each consistent with the one before (polling)\n" in result.stdout
    assert "tree size 9, 9 ballots verified, 3 tree heads" in result.stderr  # a line per head: not a terminal

    forked = forked_board(good, 0)
    server = GrowingServer(good, [1, 4, 9, 9], boards=[good.board, good.board, forked, forked])
    monkeypatch.setattr(cli_module, "follow_election", with_server(server))
    result = CliRunner().invoke(verify, ["--follow", "--no-websocket", "--poll", "0.5", "http://kurultai.test", good.election_id])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"FAILED: 1 check(s) failed for election {good.election_id}\n  sth.consistency: tree head 9 (")
    assert "is not consistent with tree head 4 (" in result.stdout

    result = CliRunner().invoke(verify, ["--follow", "--offline", "x"])
    assert result.exit_code == 2 and "--follow needs BASE_URL ELECTION_ID" in result.output


def test_open_bundle_from_a_fake_server(good):
    """`fetch_bundle` of an open election reads the live tally of the same tree size."""
    from voting.client import fetch_bundle

    class Live(GrowingServer):
        def handle(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/tally"):
                self.requests.append(request.url.path)
                return httpx.Response(200, json=live_tally(self.e, len(self.board), self.board))
            return super().handle(request)

    server = Live(good, [6, 9, 9])
    bundle = fetch_bundle("http://kurultai.test", good.election_id, transport=httpx.MockTransport(server.handle))
    assert bundle.open and bundle.tally["tree_size"] == 6 and len(bundle.board) == 6
    report = verify_election(bundle)
    assert report.ok and report.summary.open and report.summary.tree_size == 6
    hidden = GrowingServer(good, [6, 9, 9], visibility="after_close")
    bundle = fetch_bundle("http://kurultai.test", good.election_id, transport=httpx.MockTransport(hidden.handle))
    assert bundle.open and bundle.tally is None and verify_election(bundle).ok


def test_follow_falls_back_to_polling_without_a_websocket(good):
    """Nothing listens on the websocket's port (the HTTP side is the fake): the follower polls."""
    from tests.api.conftest import free_port

    server = GrowingServer(good, [3, 9, 9])
    states: list[str] = []
    report = follow_election(f"http://127.0.0.1:{free_port()}", good.election_id, poll_s=0.001, transport=httpx.MockTransport(server.handle), on_state=lambda s: states.append(s.source))
    assert report is not None and report.ok and not report.summary.open
    assert set(states) == {"polling"}


def test_websocket_frames_and_url():
    from voting.client import _Follower, _websocket_url

    assert _websocket_url("https://kurultai.example/hall/", "3") == "wss://kurultai.example/hall/ws/assemblies/3"
    assert _websocket_url("http://127.0.0.1:8000", "3") == "ws://127.0.0.1:8000/ws/assemblies/3"
    f = _Follower.__new__(_Follower)
    f.election_id = "42"
    assert f.frame_cue('{"seq": 7, "type": "sth.updated", "ts": "t", "data": {"election": "42", "sth": {"x": 1}}}') == (("sth", {"x": 1}), 7)
    assert f.frame_cue('{"seq": 8, "type": "sth.updated", "ts": "t", "data": {"election": "41", "sth": {}}}') == (None, 8)
    assert f.frame_cue('{"seq": 9, "type": "tally.updated", "data": {"election": "42", "tree_size": 3}}') == (("tally", {"election": "42", "tree_size": 3}), 9)
    for kind in ("election.closed", "result.published"):
        assert f.frame_cue(f'{{"seq": 10, "type": "{kind}", "data": {{"election": "42"}}}}') == (("closed", None), 10)
    assert f.frame_cue('{"seq": 10, "type": "heartbeat", "ts": "t"}') == (("poll", None), None)
    assert f.frame_cue('{"seq": 11, "type": "snapshot", "data": {}}') == (None, 11)
    assert f.frame_cue('{"seq": 12, "type": "redacted", "data": {}}') == (None, 12)
    assert f.frame_cue('{"seq": 13, "type": "comment.created", "data": {"id": 1}}') == (None, 13)
    for junk in ("not json", "[1]", '{"seq": 1.5, "type": "x"}', '{"a": 1, "a": 2}'):
        assert f.frame_cue(junk) == (None, None), junk


class FlakyServer(GrowingServer):
    """Answers 503 to the first ``failures`` reads of the tree head after its second one."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures, self.reads = failures, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sth"):
            self.reads += 1
            if self.reads > 2 and self.failures > 0:
                self.failures -= 1
                return httpx.Response(503, json={"error": "unavailable", "detail": "restarting"})
        return super().handle(request)


def test_follow_retries_a_server_that_is_briefly_away(good, monkeypatch):
    import voting.client as client_module

    server = FlakyServer(good, [2, 5, 9, 9], failures=3)
    sources: list[str] = []
    report = follow_election("http://kurultai.test", good.election_id, websocket=False, poll_s=0.001, transport=httpx.MockTransport(server.handle), on_state=lambda s: sources.append(s.source))
    assert report is not None and report.ok and server.failures == 0
    assert "retrying: HTTP 503 unavailable: restarting" in sources and sources[-1] == "polling"

    monkeypatch.setattr(client_module, "RETRY_S", 0.0)
    server = FlakyServer(good, [2, 5, 9, 9], failures=1000)
    with pytest.raises(client_module.ClientError, match="HTTP 503 unavailable"):
        follow_election("http://kurultai.test", good.election_id, websocket=False, poll_s=0.001, transport=httpx.MockTransport(server.handle))


def test_a_network_error_in_the_middle_of_a_head(good, monkeypatch):
    """The fetcher raises after some leaves of head 9 were checked; a late head 6 then lies inside
    them: it is proven consistent with the next verified head instead of failing on the root."""
    import voting.verifier.monitor as monitor_module

    monkeypatch.setattr(monitor_module, "STEP", 4)
    m = monitor_of(good)
    proof = prover(good.board)
    m.update(head(good, good.board, 1), proof, leaves_of(good.board))

    def flaky(start: int, end: int) -> list[dict[str, Any]]:
        if start >= 5:
            raise OSError("connection reset")
        return good.board[start:end]

    with pytest.raises(OSError):
        m.update(head(good, good.board, 9), proof, flaky)
    assert m.size == 5 and m.head is not None and m.head.tree_size == 1
    assert not m.update(head(good, good.board, 3), proof, flaky) and m.ok  # inside the checked leaves
    assert m.update(head(good, good.board, 9), proof, leaves_of(good.board)) and m.ok
    assert m.report() == verify_election(open_bundle(good, good.board, 9), workers=1)

    m = monitor_of(good)
    m.update(head(good, good.board, 1), proof, leaves_of(good.board))
    with pytest.raises(OSError):
        m.update(head(good, good.board, 9), proof, flaky)
    forked = forked_board(good, 2)
    m.update(head(good, forked, 3), prover(forked), flaky)  # consistent with head 1, not with the truth
    assert m.ok
    assert not m.update(head(good, good.board, 9), proof, leaves_of(good.board))
    assert checks(m.failures) == [("sth.consistency", None)]
    assert "tree head 3 (" in messages(m.failures) and "with tree head 9 (" in messages(m.failures)
