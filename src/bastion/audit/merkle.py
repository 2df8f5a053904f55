"""Merkle trees over the audit log, as Certificate Transparency builds them (RFC 6962, RFC 9162 section 2.1).

A leaf is hashed with a 0x00 prefix and an inner node with 0x01, so a leaf can never pass for a node.
``CompactRange`` keeps only the roots of the perfect subtrees covering the leaves so far (one per set
bit of the size): appending is O(1) amortised and the tree head is O(log n), so a log of millions of
entries is committed to without holding its hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The tree over leaves ``[0, size)``, kept as the roots of its perfect subtrees, largest first."""

    __slots__ = ("roots", "size")

    def __init__(self, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        if len(roots) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} subtree roots, not {len(roots)}")
        self.size = size
        self.roots = list(roots)

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash; equal-sized subtrees merge as a binary counter carries."""
        self.roots.append(leaf)
        self.size += 1
        carries = (self.size & -self.size).bit_length() - 1  # trailing zero bits of the new size
        for _ in range(carries):
            right = self.roots.pop()
            self.roots[-1] = node_hash(self.roots[-1], right)

    def root(self) -> bytes:
        """The RFC 6962 Merkle tree hash of the leaves so far."""
        if not self.roots:
            return EMPTY_ROOT
        head = self.roots[-1]
        for subtree in reversed(self.roots[:-1]):
            head = node_hash(subtree, head)
        return head


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes."""
    tree = CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    return tree.root()


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over ``leaves`` (RFC 6962 section 2.1.1)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    proof: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        split = 1 << ((hi - lo - 1).bit_length() - 1)  # the largest power of two below the width
        if index < lo + split:
            proof.append(tree_hash(leaves[lo + split : hi]))
            hi = lo + split
        else:
            proof.append(tree_hash(leaves[lo : lo + split]))
            lo += split
    proof.reverse()  # the path runs from the leaf up
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows leaf ``index`` in the tree of ``size`` leaves with ``root`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    head = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            head = node_hash(sibling, head)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            head = node_hash(head, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and head == root
