"""Scanners for code, configuration, notebooks and dependency manifests.

The public names load on first use: the scanners are registered with every ``bastion scan``, and a scan
that meets no code should not compile the secret rules or read the notebook machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.scanners.code._context import shannon_entropy
    from bastion.scanners.code._matcher import RuleSet
    from bastion.scanners.code.gitleaks_config import GitleaksConfigError, load_gitleaks_config
    from bastion.scanners.code.notebook import NotebookError, strip_outputs
    from bastion.scanners.code.notebook_pii import NotebookPIIScanner
    from bastion.scanners.code.rules import Allowlist, SecretRule, default_rules
    from bastion.scanners.code.secrets import SecretScanner, redact

_PUBLIC = {
    "Allowlist": "bastion.scanners.code.rules",
    "GitleaksConfigError": "bastion.scanners.code.gitleaks_config",
    "NotebookError": "bastion.scanners.code.notebook",
    "NotebookPIIScanner": "bastion.scanners.code.notebook_pii",
    "RuleSet": "bastion.scanners.code._matcher",
    "SecretRule": "bastion.scanners.code.rules",
    "SecretScanner": "bastion.scanners.code.secrets",
    "default_rules": "bastion.scanners.code.rules",
    "load_gitleaks_config": "bastion.scanners.code.gitleaks_config",
    "redact": "bastion.scanners.code.secrets",
    "shannon_entropy": "bastion.scanners.code._context",
    "strip_outputs": "bastion.scanners.code.notebook",
}


__getattr__ = lazy_attributes(__name__, _PUBLIC)


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
