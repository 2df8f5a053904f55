"""Scanners for code, configuration, notebooks and dependency manifests."""

from bastion.scanners.code._matcher import RuleSet
from bastion.scanners.code.gitleaks_config import GitleaksConfigError, load_gitleaks_config
from bastion.scanners.code.notebook import NotebookError, strip_outputs
from bastion.scanners.code.notebook_pii import NotebookPIIScanner
from bastion.scanners.code.rules import Allowlist, SecretRule, default_rules
from bastion.scanners.code.secrets import SecretScanner, redact, shannon_entropy

__all__ = [
    "Allowlist",
    "GitleaksConfigError",
    "NotebookError",
    "NotebookPIIScanner",
    "RuleSet",
    "SecretRule",
    "SecretScanner",
    "default_rules",
    "load_gitleaks_config",
    "redact",
    "shannon_entropy",
    "strip_outputs",
]
