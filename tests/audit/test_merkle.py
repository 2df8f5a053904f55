"""The Merkle tree against Certificate Transparency's reference vectors and the RFC 6962 definition."""

from __future__ import annotations

import hashlib

import pytest

from bastion.audit.merkle import CompactRange, inclusion_proof, leaf_hash, node_hash, tree_hash, verify_inclusion

# certificate-transparency's reference leaves and roots (RFC 6962 test data).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 section 2.1 defines it, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node_hash(reference_root(leaves[:split]), reference_root(leaves[split:]))


def test_reference_vectors() -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]
    for size, root in CT_ROOTS.items():
        assert tree_hash(hashes[:size]).hex() == root


@pytest.mark.parametrize("size", range(0, 70))
def test_compact_range_matches_the_definition(size: int) -> None:
    hashes = [leaf_hash(str(i).encode()) for i in range(size)]
    tree = CompactRange()
    for leaf in hashes:
        tree.append(leaf)
    assert tree.root() == reference_root(hashes)
    resumed = CompactRange(tree.size, tree.roots)
    resumed.append(leaf_hash(b"next"))
    assert resumed.root() == reference_root([*hashes, leaf_hash(b"next")])


def test_compact_range_refuses_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="has 2 subtree roots"):
        CompactRange(3, [b"x"])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_every_inclusion_proof_verifies_and_no_forgery_does(size: int) -> None:
    hashes = [leaf_hash(str(i).encode()) for i in range(size)]
    root = tree_hash(hashes)
    for index in range(size):
        proof = inclusion_proof(index, hashes)
        assert len(proof) <= (size - 1).bit_length()
        assert verify_inclusion(index, size, hashes[index], proof, root)
        assert not verify_inclusion(index, size, leaf_hash(b"forged"), proof, root)
        if proof:
            bent = [*proof[:-1], leaf_hash(b"bent")]
            assert not verify_inclusion(index, size, hashes[index], bent, root)
            assert not verify_inclusion(index, size, hashes[index], proof[:-1], root)


def test_proof_of_a_missing_leaf_is_refused() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(3, [leaf_hash(b"a")])
    assert not verify_inclusion(5, 3, leaf_hash(b"a"), [], leaf_hash(b"a"))
