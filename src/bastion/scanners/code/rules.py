"""Secret rules as data: each with keywords for a cheap pre-filter, a pattern, and checks.

A rule's ``pattern`` runs only on files that contain one of its ``keywords`` (lower-case bytes),
the way gitleaks does it: most files hold none, so most patterns never run.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from bastion.core import Severity

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One kind of secret."""

    id: str
    """The finding's ``rule_id``."""
    description: str
    """Names the secret in a message: 'AWS access key ID'."""
    keywords: tuple[bytes, ...]
    """Lower-case byte strings; the pattern runs only where one of them occurs."""
    pattern: re.Pattern[bytes]
    """Group 1 (or the whole match) is the secret."""
    severity: Severity
    min_entropy: float = 0.0
    """Shannon entropy in bits per character the secret must reach (placeholders do not)."""
    validate: Callable[[str], bool | None] | None = None
    """A checksum: True valid, False invalid (dropped), None cannot tell."""
    remediation: str = "Revoke the credential, remove it from the file and its history, and load it from a secret manager."


def _github_checksum(token: str) -> bool | None:
    """New-format GitHub tokens end with a base62 CRC32 of the random part."""
    _prefix, _, body = token.partition("_")
    if len(body) != 36:
        return None
    value = zlib.crc32(body[:30].encode())
    encoded = ""
    while value:
        value, digit = divmod(value, 62)
        encoded = _BASE62[digit] + encoded
    return encoded.rjust(6, "0") == body[30:] or None


@functools.cache
def default_rules() -> tuple[SecretRule, ...]:
    """Bastion's own rules, compiled on first use: a scan that meets no text file never pays for them."""
    return (
        SecretRule(
            id="code.secret.aws-access-key-id",
            description="AWS access key ID",
            keywords=(b"akia", b"asia", b"abia", b"acca", b"a3t"),
            pattern=re.compile(rb"(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})(?![A-Za-z0-9])"),
            severity=Severity.HIGH,
            min_entropy=3.0,
        ),
        SecretRule(
            id="code.secret.aws-secret-access-key",
            description="AWS secret access key",
            keywords=(b"aws", b"amazon"),
            pattern=re.compile(
                rb"(?i)(?:aws|amazon)[\w.\-]{0,20}?(?:secret|private)[\w.\-]{0,20}?['\"]?\s*(?:=|:|:=|=>|,)\s*[rbu]?['\"]?"
                rb"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
            ),
            severity=Severity.CRITICAL,
            min_entropy=4.0,
        ),
        SecretRule(
            id="code.secret.github-token",
            description="GitHub token",
            keywords=(b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
            pattern=re.compile(rb"(?<![A-Za-z0-9_])((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})(?![A-Za-z0-9_])"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            validate=_github_checksum,
        ),
        SecretRule(
            id="code.secret.github-fine-grained-token",
            description="GitHub fine-grained personal access token",
            keywords=(b"github_pat_",),
            pattern=re.compile(rb"(?<![A-Za-z0-9_])(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
        ),
        SecretRule(
            id="code.secret.private-key",
            description="private key",
            keywords=(b"private key",),
            pattern=re.compile(
                rb"(-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY(?: BLOCK)?-----"
                rb"[\sA-Za-z0-9+/=:,\-]{64,}?-----END[ A-Z]*PRIVATE KEY(?: BLOCK)?-----)"
            ),
            severity=Severity.CRITICAL,
            remediation=(
                "Revoke the key pair, remove the private key from the file and its history, and keep it in a secret manager."
            ),
        ),
    )
