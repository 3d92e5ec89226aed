"""The core's fast paths give exactly the reference answers: the ballot body's parse
(voting.core.fastjson) and canonical JSON (`jcs`, `jcs_plain`) byte-equal to `rfc8785`."""

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from voting.core.encoding import jcs, jcs_plain, parse_json_strict
from voting.core.errors import MalformedError
from voting.core.keys import Signer, sign_object
from voting.core.signed import parse_ballot_envelope
from voting.core.fastjson import parse_ballot_body

SIGNER = Signer.generate()


def envelope(**changes):
    signed = {
        "v": 1,
        "type": "ballot",
        "election": "7",
        "election_digest": "ab" * 32,
        "voter": SIGNER.key_id,
        "revision": 1,
        "ranking": ["a1", "status_quo"],
        "nonce": "AAAAAAAAAAAAAAAAAAAAAA",
    }
    signed.update(changes)
    return sign_object(SIGNER, signed)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def reference(body):
    """The pure core's answer: the result, or the error message."""
    try:
        obj = parse_json_strict(body)
        env, ballot = parse_ballot_envelope(obj)
        return ("ok", obj, env, ballot, jcs(env.signed))
    except MalformedError as exc:
        return ("error", str(exc))


def fast(body):
    try:
        return ("ok", *parse_ballot_body(body))
    except MalformedError as exc:
        return ("error", str(exc))


VALID = compact(envelope())

BODIES = [
    VALID,
    json.dumps(envelope()).encode(),  # with spaces: the strict path
    VALID.replace(b'"revision":1', b'"revision":1,"revision":2'),  # duplicate key
    VALID.replace(b'"revision":1', b'"revision":2,"revision":1'),
    VALID.replace(b'"v":1,"type":"ballot"', b'"v":1,"v":1,"type":"ballot"'),
    VALID.replace(b'"revision":1', b'"revision":1.0'),
    VALID.replace(b'"revision":1', b'"revision":1e0'),
    VALID.replace(b'"revision":1', b'"revision":9007199254740992'),
    VALID.replace(b'"revision":1', b'"revision":9007199254740991'),
    VALID.replace(b'"revision":1', b'"revision":123456789012345678901234567890'),
    VALID.replace(b'"revision":1', b'"revision":true'),
    VALID.replace(b'"a1"', b'"\\ud800"'),  # lone surrogate escape
    VALID.replace(b'"a1"', b'"\\ud83d\\ude00"'),  # a pair, escaped
    VALID.replace(b'"a1"', '"😀"'.encode()),
    VALID.replace(b'"a1"', b'"\xed\xa0\x80"'),  # a surrogate as (invalid) UTF-8
    VALID.replace(b'"a1"', b'"\xff"'),
    VALID.replace(b'"a1"', b'"a\\u0031"'),
    VALID.replace(b'"a1"', b'"a\\n"'),
    VALID.replace(b'"a1"', b'"tab\x09"'),  # raw control character
    VALID.replace(b'"a1"', b'"\x7f"'),
    VALID.replace(b'"a1"', b'"\\/"'),
    VALID.replace(b'"a1"', b'"\xe2\x80\xa8"'),  # U+2028
    b"\xef\xbb\xbf" + VALID,
    VALID + b" ",
    VALID + b"x",
    VALID + b"{}",
    VALID[:-1],
    b"[" * 40 + b"]" * 40,
    b"[" * 30_000 + b"]" * 30_000,  # msgspec raises RecursionError here
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"[]",
    b"null",
    b"",
    compact(envelope(extra=1)),
    compact({**envelope(), "extra": 1}),
    compact(envelope(revision=0)),
    compact(envelope(ranking="a1")),
    compact({**envelope(), "signer": "cd" * 32}),
    compact(envelope(nonce="AAAAAAAAAAAAAAAAAAAAAB")),  # non-canonical trailing bits
    compact(envelope(nonce="AAAAAAAAAAAAAAAAAAAAAQ")),  # canonical, other last character
    compact(envelope(nonce="AAAAAAAAAAAAAAAAAAAAAAAA")),  # 18 bytes
    compact(envelope(nonce="AAAAAAAAAAAAAAAAAAAA+A")),  # standard alphabet
    compact(envelope(nonce="AAAAAAAAAAAAAAAAAAAAAA==")),  # padded
    compact(envelope(nonce=7)),
    compact(envelope(voter=SIGNER.key_id.upper())),
    compact(envelope(election_digest="AB" * 32)),
    compact(envelope(election_digest="ab" * 31)),
    compact(envelope(election=7)),
    compact(envelope(election="")),
    compact(envelope(ranking=["a1", 2])),
    compact(envelope(ranking=[])),
    compact(envelope(v=2)),
    compact(envelope(v=True)),
    compact(envelope(type="leaf")),
    compact(envelope(revision=2**53 - 1)),
    compact({**envelope(), "signature": envelope()["signature"][:-1] + "B"}),
    compact({**envelope(), "signature": envelope()["signature"][:-2]}),
    compact({**envelope(), "signature": None}),
    compact({k: v for k, v in envelope().items() if k != "signer"}),
    compact({**envelope(), "signed": []}),
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_ballot_body_matches_the_core(body):
    assert fast(body) == reference(body)


def test_the_compact_valid_body_takes_the_fast_path(monkeypatch):
    import voting.core.fastjson as fj

    monkeypatch.setattr(fj, "parse_json_strict", lambda body: pytest.fail("strict path taken"))
    monkeypatch.setattr(fj, "parse_ballot_envelope", lambda obj: pytest.fail("strict path taken"))
    assert fast(VALID)[0] == "ok"


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(ranking=st.lists(_text, max_size=4), election=_text, revision=st.integers(-5, 2**53 - 1), spaced=st.booleans())
def test_ballot_bodies_from_hypothesis(ranking, election, revision, spaced):
    obj = envelope(ranking=ranking, election=election, revision=revision)
    body = json.dumps(obj).encode() if spaced else compact(obj)
    assert fast(body) == reference(body)


_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_plain)
def test_jcs_plain_is_jcs(value):
    assert jcs_plain(value) == jcs(value) == rfc8785.dumps(value)


