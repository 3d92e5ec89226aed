"""The board's Merkle tree, exactly RFC 6962 §2.1.

Nodes are named ``(level, index)``: the complete subtree of level L and index i covers
leaves ``[i * 2^L, (i + 1) * 2^L)``; level 0 holds the leaf hashes. A tree of any size is
made of such complete subtrees plus "ragged" nodes on its right edge, and every ragged
node is the fold of O(log n) complete subtrees. So the server keeps the complete nodes
(:meth:`CompactRange.append` hands out each one as it completes) and serves proofs in
O(log n) reads through a :class:`NodeStore`. Verification follows transparency-dev/merkle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from .errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MemoryNodeStore",
    "Node",
    "NodeStore",
    "compute_root",
    "compute_root_from_inclusion",
    "compute_root_from_store",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A complete subtree: ``(level, index, hash)``.
Node = tuple[int, int, bytes]


def leaf_hash(leaf_bytes: bytes) -> bytes:
    """``H(0x00 || leaf)``; for the board, ``leaf`` is ``JCS(leaf object)``."""
    return hashlib.sha256(b"\x00" + leaf_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def compute_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes, by the plain recursive definition of RFC 6962; a power of
    two of leaves (a complete tree: the verifier's chunks) level by level, without the slices."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    if not n & (n - 1):
        level = list(leaf_hashes)
        while len(level) > 1:
            level = [node_hash(left, right) for left, right in zip(level[::2], level[1::2])]
        return level[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
    return node_hash(compute_root(leaf_hashes[:k]), compute_root(leaf_hashes[k:]))


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash of the ragged subtree whose complete parts are ``hashes``, largest (leftmost) first."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, got {value!r}")


# --- the growing tree ----------------------------------------------------------------------


class CompactRange:
    """The right frontier of a tree of ``size`` leaves: one hash per set bit of ``size``.

    ``hashes[j]`` is the complete subtree for the j-th set bit from the top, so the list
    starts with the largest (leftmost) subtree. :meth:`to_hashes` / :meth:`from_hashes`
    (or :meth:`from_store`) let a restarted server resume without replaying the leaves.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> list[Node]:
        """Add a leaf; return the complete nodes that now exist and did not before.

        The first returned node is the leaf itself ``(0, size - 1, leaf_hash)``, followed by
        each parent it completed, bottom up. Amortized O(1) hashes per call.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ProofError(f"leaf hash has size {len(leaf_hash)}, want {HASH_SIZE}")
        index = self._size
        node = bytes(leaf_hash)
        completed: list[Node] = [(0, index, node)]
        level = 0
        while (index >> level) & 1:  # a left sibling at this level completes a parent
            node = node_hash(self._hashes.pop(), node)
            level += 1
            completed.append((level, index >> level, node))
        self._hashes.append(node)
        self._size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[Node]:
        """Append several leaves; return every node they completed."""
        completed: list[Node] = []
        for item in leaf_hashes:
            completed.extend(self.append(item))
        return completed

    def root(self) -> bytes:
        """MTH of the leaves appended so far, in O(log n)."""
        return _fold_right(self._hashes) if self._hashes else EMPTY_ROOT

    def to_hashes(self) -> list[bytes]:
        """The frontier, largest subtree first (``popcount(size)`` hashes)."""
        return list(self._hashes)

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild from :meth:`to_hashes`. Raises :class:`ProofError` on a mismatch."""
        _check_size("size", size)
        if len(hashes) != size.bit_count():
            raise ProofError(f"compact range of size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ProofError(f"compact range hashes must be {HASH_SIZE} bytes")
        compact = cls()
        compact._size = size
        compact._hashes = [bytes(h) for h in hashes]
        return compact

    @classmethod
    def from_store(cls, size: int, store: NodeStore) -> CompactRange:
        """Rebuild the frontier of a tree of ``size`` leaves from stored complete nodes."""
        _check_size("size", size)
        return cls.from_hashes(size, [store.get(level, index) for level, index in _decompose(0, size)])

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"


# --- stored nodes and proofs -------------------------------------------------------------


class NodeStore(Protocol):
    """Read access to stored complete subtrees (level 0 = leaf hashes)."""

    def get(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree covering leaves ``[index * 2^level, (index + 1) * 2^level)``."""
        ...


class MemoryNodeStore:
    """A dict-backed :class:`NodeStore` for tests and the offline verifier."""

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0
        self.add(nodes)

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MemoryNodeStore:
        """Every complete node of the tree over ``leaf_hashes``."""
        return cls(CompactRange().extend(leaf_hashes))

    def add(self, nodes: Iterable[Node]) -> None:
        """Store nodes as returned by :meth:`CompactRange.append`."""
        for level, index, value in nodes:
            self.nodes[(level, index)] = value

    def get(self, level: int, index: int) -> bytes:
        """The stored hash; ``KeyError`` when the node was never stored (a storage bug)."""
        self.reads += 1
        return self.nodes[(level, index)]


class PackedNodeStore:
    """A :class:`NodeStore` that keeps each level's hashes in one ``bytearray``, 32 bytes a node.

    The server's in-memory board: a dict of ``(level, index) -> bytes`` costs about ten times
    that per node, which over a long vote is most of the process's growth. Nodes may arrive in
    any order; a slot never written reads as missing (``KeyError``, a storage bug).
    """

    __slots__ = ("levels", "reads")

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.levels: list[bytearray] = []
        self.reads = 0
        self.add(nodes)

    def add(self, nodes: Iterable[Node]) -> None:
        """Store nodes as returned by :meth:`CompactRange.append`."""
        levels = self.levels
        for level, index, value in nodes:
            if len(value) != HASH_SIZE:
                raise ProofError(f"node hash has size {len(value)}, want {HASH_SIZE}")
            while len(levels) <= level:
                levels.append(bytearray())
            buf = levels[level]
            start = index * HASH_SIZE
            if len(buf) < start:
                buf.extend(bytes(start - len(buf)))
            buf[start : start + HASH_SIZE] = value

    def get(self, level: int, index: int) -> bytes:
        """The stored hash; ``KeyError`` when the node was never stored (a storage bug)."""
        self.reads += 1
        if 0 <= level < len(self.levels) and index >= 0:
            value = bytes(self.levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE])
            if len(value) == HASH_SIZE and value != _UNSET:
                return value
        raise KeyError((level, index))


_UNSET = bytes(HASH_SIZE)


def _decompose(begin: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` that tile ``[begin, end)``, left to right.

    Valid when ``begin`` is a multiple of a power of two at least ``end - begin`` (always true
    for RFC 6962 subtrees): then the parts follow the set bits of ``end - begin``.
    """
    parts: list[tuple[int, int]] = []
    remaining = end - begin
    while remaining:
        level = remaining.bit_length() - 1
        parts.append((level, begin >> level))
        begin += 1 << level
        remaining -= 1 << level
    return parts


def _subtree_hash(level: int, index: int, size: int, store: NodeStore) -> bytes:
    """MTH of the node ``(level, index)`` in a tree of ``size`` leaves: stored, or folded if ragged."""
    begin, end = index << level, min((index + 1) << level, size)
    if end - begin == 1 << level:
        return store.get(level, index)
    return _fold_right([store.get(lv, ix) for lv, ix in _decompose(begin, end)])


def _path(level: int, index: int, size: int, store: NodeStore, memo: dict[tuple[int, int], bytes] | None = None) -> list[bytes]:
    """Audit path of node ``(level, index)`` up to the root of a tree of ``size``, bottom up.

    The sibling at each level is the node next to ours, clipped at ``size``; a sibling
    starting at or beyond ``size`` does not exist (our node is promoted unchanged). Only
    the topmost right sibling can be ragged, so this costs O(log n) reads. ``memo`` keeps
    the siblings' hashes for other paths in the same tree.
    """
    memo = {} if memo is None else memo
    proof: list[bytes] = []
    while not (index == 0 and (1 << level) >= size):
        sibling = index ^ 1
        if sibling << level < size:
            node = memo.get((level, sibling))
            if node is None:
                node = memo[(level, sibling)] = _subtree_hash(level, sibling, size, store)
            proof.append(node)
        index >>= 1
        level += 1
    return proof


def compute_root_from_store(size: int, store: NodeStore) -> bytes:
    """MTH of the first ``size`` leaves, from O(log n) stored nodes."""
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _fold_right([store.get(level, index) for level, index in _decompose(0, size)])


def inclusion_proof(index: int, size: int, store: NodeStore) -> list[bytes]:
    """RFC 6962 §2.1.1 ``PATH(index, D[size])``, leaf side first."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofError(f"index {index} out of range for tree size {size}")
    return _path(0, index, size, store)


def inclusion_proofs(indices: Sequence[int], size: int, store: NodeStore) -> list[list[bytes]]:
    """:func:`inclusion_proof` of each index in one tree of ``size``: the receipts of a batch.
    Neighbouring leaves share most of their path, which is read (or folded) once."""
    _check_size("size", size)
    memo: dict[tuple[int, int], bytes] = {}
    proofs = []
    for index in indices:
        _check_size("index", index)
        if index >= size:
            raise ProofError(f"index {index} out of range for tree size {size}")
        proofs.append(_path(0, index, size, store, memo))
    return proofs


def consistency_proof(size1: int, size2: int, store: NodeStore) -> list[bytes]:
    """RFC 6962 §2.1.2 ``PROOF(size1, D[size2])``.

    Empty when ``size1 == size2`` and, as in transparency-dev/merkle, when ``size1 == 0``
    (RFC 6962 defines no proof from the empty tree; verifiers refuse to use one).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} > size2 {size2}")
    if size1 == 0 or size1 == size2:
        return []
    # The last complete subtree of the old tree: it ends at size1 and holds leaf size1 - 1.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    proof = _path(level, index, size2, store)
    if index != 0:  # size1 is not a power of two: the verifier needs that subtree's hash too
        proof.insert(0, store.get(level, index))
    return proof


# --- verification (transparency-dev/merkle proof/verify.go) ------------------------------


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, item in enumerate(proof):
        if not isinstance(item, bytes) or len(item) != HASH_SIZE:
            size = len(item) if isinstance(item, bytes) else type(item).__name__
            raise ProofError(f"proof[{i}] has size {size}, want {HASH_SIZE}")


def _decomp_inclusion(index: int, size: int) -> tuple[int, int]:
    """(inner, border): path entries below and above the point where index and size-1 part."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, item in enumerate(proof):
        seed = node_hash(seed, item) if (index >> i) & 1 == 0 else node_hash(item, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, item in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(item, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for item in proof:
        seed = node_hash(item, seed)
    return seed


def _verify_match(computed: bytes, expected: bytes, what: str) -> None:
    if computed != expected:
        shown = expected.hex() if isinstance(expected, (bytes, bytearray)) else type(expected).__name__
        raise ProofError(f"{what} mismatch: computed {computed.hex()}, want {shown}")


def compute_root_from_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof. Raises :class:`ProofError` on a malformed proof."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofError(f"index is beyond size: {index} >= {size}")
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        size = len(leaf_hash) if isinstance(leaf_hash, bytes) else type(leaf_hash).__name__
        raise ProofError(f"leaf hash has size {size}, want {HASH_SIZE}")
    inner, border = _decomp_inclusion(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {inner + border}")
    _check_hashes(proof)
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    _verify_match(compute_root_from_inclusion(index, size, leaf_hash, proof), root, "root hash")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1).

    As in transparency-dev/merkle's test vectors, a proof from size 0 is an error: it
    proves nothing. Equal sizes need an empty proof and equal roots.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ProofError("consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"size1 = size2 = {size1}, but the proof has {len(proof)} entries, want 0")
        _verify_match(root1, root2, "root hash")
        return
    if not proof:
        raise ProofError(f"empty proof, want one for sizes {size1} < {size2}")
    inner, border = _decomp_inclusion(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift  # shift < inner because size1 < size2
    seed, start = proof[0], 1
    if size1 == 1 << shift:  # size1 is a power of two: its root is the seed
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {start + inner + border}")
    _check_hashes(proof)
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _verify_match(hash1, root1, "first root hash")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _verify_match(hash2, root2, "second root hash")
