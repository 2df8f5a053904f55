"""The dependency scanner: manifests parsed, packages matched against advisories, trust and licence policy."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.core import Category, Finding, Kind, Location, Severity
from bastion.scanners.interface import ScanError, Scanner, ScanOptions, ScanTarget

if TYPE_CHECKING:
    from bastion.scanners.code.advisories import Advisory, AdvisorySource, SourceInfo
    from bastion.scanners.code.dependencies.interface import Dependency, Manifest, ManifestIssue
    from bastion.scanners.code.dependencies.trust import TrustPolicy

_ISSUE_SEVERITY = {"cyclic-include": Severity.LOW, "remote-include": Severity.LOW}


class DependencyScanner(Scanner):
    """Known vulnerabilities (OSV), unpinned and unpinnable packages, untrusted packages and denied licences."""

    name = "dependencies"
    kinds = frozenset({Kind.DEPENDENCIES})

    def scan(self, target: ScanTarget) -> list[Finding]:
        # Imported here: the registry loads this module on every start, manifests or not.
        from bastion.scanners.code.advisories import SourceError
        from bastion.scanners.code.dependencies.interface import ManifestError
        from bastion.scanners.code.dependencies.parse import parse_manifest

        try:
            manifest = parse_manifest(target.format or "", target.read_bytes(), target.display_path, file=str(target.path))
        except ManifestError as exc:
            raise ScanError(str(exc)) from None
        findings = [_issue(issue) for issue in manifest.issues]
        findings += [f for d in manifest.dependencies if (f := _pinning(d)) is not None]
        findings += _policy_findings(manifest, target.options)
        problems = [f"{i.path}:{i.line}: {i.message}" for i in manifest.issues if i.incomplete]
        try:
            findings += vulnerabilities(list(manifest.dependencies), advisory_source(target.options))
        except SourceError as exc:
            problems.insert(0, f"advisories not checked: {exc}")
        if problems:
            raise ScanError("; ".join(problems), findings=findings, partial=True)
        return findings


def advisory_source(options: ScanOptions) -> AdvisorySource:
    """The offline mirror with ``--offline``, else the OSV API."""
    from bastion.scanners.code.advisories import MirrorSource, OsvApiSource

    return MirrorSource() if options.offline else OsvApiSource()


def vulnerabilities(dependencies: list[Dependency], source: AdvisorySource) -> list[Finding]:
    """A finding per (dependency, vulnerability), aliases merged; with a mirror, a note of its snapshot date.

    ``SourceError`` when the source cannot answer: nothing is reported clean then.
    """
    found = dependency_advisories(dependencies, source)
    findings = [
        _vulnerability(dependency, dependency.version, advisory, source.info)
        for dependency in dependencies
        if dependency.version is not None
        for advisory in found.get((dependency.name, dependency.version), [])
    ]
    checked = [d for d in dependencies if _checkable(d)]
    if checked and source.info.snapshot is not None:
        findings.append(_snapshot_note(checked[0].path, source.info))
    return findings


def dependency_advisories(dependencies: list[Dependency], source: AdvisorySource) -> dict[tuple[str, str], list[Advisory]]:
    """The advisories of each pinned (name, version), aliases merged; the source is not asked when nothing is pinned."""
    from bastion.scanners.code.advisories import Package, merge_aliases

    pinned = {Package(d.name, d.version) for d in dependencies if d.version is not None and _checkable(d)}
    packages = sorted(pinned, key=lambda p: (p.name, p.version))
    if not packages:
        return {}
    found = source.query_all(packages)
    return {(p.name, p.version): merge_aliases(advisories) for p, advisories in found.items() if advisories}


def _checkable(dependency: Dependency) -> bool:
    """Whether the dependency is pinned to a PEP 440 version, the only kind advisories can be matched against."""
    from bastion.scanners.code.advisories import parse_version

    return dependency.version is not None and parse_version(dependency.version) is not None


def _vulnerability(dependency: Dependency, version: str, advisory: Advisory, info: SourceInfo) -> Finding:
    from bastion.scanners.code.advisories import parse_version

    current = parse_version(version)
    later = [v for v in advisory.fixed if (p := parse_version(v)) is not None and current is not None and p > current]
    aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
    summary = f": {advisory.summary}" if advisory.summary else ""
    if later:
        remediation = f"Upgrade {dependency.name} to {later[0]} or later (fixed in {', '.join(later)})."
    else:
        remediation = (
            f"No fixed release of {dependency.name} is known; remove or replace it, or waive {advisory.id} with a reason."
        )
    database = {"source": info.name, "url": info.url, "snapshot": info.snapshot}
    return Finding(
        rule_id="deps.vulnerable-package",
        category=Category.VULNERABILITY,
        severity=advisory.severity,
        message=f"{dependency.name} {version} is affected by {advisory.id}{aliases}{summary}",
        location=Location(path=dependency.path, line=dependency.line),
        remediation=remediation,
        extra={
            "advisory": {
                "id": advisory.id,
                "aliases": list(advisory.aliases),
                "fixed_versions": list(advisory.fixed),
                "cvss_score": advisory.score,
                "cvss_vector": advisory.vector,
                "url": advisory.url,
                "database": database,
            },
            "package": dependency.name,
            "version": version,
        },
    )


def _snapshot_note(path: str, info: SourceInfo) -> Finding:
    import datetime as dt

    assert info.snapshot is not None
    taken = dt.datetime.fromisoformat(info.snapshot.replace("Z", "+00:00"))
    age = (dt.datetime.now(dt.UTC) - taken).days
    return Finding(
        rule_id="deps.advisory-snapshot",
        category=Category.VULNERABILITY,
        severity=Severity.INFO,
        message=f"advisories from the offline mirror of {info.snapshot} ({age} days old); newer advisories are not known",
        location=Location(path=path),
        remediation="Run `bastion vulndb update` regularly, or scan online.",
        extra={"database": {"source": info.name, "url": info.url, "snapshot": info.snapshot}},
    )


def _issue(issue: ManifestIssue) -> Finding:
    return Finding(
        rule_id=f"deps.{issue.rule}",
        category=Category.MISCONFIGURATION,
        severity=_ISSUE_SEVERITY.get(issue.rule, Severity.MEDIUM),
        message=issue.message,
        location=Location(path=issue.path, line=issue.line),
        remediation="Fix the manifest so that every dependency it names can be read.",
    )


def _pinning(dependency: Dependency) -> Finding | None:
    """Dependencies whose version cannot be matched against advisories: direct references and ranges."""
    from bastion.scanners.code.advisories import parse_version

    location = Location(path=dependency.path, line=dependency.line)
    if dependency.url is not None:
        return Finding(
            rule_id="deps.unpinnable",
            category=Category.MISCONFIGURATION,
            severity=Severity.LOW,
            message=f"{dependency.name} comes from {dependency.url}; its version cannot be checked against advisories",
            location=location,
            remediation=f"Install {dependency.name} from a package index at a pinned version, or review its source by hand.",
            extra={"package": dependency.name},
        )
    if dependency.version is None:
        allowed = dependency.specifier or "any version"
        return Finding(
            rule_id="deps.unpinned",
            category=Category.MISCONFIGURATION,
            severity=Severity.INFO,
            message=f"{dependency.name} allows {allowed}; only a pinned version can be checked against advisories",
            location=location,
            remediation="Pin the version (==), or scan the lock file that resolves it.",
            extra={"package": dependency.name},
        )
    if parse_version(dependency.version) is None:
        return Finding(
            rule_id="deps.invalid-version",
            category=Category.MISCONFIGURATION,
            severity=Severity.LOW,
            message=f"{dependency.name} {dependency.version} is not a PEP 440 version; it cannot be checked against advisories",
            location=location,
            remediation="Pin a released version of the package.",
            extra={"package": dependency.name},
        )
    return None


def _policy_findings(manifest: Manifest, options: ScanOptions) -> list[Finding]:
    if options.trusted is None:
        return []
    from bastion.core import BastionError
    from bastion.scanners.code.dependencies.licenses import denied_licenses
    from bastion.scanners.code.dependencies.trust import untrusted

    try:
        policy = _trust_policy(options.trusted)
    except BastionError as exc:
        raise ScanError(str(exc)) from None
    dependencies = list(manifest.dependencies)
    return untrusted(dependencies, policy) + denied_licenses(dependencies, policy.licenses.deny)


@functools.cache
def _trust_policy(path: Path) -> TrustPolicy:
    from bastion.scanners.code.dependencies.trust import load_trust_policy

    return load_trust_policy(path)
