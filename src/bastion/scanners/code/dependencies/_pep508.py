"""Helpers over ``packaging``'s PEP 508 requirements: what pins one version, and its errors on one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

MAX_REQUIREMENT = 4096
"""Longest requirement text parsed (hashes excluded); packaging's parser slows down sharply on longer garbage."""


def parse_requirement(text: str) -> Requirement:
    """``packaging``'s ``Requirement``; ``InvalidRequirement`` also for text too long to be one."""
    from packaging.requirements import InvalidRequirement, Requirement

    if len(text) > MAX_REQUIREMENT:
        raise InvalidRequirement(f"longer than {MAX_REQUIREMENT} characters")
    return Requirement(text)


def pinned_version(specifier: SpecifierSet) -> str | None:
    """The single version ``specifier`` allows (``==1.2``, ``===1.2``), or None for a range or a wildcard."""
    specs = list(specifier)
    if len(specs) != 1:
        return None
    (spec,) = specs
    if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
        return spec.version
    return None


def one_line(error: Exception) -> str:
    """``packaging``'s parse errors draw a caret under the text on further lines; the first line says it all."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def excerpt(text: str, width: int = 80) -> str:
    """``text`` quoted, cut to ``width`` characters: messages stay one short line whatever the input."""
    return repr(text if len(text) <= width else text[: width - 1] + "…")
