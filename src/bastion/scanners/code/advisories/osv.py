"""OSV records (https://ossf.github.io/osv-schema/) matched against a package version with PEP 440 semantics.

A version is affected when it is listed in ``affected[].versions`` or falls in an ``ECOSYSTEM``
range: events sorted by version, ``introduced`` opens, ``fixed`` closes (exclusive),
``last_affected`` closes (inclusive), as the OSV specification evaluates them. Versions compare
as PEP 440 versions (epochs, pre-, post- and dev releases); a local version (``1.0+cpu``) is the
public release it was built from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bastion.scanners.code.advisories.interface import Advisory, Package
from bastion.scanners.code.advisories.severity import rate

if TYPE_CHECKING:
    from packaging.version import Version

ECOSYSTEM = "PyPI"
_SUMMARY_WIDTH = 200


def parse_version(text: str) -> Version | None:
    """The public part of a PEP 440 version, or None when ``text`` is not one."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(Version(text.strip()).public)
    except InvalidVersion:
        return None


def affected_packages(record: dict[str, Any]) -> set[str]:
    """The normalised names of the PyPI packages a record lists."""
    from packaging.utils import canonicalize_name

    names = set()
    for affected in _dicts(record.get("affected")):
        package = affected.get("package")
        if isinstance(package, dict) and package.get("ecosystem") == ECOSYSTEM and isinstance(package.get("name"), str):
            names.add(str(canonicalize_name(package["name"])))
    return names


def match(record: dict[str, Any], package: Package) -> Advisory | None:
    """The advisory ``record`` makes for ``package``, or None when that version is not affected (or it was withdrawn)."""
    from packaging.utils import canonicalize_name

    version = parse_version(package.version)
    if version is None or record.get("withdrawn") or not isinstance(record.get("id"), str):
        return None
    for affected in _dicts(record.get("affected")):
        listed = affected.get("package")
        if not isinstance(listed, dict) or listed.get("ecosystem") != ECOSYSTEM:
            continue
        if str(canonicalize_name(str(listed.get("name", "")))) != package.name:
            continue
        if _in_versions(affected, version) or any(_in_range(r, version) for r in _ecosystem_ranges(affected)):
            return _advisory(record, affected)
    return None


def merge_aliases(advisories: Iterable[Advisory]) -> list[Advisory]:
    """One advisory per vulnerability: records that name each other (GHSA and PYSEC of one CVE) are merged."""
    groups: list[list[Advisory]] = []
    for advisory in advisories:
        names = {advisory.id, *advisory.aliases}
        joined = [g for g in groups if any(names & {a.id, *a.aliases} for a in g)]
        merged = [advisory]
        for group in joined:
            groups.remove(group)
            merged += group
        groups.append(merged)
    return sorted((_merge(group) for group in groups), key=lambda a: a.id)


def _merge(group: list[Advisory]) -> Advisory:
    # The record with a CVSS score speaks for the group; GHSA ids before PYSEC ones, then by id.
    lead = min(group, key=lambda a: (a.score is None, not a.id.startswith("GHSA-"), a.id))
    names = {name for a in group for name in (a.id, *a.aliases)} - {lead.id}
    fixed = {v for a in group for v in a.fixed}
    return dataclasses.replace(
        lead,
        aliases=tuple(sorted(names)),
        fixed=_sorted_versions(fixed),
        severity=max(a.severity for a in group),
        summary=lead.summary or next((a.summary for a in group if a.summary), ""),
    )


def _advisory(record: dict[str, Any], affected: dict[str, Any]) -> Advisory:
    severity, score, vector = rate(record, affected)
    fixed = {
        str(event["fixed"])
        for r in _ecosystem_ranges(affected)
        for event in _dicts(r.get("events"))
        if isinstance(event.get("fixed"), str)
    }
    aliases = [a for a in record.get("aliases") or [] if isinstance(a, str)]
    return Advisory(
        id=record["id"],
        aliases=tuple(sorted(set(aliases))),
        summary=_summary(record),
        fixed=_sorted_versions(fixed),
        severity=severity,
        score=score,
        vector=vector,
        url=_url(record),
    )


def _in_versions(affected: dict[str, Any], version: Version) -> bool:
    versions = affected.get("versions")
    return isinstance(versions, list) and any(isinstance(v, str) and parse_version(v) == version for v in versions)


def _ecosystem_ranges(affected: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in _dicts(affected.get("ranges")) if r.get("type") == "ECOSYSTEM"]


_KINDS = ("introduced", "fixed", "last_affected")


def _in_range(range_: dict[str, Any], version: Version) -> bool:
    from packaging.version import Version

    floor = Version("0")
    # (before every version?, bound, kind's place in _KINDS, kind); "0" introduced sorts first.
    events: list[tuple[bool, Version, int, str]] = []
    for event in _dicts(range_.get("events")):
        for position, kind in enumerate(_KINDS):
            value = event.get(kind)
            if not isinstance(value, str):
                continue
            if kind == "introduced" and value == "0":
                events.append((False, floor, position, kind))
                continue
            bound = parse_version(value)
            if bound is not None:  # a bound that is not PEP 440 cannot be compared; it is left out
                events.append((True, bound, position, kind))
    affected = False
    for bounded, bound, _, kind in sorted(events):
        if kind == "introduced" and (not bounded or version >= bound):
            affected = True
        elif (kind == "fixed" and version >= bound) or (kind == "last_affected" and version > bound):
            affected = False
    return affected


def _sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    """Versions in PEP 440 order; any that are not PEP 440 go last, by text."""
    from packaging.version import Version

    floor = Version("0")

    def key(text: str) -> tuple[bool, Version, str]:
        parsed = parse_version(text)
        return (parsed is None, parsed or floor, text)

    return tuple(sorted(set(versions), key=key))


def _summary(record: dict[str, Any]) -> str:
    text = record.get("summary") or record.get("details") or ""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= _SUMMARY_WIDTH else line[: _SUMMARY_WIDTH - 1] + "…"


def _url(record: dict[str, Any]) -> str:
    references = _dicts(record.get("references"))
    for kind in ("ADVISORY", "WEB"):
        for reference in references:
            if reference.get("type") == kind and isinstance(reference.get("url"), str):
                return str(reference["url"])
    return f"https://osv.dev/vulnerability/{record['id']}"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
