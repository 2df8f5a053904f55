"""A CycloneDX 1.6 SBOM of a project's declared and resolved dependencies, with their known vulnerabilities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError, Kind
from bastion.scanners.code.dependencies.interface import Dependency, Manifest, ManifestError
from bastion.scanners.code.dependencies.parse import parse_manifest

if TYPE_CHECKING:
    from bastion.scanners.code.advisories import Advisory, AdvisorySource, SourceInfo


class SbomError(BastionError):
    """The SBOM cannot be complete (a manifest unreadable, advisories unavailable); nothing is written."""


@dataclass(frozen=True, slots=True)
class ProjectDependencies:
    """The manifests found below the paths given."""

    name: str
    """The project's name: ``[project] name`` of its pyproject.toml, else the directory's name."""
    manifests: tuple[Manifest, ...]
    """Every manifest read, in path order."""


def collect(paths: Sequence[str]) -> ProjectDependencies:
    """Read every dependency manifest below ``paths``; ``SbomError`` when one is unreadable or incomplete."""
    from bastion.scanners.detect import HEAD_SIZE, detect
    from bastion.scanners.walk import walk

    manifests = []
    for entry in walk(paths):
        if entry.error is not None or entry.escapes_tree is not None:
            continue
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            raise SbomError(f"{entry.display}: cannot read ({exc.strerror or exc})") from None
        detection = detect(entry.path, data[:HEAD_SIZE], len(data))
        if detection.kind is not Kind.DEPENDENCIES or detection.format is None:
            continue
        try:
            manifest = parse_manifest(detection.format, data, entry.display, file=str(entry.path))
        except ManifestError as exc:
            raise SbomError(f"{entry.display}: {exc}") from None
        incomplete = [issue for issue in manifest.issues if issue.incomplete]
        if incomplete:
            issue = incomplete[0]
            raise SbomError(f"{issue.path}:{issue.line}: {issue.message}; the SBOM would be incomplete")
        manifests.append(manifest)
    if not manifests:
        raise SbomError(f"no dependency manifest (requirements*.txt, pyproject.toml, lock files) below {', '.join(paths)}")
    return ProjectDependencies(_project_name(paths), tuple(manifests))


def build_sbom(project: ProjectDependencies, source: AdvisorySource | None) -> str:
    """The CycloneDX 1.6 JSON document; with ``source``, the vulnerabilities it knows are attached.

    ``SourceError`` from ``source`` propagates: an SBOM never claims no vulnerabilities it did not check.
    """
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    from bastion import __version__

    dependencies = [d for manifest in project.manifests for d in manifest.dependencies]
    components: dict[str, Component] = {}
    for dependency in dependencies:
        ref = _bom_ref(dependency)
        if ref not in components:
            components[ref] = _component(dependency, ref)
    root = Component(name=project.name, type=ComponentType.APPLICATION, bom_ref="project")
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name="bastion", version=__version__, type=ComponentType.APPLICATION))
    bom.components.update(components.values())
    bom.register_dependency(root, components.values())
    if source is not None:
        from bastion.scanners.code.dependencies.scanner import dependency_advisories

        found = dependency_advisories(dependencies, source)
        info = source.info
        bom.metadata.properties.add(Property(name="bastion:advisory-database", value=f"{info.name} {info.url}"))
        if info.snapshot is not None:
            bom.metadata.properties.add(Property(name="bastion:advisory-snapshot", value=info.snapshot))
        by_id: dict[str, tuple[Advisory, list[str]]] = {}
        for (name, version), advisories in sorted(found.items()):
            for advisory in advisories:
                by_id.setdefault(advisory.id, (advisory, []))[1].append(_purl_ref(name, version))
        for advisory, refs in by_id.values():
            bom.vulnerabilities.add(_vulnerability(advisory, refs, info))
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"


def _component(dependency: Dependency, ref: str) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentScope
    from packageurl import PackageURL

    properties = [Property(name="bastion:declared-in", value=dependency.path)]
    if dependency.specifier:
        properties.append(Property(name="bastion:specifier", value=dependency.specifier))
    if dependency.url:
        properties.append(Property(name="bastion:direct-reference", value=dependency.url))
    if dependency.group:
        properties.append(Property(name="bastion:group", value=dependency.group))
    properties.append(Property(name="bastion:resolved", value="true" if dependency.resolved else "false"))
    hashes = [
        HashType(alg=HashAlgorithm.SHA_256, content=h.split(":", 1)[1].lower())
        for h in dependency.hashes
        if h.startswith("sha256:") and len(h) == 71
    ]
    return Component(
        name=dependency.name,
        version=dependency.version,
        bom_ref=ref,
        purl=PackageURL(type="pypi", name=dependency.name, version=dependency.version),
        scope=ComponentScope.REQUIRED if dependency.group is None else ComponentScope.OPTIONAL,
        hashes=hashes,
        properties=properties,
    )


def _vulnerability(advisory: Advisory, refs: list[str], info: SourceInfo) -> Any:
    from decimal import Decimal

    from cyclonedx.model import XsUri
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityRating,
        VulnerabilityReference,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    osv = VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{advisory.id}"))
    rating = VulnerabilityRating(
        source=osv,
        score=Decimal(str(advisory.score)) if advisory.score is not None else None,
        severity=VulnerabilitySeverity(advisory.severity.value),
        method=_score_method(advisory.vector, VulnerabilityScoreSource),
        vector=advisory.vector,
    )
    fixed = f" Fixed in {', '.join(advisory.fixed)}." if advisory.fixed else " No fixed version is known."
    return Vulnerability(
        bom_ref=advisory.id,
        id=advisory.id,
        source=VulnerabilitySource(name=info.name, url=XsUri(advisory.url) if advisory.url else None),
        references=[
            VulnerabilityReference(
                id=alias, source=VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{alias}"))
            )
            for alias in advisory.aliases
        ],
        ratings=[rating],
        description=advisory.summary or None,
        recommendation=("Upgrade." if advisory.fixed else "Replace the package.") + fixed,
        affects=[BomTarget(ref=ref) for ref in refs],
    )


def _score_method(vector: str | None, methods: Any) -> Any:
    if vector is None:
        return None
    if vector.startswith("CVSS:4"):
        return methods.CVSS_V4
    if vector.startswith("CVSS:3.1"):
        return methods.CVSS_V3_1
    return methods.CVSS_V3 if vector.startswith("CVSS:3") else methods.CVSS_V2


def _purl_ref(name: str, version: str) -> str:
    from packageurl import PackageURL

    return str(PackageURL(type="pypi", name=name, version=version).to_string())


def _bom_ref(dependency: Dependency) -> str:
    """The component's key: its purl when pinned; otherwise the name with what constrains it."""
    if dependency.version is not None:
        return _purl_ref(dependency.name, dependency.version)
    return f"pkg:pypi/{dependency.name}#{dependency.url or dependency.specifier or '*'}"


def _project_name(paths: Sequence[str]) -> str:
    from bastion.scanners.code.dependencies._toml import load_toml

    first = Path(paths[0])
    directory = first if first.is_dir() else first.parent
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            name = load_toml(pyproject.read_bytes(), str(pyproject))[0].get("project", {}).get("name")
        except (ManifestError, OSError, AttributeError):
            name = None
        if isinstance(name, str) and name:
            return name
    return os.path.basename(os.path.abspath(directory)) or "project"
