"""An outside client of the Kurultai voting protocol, written only from PROTOCOL.md (version 1)
and, for the choices the protocol leaves open in counting, the public docs/counting.md.

It shares no code with the project. It imports the standard library, `cryptography` (Ed25519
only), `rfc8785` (a third party's RFC 8785 canonical JSON) and `httpx`, and nothing else;
tests/api/test_outside_client.py checks that. Everything else is built here from the text:
the envelopes, the RFC 6962 tree with its proofs, the small-order key check and the count of
every method. It plays two parts:

- a delegate's device (`Device`): it signs a ballot, posts it and checks the receipt alone
  (the tree head's signature and the inclusion proof), as PROTOCOL §3 promises it can;
- an observer (`Observer`, `audit`): it fetches the election, roll, board, tree head and
  result over HTTP and checks every rule of PROTOCOL §1-§5, recounting the ballots itself.

`audit` returns a list of problems (empty when everything holds), so a test can also show that
tampered inputs are caught.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# -- §1 encodings ------------------------------------------------------------------------------


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def jcs(obj: Any) -> bytes:
    return rfc8785.dumps(obj)


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError(f"not base64url without padding: {text!r:.40}")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64u(raw) != text:  # non-zero trailing bits: another encoding of the same bytes
        raise ValueError(f"not the canonical base64url of its bytes: {text!r:.40}")
    return raw


def key_id(public_key: bytes) -> str:
    return H(public_key).hex()


TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}")
MAX_INT = 2**53


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"a float in a signed object: {text}")


def strict_loads(data: bytes | str) -> Any:
    """JSON with duplicate keys and floats rejected (PROTOCOL §2)."""
    return json.loads(data, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_float)


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_INT


# -- §2 signed objects -------------------------------------------------------------------------


class Problem(Exception):
    """One failed check."""


def open_envelope(env: Any, kind: str, public_key: bytes) -> dict[str, Any]:
    """The signed object of an envelope of `kind`, signed by `public_key`; raises Problem."""
    if not isinstance(env, dict) or set(env) != {"signed", "signature", "signer"}:
        raise Problem(f"{kind}: an envelope has exactly signed, signature and signer")
    signed = env["signed"]
    if not isinstance(signed, dict) or signed.get("v") != 1 or signed.get("type") != kind:
        raise Problem(f"{kind}: the signed object is not v1 of type {kind!r}")
    if env["signer"] != key_id(public_key):
        raise Problem(f"{kind}: signer {env['signer']!r:.20} is not the expected key")
    try:
        signature = unb64u(env["signature"])
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, jcs(signed))
    except (ValueError, InvalidSignature) as exc:
        raise Problem(f"{kind}: the signature does not verify ({type(exc).__name__})") from None
    return signed


# The small-order check, from RFC 8032 §5.1.3 (decoding) and the curve's group law.
P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decode_point(raw: bytes) -> tuple[int, int] | None:
    """The point of a canonical encoding, or None when the encoding is not canonical or not a point."""
    if len(raw) != 32:
        return None
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= P:
        return None  # non-canonical y
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
        if (v * x * x - u) % P != 0:
            return None  # not on the curve
    if x == 0 and sign:
        return None  # -0: a second encoding of a point with x = 0
    if x & 1 != sign:
        x = P - x
    return x, y


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P


def acceptable_roll_key(raw: bytes) -> bool:
    """A canonical encoding of a point whose order is not small ([8]P is not the identity)."""
    point = _decode_point(raw)
    if point is None:
        return False
    for _ in range(3):
        point = _add(point, point)
    return point != (0, 1)


# -- §3 the Merkle tree (RFC 6962 §2.1) --------------------------------------------------------


def leaf_hash(leaf: dict[str, Any]) -> bytes:
    return H(b"\x00" + jcs(leaf))


def _node(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return H(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _node(mth(hashes[:k]), mth(hashes[k:]))


def audit_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    if len(hashes) <= 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return audit_path(m, hashes[:k]) + [mth(hashes[k:])]
    return audit_path(m - k, hashes[k:]) + [mth(hashes[:k])]


def consistency(m: int, hashes: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2 (for 0 < m <= n)."""

    def subproof(m: int, d: list[bytes], whole: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if whole else [mth(d)]
        k = _split(n)
        if m <= k:
            return subproof(m, d[:k], whole) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, hashes, True)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """Checks an audit path from the proof alone (the algorithm of RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size or any(len(h) != 32 for h in (leaf, root, *proof)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """Checks a consistency proof from the proof alone (the algorithm of RFC 9162 §2.1.4.2)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof or any(len(h) != 32 for h in (first_root, second_root, *proof)):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree's root is the path's start
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# -- §4 counting -------------------------------------------------------------------------------


