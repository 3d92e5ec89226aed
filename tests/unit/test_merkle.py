"""RFC 6962 Merkle tree: transparency-dev vectors, a naive reference, stored-node proofs."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voting.core.errors import ProofError
from voting.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    compute_root,
    compute_root_from_inclusion,
    compute_root_from_store,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
# The leaves behind the transparency-dev vectors (RFC 6962 test data).
RFC_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
RFC_LEAF_HASHES = [leaf_hash(leaf) for leaf in RFC_LEAVES]


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def load(kind: str) -> list[tuple[str, dict]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors"
    return [(str(path.relative_to(VECTORS)), json.loads(path.read_text())) for path in files]


# --- naive reference, straight from RFC 6962 §2.1 -------------------------------------------


def ref_mth(d: list[bytes]) -> bytes:
    """MTH over raw leaf hashes."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def random_hashes(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [leaf_hash(rng.randbytes(8)) for _ in range(n)]


# --- hashing -----------------------------------------------------------------------------------


def test_hash_prefixes():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()


def test_rfc_tree_roots():
    # Roots of the RFC 6962 test tree for sizes 1..8, as in transparency-dev/merkle's tests.
    want = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for size in range(1, 9):
        assert compute_root(RFC_LEAF_HASHES[:size]).hex() == want[size - 1]
    assert compute_root([]) == EMPTY_ROOT


