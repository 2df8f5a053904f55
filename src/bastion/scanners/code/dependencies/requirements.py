"""pip requirements files: hashes, extras, markers, ``-r``/``-c`` includes, continuations, direct references."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bastion.scanners.code.dependencies._pep508 import excerpt, one_line, parse_requirement, pinned_version
from bastion.scanners.code.dependencies.interface import (
    MAX_MANIFEST,
    Dependency,
    Manifest,
    ManifestError,
    ManifestIssue,
    ManifestParser,
)

# pip's own rule: a comment starts at '#' at the line start or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s*)(\S.*)$")
_EDITABLE = re.compile(r"^(-e|--editable)(?:\s*=\s*|\s+)(\S.*)$")
_HASH = re.compile(r"\s--hash[=\s]\s*(\S+)")
# Per-requirement options pip accepts after the requirement; dropped before parsing it.
_PER_REQUIREMENT_OPTION = re.compile(r"\s--(?:config-settings|global-option|install-option)[=\s]\s*\S+")
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|(?:git|hg|svn|bzr)\+|file:)", re.I)
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_ARCHIVE_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9._]*?)-\d[^/]*\.(?:whl|tar\.gz|zip|tar\.bz2)$")
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_MAX_DEPTH = 32


@dataclass
class _State:
    dependencies: list[Dependency] = field(default_factory=list)
    constraints: dict[str, Dependency] = field(default_factory=dict)
    issues: list[ManifestIssue] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)


class RequirementsParser(ManifestParser):
    """``requirements.txt`` and friends, with the files they include read from beside them."""

    formats = frozenset({"requirements"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        state = _State()
        real = os.path.realpath(file) if file is not None else None
        _read(state, _decode(data, path), path, real, stack=(real or path,), constraint=False)
        return Manifest("requirements", tuple(_apply_constraints(state)), tuple(state.issues))


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start}); save {path} as UTF-8") from None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: comments dropped, backslash continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 1
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw) if "#" in raw else raw
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = "".join(pending).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending and "".join(pending).strip():
        lines.append((start, "".join(pending).strip()))
    return lines


def _read(state: _State, text: str, path: str, real: str | None, *, stack: tuple[str, ...], constraint: bool) -> None:
    if real is not None:
        state.visited.add(real)
    for number, line in _logical_lines(text):
        include = _INCLUDE.match(line)
        if include is not None:
            # Whatever a constraints file includes is a constraint too, as pip reads it.
            nested = constraint or include[1] in ("-c", "--constraint")
            _include(state, include[2].strip(), path, real, number, stack=stack, constraint=nested)
            continue
        editable = _EDITABLE.match(line)
        if editable is not None:
            state.dependencies.append(_direct_reference(editable[2].strip(), path, number))
            continue
        if line.startswith("-"):
            continue  # global options: index URLs, --pre, --require-hashes, …
        dependency = _requirement(state, line, path, number)
        if dependency is None:
            continue
        if constraint:
            state.constraints.setdefault(dependency.name, dependency)
        else:
            state.dependencies.append(dependency)


def _include(
    state: _State, target: str, path: str, real: str | None, number: int, *, stack: tuple[str, ...], constraint: bool
) -> None:
    what = "constraints file" if constraint else "requirements file"
    if _URL.match(target):
        state.issues.append(
            ManifestIssue(
                path, number, f"remote {what} {target} is not fetched; its packages were not checked", True, "remote-include"
            )
        )
        return
    if real is None:
        state.issues.append(ManifestIssue(path, number, f"included {what} {target} cannot be located", True, "missing-include"))
        return
    included = os.path.realpath(os.path.join(os.path.dirname(real), target))
    shown = posixpath.normpath(posixpath.join(posixpath.dirname(path), target.replace(os.sep, "/")))
    if included in stack:
        cycle = " -> ".join([*(os.path.basename(p) for p in stack[stack.index(included) :]), os.path.basename(included)])
        state.issues.append(
            ManifestIssue(path, number, f"cyclic include of {target} ({cycle}); the cycle was read once", False, "cyclic-include")
        )
        return
    if included in state.visited:
        return  # included twice without a cycle: its packages are already in
    if len(stack) >= _MAX_DEPTH:
        state.issues.append(
            ManifestIssue(
                path, number, f"includes nested deeper than {_MAX_DEPTH} files; {target} not read", True, "include-depth"
            )
        )
        return
    try:
        status = os.stat(included)
        if not stat.S_ISREG(status.st_mode):
            raise ManifestError("not a regular file")  # a device or a pipe would be read forever
        if status.st_size > MAX_MANIFEST:
            raise ManifestError(f"larger than {MAX_MANIFEST >> 20} MiB")
        data = Path(included).read_bytes()
        text = _decode(data, shown)
    except (OSError, ManifestError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        state.issues.append(
            ManifestIssue(path, number, f"included {what} {target} cannot be read ({reason})", True, "missing-include")
        )
        return
    _read(state, text, shown, included, stack=(*stack, included), constraint=constraint)


def _requirement(state: _State, line: str, path: str, number: int) -> Dependency | None:
    from packaging.requirements import InvalidRequirement

    hashes = tuple(_HASH.findall(" " + line))
    spec = _PER_REQUIREMENT_OPTION.sub("", _HASH.sub("", " " + line)).strip()
    if _URL.match(spec) or spec.startswith((".", "/")):
        return _direct_reference(spec, path, number, hashes)
    try:
        requirement = parse_requirement(spec)
    except InvalidRequirement as exc:
        message = f"cannot parse {excerpt(spec)}: {one_line(exc)}"
        state.issues.append(ManifestIssue(path, number, message, True, "invalid-requirement"))
        return None
    specifier = str(requirement.specifier)
    return Dependency(
        name=_canonical(requirement.name),
        version=None if requirement.url else pinned_version(requirement.specifier),
        specifier=specifier,
        path=path,
        line=number,
        extras=tuple(sorted(requirement.extras)),
        marker=str(requirement.marker) if requirement.marker else None,
        url=requirement.url,
        hashes=hashes,
    )


def _direct_reference(reference: str, path: str, number: int, hashes: tuple[str, ...] = ()) -> Dependency:
    """A URL, VCS reference or local path given instead of a name: named by ``#egg=``, the archive, or the last part."""
    import shlex

    try:
        words = shlex.split(reference)
    except ValueError:
        words = reference.split()
    url = words[0] if words else reference
    egg = _EGG.search(url)
    location = url.split("#", 1)[0].split("?", 1)[0]
    archive = _ARCHIVE_NAME.search(location)
    last = posixpath.basename(location.rstrip("/")).removesuffix(".git")
    name = egg[1] if egg else archive[1] if archive else last
    shown = _canonical(name) if _PROJECT_NAME.match(name) else url  # "-e ." has no name of its own
    return Dependency(name=shown, version=None, specifier="", path=path, line=number, url=url, hashes=hashes)


def _apply_constraints(state: _State) -> list[Dependency]:
    """Requirements that a constraints file pins take its version (pip installs that one)."""
    import dataclasses

    resolved = []
    for dependency in state.dependencies:
        constraint = state.constraints.get(dependency.name)
        if dependency.version is None and dependency.url is None and constraint is not None and constraint.version:
            dependency = dataclasses.replace(dependency, version=constraint.version)
        resolved.append(dependency)
    return resolved


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))