@dataclass
class Count:
    counted: int = 0
    weight_counted: int = 0
    abstentions: int = 0
    ranking: list[str] = field(default_factory=list)
    winner: str = ""
    ties_broken: list[list[str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def tie_order(options: list[str]) -> list[str]:
    """status_quo first when it is an option, then the order of the signed election's options."""
    return (["status_quo"] if "status_quo" in options else []) + [o for o in options if o != "status_quo"]


def _prefers(ranking: list[str], x: str, y: str) -> bool:
    """Does the ranking put x above y? Listed above unlisted; two unlisted options tie."""
    if x not in ranking:
        return False
    return y not in ranking or ranking.index(x) < ranking.index(y)


def _layers(order: list[str], beats: Any) -> list[list[str]]:
    """Repeatedly take the remaining options that no remaining option beats."""
    remaining, out = list(order), []
    while remaining:
        top = [x for x in remaining if not any(beats(y, x) for y in remaining if y != x)]
        out.append(top)
        remaining = [x for x in remaining if x not in top]
    return out


def _by_score(order: list[str], scores: dict[str, int]) -> list[list[str]]:
    groups: list[list[str]] = []
    for value in sorted(set(scores.values()), reverse=True):
        groups.append([o for o in order if scores[o] == value])
    return groups


def count(method: str, options: list[str], ballots: list[tuple[list[str], int]], rule: dict[str, Any] | None = None, roll_weight: int = 0) -> Count:
    """Counts each voter's counted ballot, given as (ranking, the voter's roll weight)."""
    order = tie_order(options)
    c = Count(counted=len(ballots), weight_counted=sum(w for _r, w in ballots))
    if method == "yes_no":
        totals = {"yes": 0, "no": 0, "abstain": 0}
        for ranking, w in ballots:
            choice = ranking[0] if ranking else "abstain"
            totals[choice] += w
            c.abstentions += choice == "abstain"
        assert rule is not None
        quorum_met = 100 * c.weight_counted >= rule["quorum_percent"] * roll_weight
        yes, no = totals["yes"], totals["no"]
        majority = {"simple": yes > no, "absolute": 2 * yes > roll_weight, "two_thirds": 3 * yes >= 2 * (yes + no)}[rule["majority"]]
        passed = quorum_met and majority
        c.winner = "yes" if passed else "no"
        c.ranking = [c.winner, "no" if passed else "yes"] + (["abstain"] if "abstain" in options else [])
        c.details = {**totals, "quorum_met": quorum_met, "passed": passed}
        return c
    c.abstentions = sum(1 for ranking, _w in ballots if not ranking)
    voting = [(r, w) for r, w in ballots if r]
    if method in ("schulze", "ranked_pairs"):
        d = {x: {y: sum(w for r, w in voting if _prefers(r, x, y)) for y in options if y != x} for x in options}
        if method == "schulze":
            p = {x: {y: (d[x][y] if d[x][y] > d[y][x] else 0) for y in options if y != x} for x in options}
            for i in options:
                for j in options:
                    if i == j:
                        continue
                    for k in options:
                        if k not in (i, j):
                            p[j][k] = max(p[j][k], min(p[j][i], p[i][k]))
            groups = _layers(order, lambda y, x: p[y][x] > p[x][y])
            c.details = {"pairwise": d, "strongest_paths": p}
        else:
            majorities = [(x, y) for x in options for y in options if x != y and d[x][y] > d[y][x]]
            majorities.sort(key=lambda xy: (-d[xy[0]][xy[1]], d[xy[1]][xy[0]], order.index(xy[0]), order.index(xy[1])))
            locked: list[list[str]] = []

            def reaches(a: str, b: str) -> bool:
                seen, todo = set(), [a]
                while todo:
                    n = todo.pop()
                    if n == b:
                        return True
                    if n not in seen:
                        seen.add(n)
                        todo.extend(t for f, t in locked if f == n)
                return False

            for x, y in majorities:
                if not reaches(y, x):
                    locked.append([x, y])
            groups = _layers(order, lambda y, x: [y, x] in locked)
            c.details = {"pairwise": d, "locked": locked}
        c.ranking = [o for g in groups for o in g]
        c.ties_broken = [g for g in groups if len(g) > 1]
    elif method in ("borda", "plurality"):
        m = len(options)
        scores = dict.fromkeys(options, 0)
        for r, w in voting:
            if method == "plurality":
                scores[r[0]] += w
            else:
                for i, o in enumerate(r):
                    scores[o] += (m - 1 - i) * w
        groups = _by_score(order, scores)
        c.ranking = [o for g in groups for o in g]
        c.ties_broken = [g for g in groups if len(g) > 1]
        c.details = {"scores": scores}
    elif method == "irv":
        remaining, rounds, eliminated, forced = list(order), [], [], []
        while True:
            weights = dict.fromkeys(remaining, 0)
            for r, w in voting:
                top = next((o for o in r if o in weights), None)
                if top is not None:
                    weights[top] += w
            rounds.append(weights)
            active = sum(weights.values())
            majority = [o for o in remaining if 2 * weights[o] > active]
            if majority or len(remaining) == 1:
                winner = majority[0] if majority else remaining[0]
                break
            least = min(weights.values())
            tied = [o for o in remaining if weights[o] == least]  # in tie-break order
            out = tied[-1]
            if len(tied) > 1:
                forced.append(tied)
            remaining.remove(out)
            eliminated.append(out)
        final = rounds[-1]
        others = _by_score([o for o in remaining if o != winner], {o: final[o] for o in remaining if o != winner})
        c.ranking = [winner] + [o for g in others for o in g] + eliminated[::-1]
        c.ties_broken = [g for g in others if len(g) > 1] + forced[::-1]
        c.details = {"rounds": rounds, "eliminated": eliminated}
    else:
        raise Problem(f"unknown method {method!r}")
    c.winner = c.ranking[0]
    return c


# -- an observer's audit -----------------------------------------------------------------------

BALLOT_FIELDS = {"v", "type", "election", "election_digest", "voter", "revision", "ranking", "nonce"}
LEAF_FIELDS = {"v", "type", "seq", "ballot", "received_at"}


@dataclass
class Audit:
    problems: list[str]
    count: Count | None
    root: bytes
    leaf_hashes: list[bytes]


def check_roll(roll_env: Any, server_key: bytes, election: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    """The roll's keys by key_id, with their weights; raises Problem."""
    roll = open_envelope(roll_env, "roll", server_key)
    if set(roll) != {"v", "type", "election", "voters"} or roll["election"] != election["id"]:
        raise Problem("roll: not this election's roll, or wrong fields")
    if H(jcs(roll)).hex() != election["roll_digest"]:
        raise Problem("roll: its digest is not the election's roll_digest")
    voters: dict[str, tuple[bytes, int]] = {}
    ids = [v.get("key_id") for v in roll["voters"]]
    if ids != sorted(ids) or len(set(ids)) != len(ids):
        raise Problem("roll: voters are not sorted by key_id, or repeat")
    for v in roll["voters"]:
        raw = unb64u(v["public_key"])
        if set(v) != {"key_id", "public_key", "weight"} or key_id(raw) != v["key_id"] or not _is_int(v["weight"], 1):
            raise Problem(f"roll: bad entry {v['key_id']!r:.20}")
        if not acceptable_roll_key(raw):
            raise Problem(f"roll: key {v['key_id']} is a small-order point or not canonical")
        voters[v["key_id"]] = (raw, v["weight"])
    return voters


def audit(server_key: bytes, election_env: Any, roll_env: Any, entries: list[dict[str, Any]], sth_env: Any, result_env: Any | None = None) -> Audit:
    """Every check of PROTOCOL §1-§5 an observer can make. `entries` are the board's
    `{"seq", "leaf", "leaf_hash"}` in order, up to the tree head's size."""
    problems: list[str] = []
    try:
        election = open_envelope(election_env, "election", server_key)
        voters = check_roll(roll_env, server_key, election)
        sth = open_envelope(sth_env, "sth", server_key)
    except (Problem, ValueError, KeyError, TypeError) as exc:
        return Audit([str(exc)], None, b"", [])
    eid, digest = election["id"], H(jcs(election)).hex()
    options = [o["id"] for o in election["options"]]
    allowed = {"yes", "no", "abstain"} if election["method"] == "yes_no" else set(options)
    highest: dict[str, int] = {}
    counted: dict[str, list[str]] = {}
    seen_signed: set[bytes] = set()
    hashes: list[bytes] = []
    for n, entry in enumerate(entries):
        try:
            leaf = entry["leaf"]
            if entry["seq"] != n or not isinstance(leaf, dict) or set(leaf) != LEAF_FIELDS:
                raise Problem("not the leaf expected at this place")
            if leaf["v"] != 1 or leaf["type"] != "leaf" or leaf["seq"] != n or not TIME_RE.fullmatch(leaf["received_at"]):
                raise Problem("bad leaf fields")
            lh = leaf_hash(leaf)
            if entry["leaf_hash"] != lh.hex():
                raise Problem("leaf_hash is not H(0x00 || JCS(leaf))")
            hashes.append(lh)
            env = leaf["ballot"]
            voter = env.get("signed", {}).get("voter") if isinstance(env, dict) and isinstance(env.get("signed"), dict) else None
            if voter not in voters:
                raise Problem(f"voter {voter!r:.20} is not on the roll")
            ballot = open_envelope(env, "ballot", voters[voter][0])  # also: signer == voter
            if set(ballot) != BALLOT_FIELDS or ballot["election"] != eid or ballot["election_digest"] != digest:
                raise Problem("not a ballot of this election")
            if len(unb64u(ballot["nonce"])) != 16 or not _is_int(ballot["revision"], 1):
                raise Problem("bad nonce or revision")
            ranking = ballot["ranking"]
            if not isinstance(ranking, list) or not all(isinstance(o, str) and o in allowed for o in ranking) or len(set(ranking)) != len(ranking):
                raise Problem("ranking names an unknown option or one twice")
            if election["method"] == "yes_no" and len(ranking) > 1:
                raise Problem("a yes_no ranking holds at most one choice")
            if ballot["revision"] <= highest.get(voter, 0):
                raise Problem(f"revision {ballot['revision']} is not above {highest[voter]}")
            signed_bytes = jcs(ballot)
            if signed_bytes in seen_signed:
                raise Problem("the same signed ballot twice on the board")
            seen_signed.add(signed_bytes)
            highest[voter] = ballot["revision"]
            counted[voter] = ranking
        except (Problem, ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"seq {n}: {exc}")
    root = mth(hashes)
    if sth["election"] != eid or sth["tree_size"] != len(entries) or sth["root_hash"] != root.hex():
        problems.append(f"sth: size {sth['tree_size']} and root do not match the board's {len(entries)} leaves")
    roll_weight = sum(w for _k, w in voters.values())
    tally = count(election["method"], options, [(counted[v], voters[v][1]) for v in sorted(counted)], election.get("rule"), roll_weight)
    if result_env is not None:
        try:
            result = open_envelope(result_env, "result", server_key)
            expected = {
                "v": 1,
                "type": "result",
                "election": eid,
                "election_digest": digest,
                "tree_size": len(entries),
                "root_hash": root.hex(),
                "method": election["method"],
                "counted": tally.counted,
                "weight_counted": tally.weight_counted,
                "abstentions": tally.abstentions,
                "ranking": tally.ranking,
                "winner": tally.winner,
                "ties_broken": tally.ties_broken,
                "details": tally.details,
            }
            for key in sorted(set(expected) | set(result)):
                if result.get(key) != expected.get(key):
                    problems.append(f"result: {key} is {result.get(key)!r:.200}, the recount gives {expected.get(key)!r:.200}")
        except Problem as exc:
            problems.append(str(exc))
    return Audit(problems, tally, root, hashes)


# -- over HTTP ---------------------------------------------------------------------------------


class Observer:
    """Reads the public paths of PROTOCOL §5."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        if r.status_code != 200:
            raise Problem(f"GET {path}: {r.status_code} {r.text:.200}")
        return strict_loads(r.content)

    def server_key(self) -> bytes:
        view = self.get("/api/server-key")
        raw = unb64u(view["public_key"])
        if view["algorithm"] != "ed25519" or view["key_id"] != key_id(raw):
            raise Problem("server-key: key_id is not H(public_key)")
        return raw

    def board(self, eid: str, size: int) -> list[dict[str, Any]]:
        """Entries [0, size), following short pages (never below 1,000 entries)."""
        entries: list[dict[str, Any]] = []
        while len(entries) < size:
            page = self.get(f"/api/elections/{eid}/board", start=len(entries), end=size)["entries"]
            if not page or (len(page) < 1000 and len(entries) + len(page) < size):
                raise Problem(f"board: a page of {len(page)} entries stopped early at {len(entries)}")
            entries.extend(page)
        return entries

    def audit(self, server_key: bytes, eid: str, with_result: bool = False) -> tuple[Audit, dict[str, Any]]:
        view = self.get(f"/api/elections/{eid}")
        sth_env = self.get(f"/api/elections/{eid}/sth")
        entries = self.board(eid, sth_env["signed"]["tree_size"])
        result = self.get(f"/api/elections/{eid}/result") if with_result else None
        return audit(server_key, view["election"], self.get(f"/api/elections/{eid}/roll"), entries, sth_env, result), sth_env


class Device:
    """A delegate's device: its own Ed25519 key, ballots, receipts."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public)

    def ballot(self, election: dict[str, Any], ranking: list[str], revision: int, **changes: Any) -> dict[str, Any]:
        signed = {
            "v": 1,
            "type": "ballot",
            "election": election["id"],
            "election_digest": H(jcs(election)).hex(),
            "voter": self.key_id,
            "revision": revision,
            "ranking": ranking,
            "nonce": b64u(os.urandom(16)),
            **changes,
        }
        return {"signed": signed, "signature": b64u(self.private.sign(jcs(signed))), "signer": self.key_id}

    @staticmethod
    def post(http: httpx.Client, eid: str, envelope: dict[str, Any]) -> httpx.Response:
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        return http.post(f"/api/elections/{eid}/ballots", content=body, headers={"content-type": "application/json"})


def check_receipt(receipt: Any, server_key: bytes, eid: str) -> dict[str, Any]:
    """PROTOCOL §3: the ballot is in the tree the server signed, from the receipt alone.
    Returns the signed tree head."""
    if not isinstance(receipt, dict) or set(receipt) != {"seq", "leaf_hash", "sth", "inclusion_proof"}:
        raise Problem("receipt: wrong fields")
    sth = open_envelope(receipt["sth"], "sth", server_key)
    seq = receipt["seq"]
    if sth["election"] != eid or not _is_int(seq) or not sth["tree_size"] > seq:
        raise Problem("receipt: the tree head is not this election's or does not cover the seq")
    if not HEX64_RE.fullmatch(receipt["leaf_hash"]) or not all(HEX64_RE.fullmatch(h) for h in receipt["inclusion_proof"]):
        raise Problem("receipt: hashes are not lowercase hex")
    proof = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
    if not verify_inclusion(seq, sth["tree_size"], bytes.fromhex(receipt["leaf_hash"]), proof, bytes.fromhex(sth["root_hash"])):
        raise Problem("receipt: the inclusion proof does not lead to the signed root")
    return sth
