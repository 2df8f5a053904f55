"""Scanners for code, configuration, notebooks and dependency manifests."""

from bastion.scanners.code.rules import SecretRule, default_rules
from bastion.scanners.code.secrets import SecretScanner, redact, shannon_entropy

__all__ = ["SecretRule", "SecretScanner", "default_rules", "redact", "shannon_entropy"]
