"""API tokens: 256 random bits, shown once; the registry keeps only their SHA-256.

A token reads ``bst_<id>_<secret>``: the id (public, 12 hex digits) names it in listings, logs and ``bastion tokens
revoke``; the secret is 43 URL-safe characters. A plain SHA-256 suffices to store them: unlike a password, a 256-bit
random secret cannot be guessed, so a slow hash would add nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX = "bst_"


@dataclass(frozen=True)
class NewToken:
    """A freshly drawn token."""

    id: str
    """Public identifier (12 hex digits)."""
    token: str
    """The whole token, to show once and never store."""
    hash: str
    """SHA-256 (hex) of ``token``: what the database keeps."""


def new_token() -> NewToken:
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token_id, token, token_hash(token))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id_of(token: str) -> str | None:
    """The public id inside a well-formed token (to name it in the audit log); None for anything else."""
    if not token.startswith(PREFIX):
        return None
    token_id, _, secret = token[len(PREFIX) :].partition("_")
    if len(token_id) != 12 or not secret or any(c not in "0123456789abcdef" for c in token_id):
        return None
    return token_id
