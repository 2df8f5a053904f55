"""The supply-chain policy: which packages are trusted (optionally at which versions), which licences are denied.

```yaml
packages:                      # the trusted list; any other package is a finding
  - numpy
  - requests>=2.32
  - torch==2.13.0
licenses:
  deny: [AGPL-3.0, SSPL-1.0, "GPL-3.0*"]   # SPDX ids; AGPL-3.0 also covers -only and -or-later
```

Without ``packages`` every package is trusted; without ``licenses.deny`` no licence is read.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bastion.core import BastionError, Category, Finding, Location, Severity
from bastion.scanners.code.dependencies._pep508 import one_line, parse_requirement
from bastion.scanners.code.dependencies.interface import Dependency

if TYPE_CHECKING:
    from packaging.requirements import Requirement


class TrustPolicyError(BastionError):
    """The trusted-packages file is missing, not YAML, or not a valid policy."""


@dataclass(frozen=True)
class LicenseRules:
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    deny: tuple[str, ...] = ()
    """SPDX licence ids or globs that no dependency may carry."""


@dataclass(frozen=True)
class TrustPolicy:
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    packages: tuple[str, ...] | None = None
    """Trusted packages as PEP 508 names with optional specifiers (``torch==2.13.0``); None trusts every package."""
    licenses: LicenseRules = field(default_factory=LicenseRules)
    """The licence rules."""

    def allowed(self) -> dict[str, Requirement]:
        """The trusted list by normalised name."""
        from packaging.utils import canonicalize_name

        requirements = (parse_requirement(entry) for entry in self.packages or ())
        return {str(canonicalize_name(r.name)): r for r in requirements}


def load_trust_policy(path: Path) -> TrustPolicy:
    """Read and validate the trusted-packages file; errors name the file and line."""
    from bastion.core.yaml_document import read_yaml, validate

    document = read_yaml(path, what="trusted-packages file", error=TrustPolicyError)
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise TrustPolicyError(f"{path}:1: a trusted-packages file is a mapping with 'packages' and 'licenses'")
    policy = validate(document, TrustPolicy, data, error=TrustPolicyError)
    from packaging.requirements import InvalidRequirement

    for index, entry in enumerate(policy.packages or ()):
        try:
            requirement = parse_requirement(entry)
        except InvalidRequirement as exc:
            raise TrustPolicyError(
                document.message(("packages", index), f"not a package name with a version: {one_line(exc)}")
            ) from None
        if requirement.url or requirement.marker or requirement.extras:
            raise TrustPolicyError(document.message(("packages", index), "give a name and optional versions only"))
    return policy


def untrusted(dependencies: list[Dependency], policy: TrustPolicy) -> list[Finding]:
    """A finding for each dependency off the trusted list, or pinned to a version the list does not allow."""
    if policy.packages is None:
        return []
    allowed = policy.allowed()
    findings = []
    for dependency in dependencies:
        location = Location(path=dependency.path, line=dependency.line)
        trusted = allowed.get(dependency.name)
        if trusted is None:
            findings.append(
                Finding(
                    rule_id="deps.untrusted-package",
                    category=Category.MISCONFIGURATION,
                    severity=Severity.MEDIUM,
                    message=f"{dependency.name} is not on the trusted-packages list",
                    location=location,
                    remediation=f"Remove {dependency.name}, or have it reviewed and add it to the trusted-packages list.",
                    extra={"package": dependency.name},
                )
            )
        elif trusted.specifier and dependency.version and not trusted.specifier.contains(dependency.version, prereleases=True):
            findings.append(
                Finding(
                    rule_id="deps.untrusted-version",
                    category=Category.MISCONFIGURATION,
                    severity=Severity.MEDIUM,
                    message=f"{dependency.name} {dependency.version} is outside the trusted versions {trusted.specifier}",
                    location=location,
                    remediation=f"Use {dependency.name}{trusted.specifier}, or have this version reviewed and trusted.",
                    extra={"package": dependency.name, "version": dependency.version},
                )
            )
    return findings


def denied(licence: str, patterns: tuple[str, ...]) -> bool:
    """Whether the SPDX id ``licence`` is denied: a pattern matches it as a glob, or names its family (AGPL-3.0)."""
    key = licence.lower().removesuffix("+")
    for pattern in (p.lower() for p in patterns):
        if fnmatch.fnmatchcase(key, pattern) or key in (f"{pattern}-only", f"{pattern}-or-later"):
            return True
    return False
