"""Scanners for code, configuration, notebooks and dependency manifests."""

from bastion.scanners.code.rules import RULES, SecretRule
from bastion.scanners.code.secrets import SecretScanner, redact, shannon_entropy

__all__ = ["RULES", "SecretRule", "SecretScanner", "redact", "shannon_entropy"]
