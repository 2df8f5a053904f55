"""How an entry and a checkpoint statement are spelt in bytes, and what makes a stored line a valid next entry.

Each entry is one line of JSON: ``{"hash":"<hex>",`` and then the rest of the canonical JSON of its other
fields. ``hash`` is the SHA-256 Merkle leaf hash of exactly those bytes (with the opening brace), and
``prev`` the hash of the entry before, so verifying an entry hashes its bytes as they are, without
re-encoding, and an edited, deleted, inserted or reordered entry breaks the chain where it happened.
Every place the log is kept stores these lines byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from bastion.audit.errors import AuditError
from bastion.audit.merkle import leaf_hash

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""
MAX_DETAILS = 16 * 1024
"""Encoded size allowed for an event's details: an audit entry records a decision, not its data."""
CHECKPOINT_EVERY = 1000
"""Entries between the automatic checkpoints of a log opened with a signer."""
_STATEMENT_PREFIX = b"bastion-audit-checkpoint/v1\n"
_HASH_OPEN = b'{"hash":"'
_HASH_END = len(_HASH_OPEN) + 64
_BODY_START = _HASH_END + 2  # after the closing quote and the comma


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: one encoding per value, so a hash over it is reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def statement(size: int, root: str, time: str, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return _STATEMENT_PREFIX + canonical({"size": size, "root": root, "time": time, "key_id": key_id})


def new_entry(
    seq: int, prev: str, action: str, actor: str, target: str | None, outcome: str, details: Mapping[str, Any] | None
) -> tuple[dict[str, Any], bytes]:
    """The fields (with ``hash``) and the line of entry ``seq`` after ``prev``; oversized details are an ``AuditError``."""
    details = dict(details or {})
    encoded_details = canonical(details)
    if len(encoded_details) > MAX_DETAILS:
        raise AuditError(f"audit details of {action!r} are {len(encoded_details)} bytes; at most {MAX_DETAILS}")
    fields: dict[str, Any] = {
        "seq": seq,
        "time": now(),
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "details": details,
        "prev": prev,
    }
    fields["hash"], line = encode_entry(fields)
    return fields, line


def encode_entry(fields: Mapping[str, Any]) -> tuple[str, bytes]:
    """The hash (hex) and the line (with its newline) of an entry's fields other than ``hash``."""
    body = canonical({k: v for k, v in fields.items() if k != "hash"})
    digest = leaf_hash(body).hex()
    return digest, _HASH_OPEN + digest.encode() + b'",' + body[1:] + b"\n"


def line_hash_problem(line: bytes) -> str | None:
    """Why a stored line's hash does not cover its bytes; None when it does."""
    if not line.startswith(_HASH_OPEN) or line[_HASH_END:_BODY_START] != b'",':
        return "not an entry line (edited)"
    if leaf_hash(b"{" + line[_BODY_START:]).hex().encode() != line[len(_HASH_OPEN) : _HASH_END]:
        return "its hash does not match its content (edited)"
    return None


def chain_problem(line: bytes, fields: dict[str, Any], seq: int, prev: str) -> str | None:
    """Why ``line`` (parsed as ``fields``) cannot be entry ``seq`` after ``prev``; None when it can."""
    if fields.get("seq") != seq:
        return f"numbered {fields.get('seq')!r} where {seq} was expected (an entry was deleted, inserted or reordered)"
    if fields.get("prev") != prev:
        return "does not chain to the entry before it (an entry was deleted, inserted or reordered)"
    return line_hash_problem(line)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
