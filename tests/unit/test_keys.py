"""Ed25519 keys: RFC 8032 vectors, small-order and non-canonical key rejection, signing helpers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from voting.core.encoding import b64u_decode, b64u_encode, jcs
from voting.core.errors import BadKeyError, BadSignatureError
from voting.core.keys import (
    Signer,
    check_public_key,
    decode_point,
    key_id,
    parse_public_key_b64u,
    sign_object,
    verify_signature,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519"
RFC8032 = json.loads((VECTORS / "rfc8032.json").read_text())
LOW_ORDER = [(bytes.fromhex(line.split()[0]), line.split(maxsplit=1)[1]) for line in (VECTORS / "low-order-points.txt").read_text().splitlines() if line.strip()]
P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
L = 2**252 + 27742317777372353535851937790883648493  # the group order


def y_has_point(y: int) -> bool:
    """Euler's criterion on x^2 = (y^2 - 1) / (d y^2 + 1), independent of the module's sqrt."""
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    return x2 == 0 or pow(x2, (P - 1) // 2, P) == 1


# --- RFC 8032 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", RFC8032, ids=[case["desc"] for case in RFC8032])
def test_rfc8032_vectors(case):
    secret, public = bytes.fromhex(case["secret_key"]), bytes.fromhex(case["public_key"])
    message, signature = bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
    signer = Signer.from_private_bytes(secret)
    assert signer.public_key_raw == public
    assert signer.private_bytes() == secret
    assert signer.key_id == hashlib.sha256(public).hexdigest() == key_id(public)
    assert signer.sign(message) == signature  # Ed25519 is deterministic
    check_public_key(public)
    verify_signature(public, message, signature)


@pytest.mark.parametrize("case", RFC8032, ids=[case["desc"] for case in RFC8032])
def test_rfc8032_tampered(case):
    public, message = bytes.fromhex(case["public_key"]), bytes.fromhex(case["message"])
    signature = bytes.fromhex(case["signature"])
    for i in (0, 31, 32, 63):  # R and S
        bad = bytearray(signature)
        bad[i] ^= 0x01
        with pytest.raises(BadSignatureError, match="does not verify"):
            verify_signature(public, message, bytes(bad))
    with pytest.raises(BadSignatureError, match="does not verify"):
        verify_signature(public, message + b"\x00", signature)
    other = bytes.fromhex(RFC8032[(RFC8032.index(case) + 1) % 3]["public_key"])
    with pytest.raises(BadSignatureError, match=f"with key {key_id(other)}"):
        verify_signature(other, message, signature)
    # S + L is the same signature with a non-canonical S: refused (RFC 8032 §5.1.7)
    s = int.from_bytes(signature[32:], "little") + L
    with pytest.raises(BadSignatureError):
        verify_signature(public, message, signature[:32] + s.to_bytes(32, "little"))


def test_verify_signature_sizes():
    signer = Signer.generate()
    signature = signer.sign(b"m")
    with pytest.raises(BadSignatureError, match="signature: wrong size 63, want 64 bytes"):
        verify_signature(signer.public_key_raw, b"m", signature[:63])
    with pytest.raises(BadKeyError, match="public key: wrong size 31, want 32 bytes"):
        verify_signature(signer.public_key_raw[:31], b"m", signature)
    with pytest.raises(BadSignatureError, match="wrong size str"):
        verify_signature(signer.public_key_raw, b"m", "sig")  # type: ignore[arg-type]


# --- key checks ------------------------------------------------------------------------------------


def test_low_order_file_has_all_fourteen_encodings():
    assert len(LOW_ORDER) == 14
    assert len({raw for raw, _ in LOW_ORDER}) == 14


@pytest.mark.parametrize(("raw", "note"), LOW_ORDER, ids=[raw.hex()[:8] + ".." + raw.hex()[-2:] for raw, _ in LOW_ORDER])
def test_low_order_points_rejected(raw, note):
    with pytest.raises(BadKeyError) as info:
        check_public_key(raw)
    assert info.value.code == "bad_key"
    # each is refused for the right reason: canonicality, or [8]P = identity
    assert ("non-canonical" in str(info.value)) == ("non-canonical" in note)
    if "non-canonical" not in note:
        assert "small-order point" in str(info.value)
    with pytest.raises(BadKeyError):
        parse_public_key_b64u(b64u_encode(raw))


def test_non_canonical_encodings_of_ordinary_points_rejected():
    # y in [p, 2^255) encodes y - p; the ones that land on a point of large order
    tried = 0
    for k in range(19):
        if not y_has_point(k) or k in (0, 1, P - 1):
            continue
        for sign in (0, 1):
            canonical = (k | sign << 255).to_bytes(32, "little")
            non_canonical = ((P + k) | sign << 255).to_bytes(32, "little")
            check_public_key(canonical)
            with pytest.raises(BadKeyError, match=r"non-canonical encoding \(y >= 2\^255 - 19\)"):
                check_public_key(non_canonical)
            tried += 1
    assert tried >= 4


def test_points_off_the_curve_rejected():
    off = [y for y in range(2, 40) if not y_has_point(y)]
    assert off
    for y in off:
        with pytest.raises(BadKeyError, match="not a point on edwards25519"):
            check_public_key(y.to_bytes(32, "little"))


def test_decode_point_matches_the_curve_equation():
    for case in RFC8032:
        x, y = decode_point(bytes.fromhex(case["public_key"]))
        assert (-x * x + y * y - 1 - D * x * x * y * y) % P == 0
        assert x & 1 == bytes.fromhex(case["public_key"])[31] >> 7


def test_ordinary_keys_pass():
    for _ in range(50):
        signer = Signer.generate()
        check_public_key(signer.public_key_raw)
        assert parse_public_key_b64u(signer.public_key_b64u) == signer.public_key_raw


def test_mixed_order_key_is_accepted():
    # PROTOCOL §2 refuses only the eight small-order points, not keys with a torsion part.
    # The base point's encoding with y = 4/5 is canonical and of order L.
    base = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
    check_public_key(base)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x01" * 31, "wrong size 31, want 32 bytes"),
        (b"\x01" * 33, "wrong size 33, want 32 bytes"),
        (b"", "wrong size 0, want 32 bytes"),
        ("a" * 32, "wrong size str"),
    ],
)
def test_check_public_key_sizes(raw, match):
    with pytest.raises(BadKeyError, match=match):
        check_public_key(raw)


def test_parse_public_key_b64u_errors():
    with pytest.raises(BadKeyError, match="public key: b64u: want only the characters"):
        parse_public_key_b64u("AAAA=")
    with pytest.raises(BadKeyError, match="public key: wrong size 3"):
        parse_public_key_b64u("AAAA")
    with pytest.raises(BadKeyError, match="public key: b64u: want a string"):
        parse_public_key_b64u(None)  # type: ignore[arg-type]


# --- signer -----------------------------------------------------------------------------------------


def test_signer_round_trip():
    signer = Signer.generate()
    again = Signer.from_private_bytes(signer.private_bytes())
    assert again.public_key_raw == signer.public_key_raw and again.key_id == signer.key_id
    assert len(signer.private_bytes()) == 32 and len(signer.public_key_raw) == 32
    assert b64u_decode(signer.public_key_b64u) == signer.public_key_raw
    assert signer.key_id[:16] in repr(signer) and signer.private_bytes().hex() not in repr(signer)
    verify_signature(signer.public_key_raw, b"hello", again.sign(b"hello"))


def test_signer_rejects_bad_private_keys():
    with pytest.raises(BadKeyError, match="private key: wrong size 31, want 32 bytes"):
        Signer.from_private_bytes(b"\x00" * 31)
    with pytest.raises(BadKeyError, match="private key: wrong size str"):
        Signer.from_private_bytes("x" * 32)  # type: ignore[arg-type]


def test_sign_object_envelope():
    signer = Signer.from_private_bytes(bytes.fromhex(RFC8032[0]["secret_key"]))
    signed = {"v": 1, "type": "sth", "election": "e", "tree_size": 0, "root_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "timestamp": "2026-11-24T10:15:00.123Z"}
    envelope = sign_object(signer, signed)
    assert set(envelope) == {"signed", "signature", "signer"}
    assert envelope["signed"] is signed and envelope["signer"] == signer.key_id
    signature = b64u_decode(envelope["signature"])
    verify_signature(signer.public_key_raw, jcs(signed), signature)
    assert signature == signer.sign(jcs({k: signed[k] for k in reversed(list(signed))}))  # key order is irrelevant


def _times_eight_is_identity(x: int, y: int) -> bool:
    """The reference for the small-order rule: [8](x, y) is the neutral element (extended
    coordinates, doubling formula dbl-2008-hwcd for a = -1)."""
    p = 2**255 - 19
    px, py, pz = x, y, 1
    for _ in range(3):
        a, b, c = px * px % p, py * py % p, 2 * pz * pz % p
        e = ((px + py) * (px + py) - a - b) % p
        g = (b - a) % p
        f = (g - c) % p
        h = (-a - b) % p
        px, py, pz = e * f % p, g * h % p, f * g % p
    return px == 0 and py == pz


def test_the_small_order_set_is_derived_from_the_curve():
    """SMALL_ORDER_KEYS holds the canonical encodings of the points P with [8]P = identity (the
    eight small-order points), plus the two x = 0 encodings with the sign bit set."""
    from voting.core.keys import SMALL_ORDER_KEYS, check_public_key_encoding, decode_point

    canonical = set()
    for raw in SMALL_ORDER_KEYS:
        try:
            point = decode_point(raw)
        except BadKeyError as exc:
            assert "x = 0 with the sign bit set" in str(exc)
            continue
        assert _times_eight_is_identity(*point)
        canonical.add(point)
        with pytest.raises(BadKeyError, match="small-order point"):
            check_public_key_encoding(raw)
    assert len(canonical) == 8
    for _ in range(200):
        key = Signer.generate().public_key_raw
        assert not _times_eight_is_identity(*decode_point(key))
        check_public_key(key)
        check_public_key_encoding(key)
