"""The browser's own protocol code (`static/crypto.js`: canonical JSON, leaf hashes, RFC 9162
inclusion and consistency proofs), run in Chromium against the vectors the server's code passes
(tests/vectors: RFC 8785 cases, the transparency-dev Merkle vectors) and against `rfc8785` on
generated objects: a delegate's page that checks a receipt, or an observer's page that checks a
tree head, must agree with the server and with outside verifiers byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import rfc8785

from tests.e2e.conftest import Server

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EMPTY_ROOT_B64 = base64.b64encode(hashlib.sha256(b"").digest()).decode()

RUN = """async ({jcsCases, objects, inclusion, consistency}) => {
  const c = await import("/static/crypto.js");
  const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const outcome = async (fn) => { try { await fn(); return "ok"; } catch (e) { return "refused: " + e.message; } };
  return {
    jcsCases: jcsCases.map((input) => c.jcs(JSON.parse(input))),
    objects: await Promise.all(objects.map(async (text) => {
      const value = JSON.parse(text);
      return [c.jcs(value), c.hex(await c.leafHash(value))];
    })),
    inclusion: await Promise.all(inclusion.map((v) => outcome(() =>
      c.verifyInclusion(v.leafIdx, v.treeSize, bytes(v.leafHash), (v.proof || []).map(bytes), bytes(v.root))))),
    consistency: await Promise.all(consistency.map((v) => outcome(() =>
      c.verifyConsistency(v.size1, v.size2, bytes(v.root1), bytes(v.root2), (v.proof || []).map(bytes))))),
  };
}"""


def _vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((VECTORS / "merkle" / kind).rglob("*.json"))
    assert files, kind
    return [(str(path.relative_to(VECTORS)), json.loads(path.read_text())) for path in files]


def _text(rng: random.Random) -> str:
    """Code points from every plane but the surrogates: escapes, controls, astral characters."""
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(rng.randrange(0, 8)):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randint(-(2**53 - 1), 2**53 - 1)])
    if kind in (2, 3, 4):
        return _text(rng)
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _browser_accepts(vector: dict[str, Any]) -> bool:
    """What the vectors want, with one reading of the browser's own: every tree extends the empty
    one, so a consistency proof from size 0 with no hashes passes when the first root is the
    empty tree's (the observer page checks the first head after an election's empty one so). The
    vectors, and `verify_consistency` on the server's side, refuse it as proving nothing; with any
    hash in the proof, or another first root, the browser refuses it too."""
    if vector.get("size1") == 0 and not vector.get("proof") and vector["root1"] == EMPTY_ROOT_B64 and (vector["size2"] > 0 or vector["root2"] == EMPTY_ROOT_B64):
        return True
    return not vector["wantErr"]


def test_the_browsers_canonical_json_and_merkle_proofs_agree_with_the_servers(browser: Any, server: Server) -> None:
    cases = [case for case in json.loads((VECTORS / "jcs" / "cases.json").read_text()) if not case["want_error"]]
    # Refusing bad input (floats, duplicate keys, lone surrogates) is the server's parser's job:
    # the browser canonicalizes only the objects it builds itself.
    rng = random.Random(8785)
    objects = [{"v": 1, "type": "ballot", "ranking": ["amendment-3", "status_quo"], "nonce": "AAECAwQFBgcICQoLDA0ODw"}]
    objects += [{_text(rng): _value(rng) for _ in range(rng.randrange(1, 6))} for _ in range(300)]
    inclusion, consistency = _vectors("inclusion"), _vectors("consistency")

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/login")  # any page of the server's origin: the module loads from it
    got = page.evaluate(
        RUN,
        {
            "jcsCases": [case["input"] for case in cases],
            "objects": [json.dumps(o, ensure_ascii=False) for o in objects],
            "inclusion": [v for _, v in inclusion],
            "consistency": [v for _, v in consistency],
        },
    )
    context.close()

    assert [g.encode() for g in got["jcsCases"]] == [case["want"].encode() for case in cases]
    for obj, (text, leaf_hash) in zip(objects, got["objects"], strict=True):
        want = rfc8785.dumps(obj)
        assert text.encode() == want, obj
        assert leaf_hash == hashlib.sha256(b"\x00" + want).hexdigest()
    for kind, vectors, outcomes in (("inclusion", inclusion, got["inclusion"]), ("consistency", consistency, got["consistency"])):
        wrong = [(name, outcome) for (name, v), outcome in zip(vectors, outcomes, strict=True) if (outcome == "ok") != _browser_accepts(v)]
        assert wrong == [], f"{kind}: {wrong}"
    assert sum(v["wantErr"] for _, v in inclusion + consistency) > 50  # the bad proofs were tried too
