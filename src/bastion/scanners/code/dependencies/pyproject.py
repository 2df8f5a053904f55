"""``pyproject.toml``: PEP 621 dependencies and optional dependencies, PEP 735 groups, and Poetry's tables."""

from __future__ import annotations

from typing import Any

from bastion.scanners.code.dependencies._pep508 import excerpt, one_line, parse_requirement, pinned_version
from bastion.scanners.code.dependencies._toml import LineFinder, load_toml, string_list, table
from bastion.scanners.code.dependencies.interface import Dependency, Manifest, ManifestError, ManifestIssue, ManifestParser


class PyprojectParser(ManifestParser):
    """Declared dependencies of a project: ``[project]``, ``[dependency-groups]`` and ``[tool.poetry]``."""

    formats = frozenset({"pyproject"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        document, text = load_toml(data, path)
        lines = LineFinder(text)
        found: list[Dependency] = []
        issues: list[ManifestIssue] = []
        project = table(document, "project")
        entries: list[tuple[str, str | None]] = [
            (spec, None) for spec in string_list(project.get("dependencies", []), "[project] dependencies")
        ]
        for extra, specs in table(document, "project", "optional-dependencies").items():
            entries += [(spec, extra) for spec in string_list(specs, f"[project.optional-dependencies] {extra}")]
        for name, specs in table(document, "dependency-groups").items():
            if not isinstance(specs, list):
                raise ManifestError(f"[dependency-groups] {name} must be a list")
            entries += [(spec, name) for spec in specs if isinstance(spec, str)]  # tables are {include-group = …}
        for spec, group in entries:
            dependency = pep508(spec, path, lines.of_string(spec), group, issues)
            if dependency is not None:
                found.append(dependency)
        poetry = table(document, "tool", "poetry")
        found += _poetry(table(poetry, "dependencies"), path, lines, "tool.poetry.dependencies", None)
        found += _poetry(table(poetry, "dev-dependencies"), path, lines, "tool.poetry.dev-dependencies", "dev")
        for name, settings in table(poetry, "group").items():
            if isinstance(settings, dict):
                header = f"tool.poetry.group.{name}.dependencies"
                found += _poetry(table(settings, "dependencies"), path, lines, header, name)
        return Manifest("pyproject", tuple(found), tuple(issues))


def pep508(spec: str, path: str, line: int | None, group: str | None, issues: list[ManifestIssue]) -> Dependency | None:
    """A PEP 508 requirement string as a ``Dependency``; an unreadable one becomes an issue."""
    from packaging.requirements import InvalidRequirement
    from packaging.utils import canonicalize_name

    try:
        requirement = parse_requirement(spec)
    except InvalidRequirement as exc:
        issues.append(ManifestIssue(path, line, f"cannot parse {excerpt(spec)}: {one_line(exc)}", True, "invalid-requirement"))
        return None
    return Dependency(
        name=str(canonicalize_name(requirement.name)),
        version=None if requirement.url else pinned_version(requirement.specifier),
        specifier=str(requirement.specifier),
        path=path,
        line=line,
        extras=tuple(sorted(requirement.extras)),
        marker=str(requirement.marker) if requirement.marker else None,
        url=requirement.url,
        group=group,
    )


def _poetry(dependencies: dict[str, Any], path: str, lines: LineFinder, header: str, group: str | None) -> list[Dependency]:
    from packaging.utils import canonicalize_name

    start = lines.of_table(header)
    found = []
    for name, value in dependencies.items():
        if name.lower() == "python":
            continue  # the interpreter, not a package
        for constraint in value if isinstance(value, list) else [value]:
            if isinstance(constraint, str):
                constraint = {"version": constraint}
            if not isinstance(constraint, dict):
                raise ManifestError(f"[tool.poetry] dependency {name} must be a version string or a table")
            specifier = str(constraint.get("version", "")).strip()
            url = next((str(constraint[key]) for key in ("git", "url", "path", "file") if key in constraint), None)
            extras = constraint.get("extras", [])
            found.append(
                Dependency(
                    name=str(canonicalize_name(name)),
                    version=None if url else poetry_pin(specifier),
                    specifier="" if specifier == "*" else specifier,
                    path=path,
                    line=lines.of_key(name, after=start),
                    extras=tuple(sorted(str(e) for e in extras)) if isinstance(extras, list) else (),
                    marker=str(constraint["markers"]) if "markers" in constraint else None,
                    url=url,
                    group=group,
                )
            )
    return found


def poetry_pin(specifier: str) -> str | None:
    """The one version a Poetry constraint allows: ``1.2.3``, ``=1.2.3``, ``==1.2.3`` pin; ``^``, ``~``, ``*``, ranges do not."""
    from packaging.version import InvalidVersion, Version

    text = specifier.strip().lstrip("=").strip()
    if not text[:1].isdigit():
        return None
    try:
        Version(text)
    except InvalidVersion:
        return None  # wildcards, ranges, alternatives
    return text