_any_key = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_any_key, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=1000, deadline=None)
@given(_json)
def test_jcs_is_rfc8785(value):
    """The one fast path (msgspec's sorted output, ASCII keys) is byte-equal to the reference,
    for any key (non-ASCII keys sort by UTF-16 code units) and any string."""
    assert jcs(value) == rfc8785.dumps(value)


def test_jcs_is_rfc8785_for_every_code_point():
    for cp in [*range(0, 0xD800), *range(0xE000, 0x10000), *range(0x10000, 0x110000, 97)]:
        value = {"k": chr(cp), chr(cp) if cp > 0x7F else "a": [chr(cp)]}
        assert jcs(value) == rfc8785.dumps(value), hex(cp)


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 2**53 - 1), n=st.integers(0, 40), seed=st.binary(min_size=32, max_size=32))
def test_receipt_json_is_the_encoded_receipt(seq, n, seed):
    """voting.board.receipt_json builds a receipt from a batch's shared parts: the same bytes as
    encoding the receipt object."""
    import hashlib

    import msgspec

    from voting.board import receipt_json

    encode = msgspec.json.Encoder().encode
    sth = envelope()  # any signed object stands in for the tree head
    proof = [hashlib.sha256(seed + bytes([i])).digest() for i in range(n)]
    leaf = hashlib.sha256(seed).digest()
    want = encode({"seq": seq, "leaf_hash": leaf.hex(), "sth": sth, "inclusion_proof": [h.hex() for h in proof]})
    middle = b'","sth":' + encode(sth) + b',"inclusion_proof":['
    assert receipt_json(seq, leaf, middle, [b'"' + h.hex().encode() + b'"' for h in proof]) == want
