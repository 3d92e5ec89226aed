"""Ed25519 keys and signatures (PROTOCOL §1–2).

``cryptography`` signs and verifies (RFC 8032 with canonical S). It accepts small-order
and non-canonical public keys, so :func:`check_public_key` decodes the point itself, in
plain integer arithmetic over GF(2^255 - 19), and refuses them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import b64u_decode, b64u_encode, jcs, sha256
from .errors import BadKeyError, BadSignatureError, MalformedError

__all__ = [
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "SMALL_ORDER_KEYS",
    "Signer",
    "check_public_key",
    "check_public_key_encoding",
    "decode_point",
    "key_id",
    "parse_public_key_b64u",
    "sign_object",
    "verify_signature",
]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

# edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p).
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def key_id(raw_public_key: bytes) -> str:
    """``hex(H(raw public key))``, 64 lowercase hex characters."""
    return sha256(raw_public_key).hex()


def decode_point(raw: bytes) -> tuple[int, int]:
    """Decode a canonical point encoding (RFC 8032 §5.1.3) to affine ``(x, y)``.

    Stricter than RFC 8032: ``y >= p`` and the encoding of x = 0 with the sign bit set
    (both non-canonical) are refused. Raises :class:`BadKeyError`.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != PUBLIC_KEY_SIZE:
        size = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
        raise BadKeyError(f"public key: wrong size {size}, want {PUBLIC_KEY_SIZE} bytes")
    number = int.from_bytes(raw, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= _P:
        raise BadKeyError("public key: non-canonical encoding (y >= 2^255 - 19)")
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif vxx != u:
        raise BadKeyError("public key: not a point on edwards25519")
    if x == 0 and sign == 1:
        raise BadKeyError("public key: non-canonical encoding (x = 0 with the sign bit set)")
    if x & 1 != sign:
        x = _P - x
    return x, y


#: The small-order rule (PROTOCOL §2), stated once: the encodings of the eight small-order
#: points of edwards25519 (y = 1, y = -1, y = 0 and the four points of order 8), plus the two
#: encodings of x = 0 with the sign bit set; the other non-canonical encodings of these points
#: have y >= p. tests/unit/test_keys.py derives the set from [8]P = identity.
SMALL_ORDER_KEYS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    )
)
_SMALL_ORDER = "public key: small-order point (one of the eight low-order points)"


def check_public_key(raw: bytes) -> None:
    """Refuse anything but a canonical encoding of an edwards25519 point of large order.

    Covers all 14 encodings of the eight small-order points: the six non-canonical ones
    fail canonicality, the eight canonical ones are in :data:`SMALL_ORDER_KEYS`.
    Raises :class:`BadKeyError`.
    """
    decode_point(raw)
    if raw in SMALL_ORDER_KEYS:
        raise BadKeyError(_SMALL_ORDER)


def check_public_key_encoding(raw: bytes) -> None:
    """What :func:`check_public_key` finds without decoding the point: the size, y >= p, the
    small-order rule (a verifier checking many keys defers the decoding). Raises :class:`BadKeyError`."""
    if len(raw) == PUBLIC_KEY_SIZE and raw[31] & 0x7F != 0x7F and raw not in SMALL_ORDER_KEYS:
        return  # y < p: its top seven bits are not all set (the common case, without the big integer)
    if len(raw) != PUBLIC_KEY_SIZE:
        raise BadKeyError(f"public key: wrong size {len(raw)}, want {PUBLIC_KEY_SIZE} bytes")
    if int.from_bytes(raw, "little") & ((1 << 255) - 1) >= _P:
        raise BadKeyError("public key: non-canonical encoding (y >= 2^255 - 19)")
    if raw in SMALL_ORDER_KEYS:
        raise BadKeyError(_SMALL_ORDER)


def parse_public_key_b64u(text: str) -> bytes:
    """Decode a b64u public key and :func:`check_public_key` it. Raises :class:`BadKeyError`."""
    try:
        raw = b64u_decode(text)
    except MalformedError as exc:
        raise BadKeyError(f"public key: {exc}") from None
    check_public_key(raw)
    return raw


@lru_cache(maxsize=65536)
def _load_public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(raw_public_key: bytes, message: bytes, signature: bytes) -> None:
    """Ed25519 verification (RFC 8032, canonical S). Raises :class:`BadSignatureError`.

    The key is not re-checked here (that costs a field inversion per call); keys come
    from a roll or a registration, which ran :func:`check_public_key`.
    """
    if not isinstance(raw_public_key, bytes) or len(raw_public_key) != PUBLIC_KEY_SIZE:
        size = len(raw_public_key) if isinstance(raw_public_key, bytes) else type(raw_public_key).__name__
        raise BadKeyError(f"public key: wrong size {size}, want {PUBLIC_KEY_SIZE} bytes")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        size = len(signature) if isinstance(signature, bytes) else type(signature).__name__
        raise BadSignatureError(f"signature: wrong size {size}, want {SIGNATURE_SIZE} bytes")
    try:
        _load_public_key(raw_public_key).verify(signature, message)
    except InvalidSignature:
        raise BadSignatureError(f"signature does not verify with key {key_id(raw_public_key)}") from None


class Signer:
    """An Ed25519 private key with the helpers a signing party needs."""

    __slots__ = ("_private_key", "public_key_raw", "key_id")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key_raw: bytes = private_key.public_key().public_bytes_raw()
        self.key_id: str = key_id(self.public_key_raw)

    @classmethod
    def generate(cls) -> Signer:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> Signer:
        """Load the raw 32-byte RFC 8032 secret key. Raises :class:`BadKeyError`."""
        if not isinstance(raw, bytes) or len(raw) != 32:
            size = len(raw) if isinstance(raw, bytes) else type(raw).__name__
            raise BadKeyError(f"private key: wrong size {size}, want 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        """The raw 32-byte secret key (keep it in a file of mode 0600)."""
        return self._private_key.private_bytes_raw()

    @property
    def public_key_b64u(self) -> str:
        """The public key as PROTOCOL §1 sends it."""
        return b64u_encode(self.public_key_raw)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id[:16]}...)"


def sign_object(signer: Signer, signed: dict[str, Any]) -> dict[str, Any]:
    """The envelope ``{"signed", "signature", "signer"}`` with the signature over ``JCS(signed)``."""
    return {
        "signed": signed,
        "signature": b64u_encode(signer.sign(jcs(signed))),
        "signer": signer.key_id,
    }