# --- transparency-dev vectors ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "case"), load("inclusion"), ids=lambda v: v if isinstance(v, str) else "")
def test_inclusion_vectors(name, case):
    args = (case["leafIdx"], case["treeSize"], b64(case["leafHash"]), [b64(p) for p in case["proof"] or []], b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize(("name", "case"), load("consistency"), ids=lambda v: v if isinstance(v, str) else "")
def test_consistency_vectors(name, case):
    args = (case["size1"], case["size2"], [b64(p) for p in case["proof"] or []], b64(case["root1"]), b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_every_vector_kind_has_bad_cases():
    names = [name for name, case in load("inclusion") + load("consistency") if case["wantErr"]]
    for kind in ("modified-proof", "truncated-proof", "swapped-roots", "size2-mul", "treeSize-div", "wrong-leaf"):
        assert any(kind in name for name in names), kind


STORE8 = MemoryNodeStore.from_leaf_hashes(RFC_LEAF_HASHES)


@pytest.mark.parametrize(("name", "case"), [c for c in load("inclusion") if c[0].endswith("happy-path.json")])
def test_generated_inclusion_equals_vector(name, case):
    index, size = case["leafIdx"], case["treeSize"]
    assert inclusion_proof(index, size, STORE8) == [b64(p) for p in case["proof"] or []]
    assert compute_root_from_store(size, STORE8) == b64(case["root"])


@pytest.mark.parametrize(("name", "case"), [c for c in load("consistency") if c[0].endswith("happy-path.json")])
def test_generated_consistency_equals_vector(name, case):
    size1, size2 = case["size1"], case["size2"]
    assert consistency_proof(size1, size2, STORE8) == [b64(p) for p in case["proof"] or []]
    assert compute_root_from_store(size1, STORE8) == b64(case["root1"])
    assert compute_root_from_store(size2, STORE8) == b64(case["root2"])


# --- generated proofs against the reference ------------------------------------------------------

N_SMALL = 70
SMALL = random_hashes(N_SMALL, seed=6962)
SMALL_STORE = MemoryNodeStore.from_leaf_hashes(SMALL)


def test_compact_range_root_all_sizes():
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT and compact.size == 0
    for size in range(1, N_SMALL + 1):
        compact.append(SMALL[size - 1])
        assert compact.size == size
        assert compact.root() == compute_root(SMALL[:size]) == ref_mth(SMALL[:size])
        assert compute_root_from_store(size, SMALL_STORE) == compact.root()
        rebuilt = CompactRange.from_hashes(size, compact.to_hashes())
        assert rebuilt.root() == compact.root()
        assert CompactRange.from_store(size, SMALL_STORE).to_hashes() == compact.to_hashes()


def test_append_returns_newly_completed_nodes():
    compact = CompactRange()
    seen: dict[tuple[int, int], bytes] = {}
    for i, item in enumerate(SMALL[:16]):
        nodes = compact.append(item)
        assert nodes[0] == (0, i, item)
        assert len(nodes) == 1 + ((i + 1) & -(i + 1)).bit_length() - 1  # leaf plus trailing ones of i
        for level, index, value in nodes:
            assert (level, index) not in seen
            assert value == compute_root(SMALL[index << level : (index + 1) << level])
            seen[(level, index)] = value
    assert len(seen) == 31  # a complete tree of 16 leaves
    assert seen[(4, 0)] == compact.root()


def test_resumed_compact_range_keeps_growing():
    compact = CompactRange()
    compact.extend(SMALL[:37])
    resumed = CompactRange.from_hashes(37, compact.to_hashes())
    resumed.extend(SMALL[37:])
    assert resumed.root() == compute_root(SMALL)


@pytest.mark.parametrize("size", range(1, N_SMALL + 1))
def test_inclusion_proofs_match_reference(size):
    root = compute_root(SMALL[:size])
    for index in range(size):
        proof = inclusion_proof(index, size, SMALL_STORE)
        assert proof == ref_path(index, SMALL[:size])
        verify_inclusion(index, size, SMALL[index], proof, root)
        assert compute_root_from_inclusion(index, size, SMALL[index], proof) == root


@pytest.mark.parametrize("size", range(1, N_SMALL + 1))
def test_batched_inclusion_proofs_equal_single_ones(size):
    indices = list(range(size))
    batched = inclusion_proofs(indices[::-1], size, SMALL_STORE)  # any order; a memo serves them all
    assert batched == [inclusion_proof(index, size, SMALL_STORE) for index in indices[::-1]]
    with pytest.raises(ProofError):
        inclusion_proofs([0, size], size, SMALL_STORE)


@pytest.mark.parametrize("size2", range(1, N_SMALL + 1))
def test_consistency_proofs_match_reference(size2):
    root2 = compute_root(SMALL[:size2])
    for size1 in range(1, size2 + 1):
        proof = consistency_proof(size1, size2, SMALL_STORE)
        assert proof == (ref_proof(size1, SMALL[:size2]) if size1 < size2 else [])
        verify_consistency(size1, size2, proof, compute_root(SMALL[:size1]), root2)


@pytest.mark.parametrize("seed", range(4))
def test_random_large_trees(seed):
    rng = random.Random(seed)
    size2 = rng.randrange(1_000, 5_000)
    leaves = random_hashes(size2, seed)
    compact = CompactRange()
    store = MemoryNodeStore()
    for item in leaves:
        store.add(compact.append(item))
    root2 = compact.root()
    assert root2 == ref_mth(leaves)
    for _ in range(20):
        index = rng.randrange(size2)
        size = rng.randrange(index + 1, size2 + 1)
        assert inclusion_proof(index, size, store) == ref_path(index, leaves[:size])
        size1 = rng.randrange(1, size2 + 1)
        proof = consistency_proof(size1, size2, store)
        assert proof == (ref_proof(size1, leaves) if size1 < size2 else [])
        verify_consistency(size1, size2, proof, compute_root_from_store(size1, store), root2)


def test_proofs_read_logarithmically_many_nodes():
    size = (1 << 20) + 12345
    store = _LazyStore()
    for index in (0, 1, size // 2, size - 2, size - 1):
        store.reads = 0
        inclusion_proof(index, size, store)
        assert store.reads <= 2 * 21
    for size1 in (1, 3, 1 << 19, size - 1):
        store.reads = 0
        consistency_proof(size1, size, store)
        assert store.reads <= 2 * 21 + 1


class _LazyStore:
    """Answers any node with a fake hash and counts the reads (no real tree needed)."""

    reads = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return hashlib.sha256(f"{level}/{index}".encode()).digest()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_tampered_proofs_fail(data):
    size = data.draw(st.integers(2, N_SMALL))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, SMALL_STORE)
    root = compute_root(SMALL[:size])
    which = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = list(proof)
    bad[which] = bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(bad[which]))
    with pytest.raises(ProofError, match="root hash mismatch"):
        verify_inclusion(index, size, SMALL[index], bad, root)
    with pytest.raises(ProofError, match="wrong proof size"):
        verify_inclusion(index, size, SMALL[index], proof[:-1], root)
    with pytest.raises(ProofError, match="wrong proof size"):
        verify_inclusion(index, size, SMALL[index], proof + [root], root)


# --- errors ------------------------------------------------------------------------------------


def test_verify_errors_say_what_was_wrong():
    root = compute_root(SMALL[:5])
    proof = inclusion_proof(1, 5, SMALL_STORE)
    with pytest.raises(ProofError, match="wrong proof size 2, want 3"):
        verify_inclusion(1, 5, SMALL[1], proof[:2], root)
    with pytest.raises(ProofError, match="index is beyond size: 5 >= 5"):
        verify_inclusion(5, 5, SMALL[1], proof, root)
    with pytest.raises(ProofError, match="leaf hash has size 3, want 32"):
        verify_inclusion(1, 5, b"abc", proof, root)
    with pytest.raises(ProofError, match=r"proof\[1\] has size 31, want 32"):
        verify_inclusion(1, 5, SMALL[1], [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(ProofError, match="must be a non-negative integer"):
        verify_inclusion(-1, 5, SMALL[1], proof, root)
    with pytest.raises(ProofError, match="must be a non-negative integer"):
        verify_inclusion(True, 5, SMALL[1], proof, root)
    with pytest.raises(ProofError, match="root hash mismatch"):
        verify_inclusion(1, 5, SMALL[2], proof, root)


def test_verify_consistency_errors():
    r3, r5 = compute_root(SMALL[:3]), compute_root(SMALL[:5])
    proof = consistency_proof(3, 5, SMALL_STORE)
    with pytest.raises(ProofError, match=r"size2 \(3\) < size1 \(5\)"):
        verify_consistency(5, 3, proof, r5, r3)
    with pytest.raises(ProofError, match="empty tree proves nothing"):
        verify_consistency(0, 5, [], EMPTY_ROOT, r5)
    with pytest.raises(ProofError, match="empty tree proves nothing"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="proof has 1 entries, want 0"):
        verify_consistency(3, 3, [r3], r3, r3)
    with pytest.raises(ProofError, match="root hash mismatch"):
        verify_consistency(3, 3, [], r3, r5)
    with pytest.raises(ProofError, match="empty proof"):
        verify_consistency(3, 5, [], r3, r5)
    with pytest.raises(ProofError, match=f"wrong proof size {len(proof) - 1}, want {len(proof)}"):
        verify_consistency(3, 5, proof[:-1], r3, r5)
    with pytest.raises(ProofError, match="first root hash mismatch"):
        verify_consistency(3, 5, proof, r5, r5)
    with pytest.raises(ProofError, match="second root hash mismatch"):
        verify_consistency(3, 5, proof, r3, r3)
    verify_consistency(3, 3, [], r3, r3)
    verify_consistency(3, 5, proof, r3, r5)


def test_proof_generation_errors():
    with pytest.raises(ProofError, match="index 5 out of range for tree size 5"):
        inclusion_proof(5, 5, SMALL_STORE)
    with pytest.raises(ProofError, match="size1 6 > size2 5"):
        consistency_proof(6, 5, SMALL_STORE)
    assert consistency_proof(0, 5, SMALL_STORE) == []
    assert consistency_proof(5, 5, SMALL_STORE) == []
    with pytest.raises(ProofError, match="size must be a non-negative integer"):
        inclusion_proof(0, -1, SMALL_STORE)


def test_compact_range_errors():
    with pytest.raises(ProofError, match="leaf hash has size 31, want 32"):
        CompactRange().append(b"x" * 31)
    with pytest.raises(ProofError, match="compact range of size 5 needs 2 hashes, got 1"):
        CompactRange.from_hashes(5, [b"x" * 32])
    with pytest.raises(ProofError, match="must be 32 bytes"):
        CompactRange.from_hashes(1, [b"x"])
    assert CompactRange.from_hashes(0, []).root() == EMPTY_ROOT
    assert compute_root_from_store(0, MemoryNodeStore()) == EMPTY_ROOT


def test_packed_node_store_serves_the_same_proofs_in_any_insertion_order() -> None:
    from voting.core.merkle import PackedNodeStore

    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(300)]
    nodes = CompactRange().extend(leaves)
    reference = MemoryNodeStore(nodes)
    shuffled = list(nodes)
    random.Random(5).shuffle(shuffled)
    for packed in (PackedNodeStore(nodes), PackedNodeStore(shuffled)):
        for size in (1, 2, 7, 64, 255, 300):
            for index in (0, size // 2, size - 1):
                assert inclusion_proof(index, size, packed) == inclusion_proof(index, size, reference)
            assert consistency_proof(size // 3, size, packed) == consistency_proof(size // 3, size, reference)
    packed = PackedNodeStore([(0, 0, leaves[0]), (0, 5, leaves[5])])
    assert packed.get(0, 5) == leaves[5]
    for level, index in ((0, 3), (0, 6), (1, 0), (0, -1)):  # a gap, past the end, a level never written
        with pytest.raises(KeyError):
            packed.get(level, index)
    with pytest.raises(ProofError, match="node hash has size 31"):
        packed.add([(0, 1, b"x" * 31)])
