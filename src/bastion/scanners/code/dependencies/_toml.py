"""Shared reading of TOML manifests: decoding, and finding the line an entry was written on."""

from __future__ import annotations

import re
from typing import Any

from bastion.scanners.code.dependencies.interface import ManifestError


def load_toml(data: bytes, path: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its text; ``ManifestError`` says what is wrong in one line."""
    import tomllib

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start}); save {path} as UTF-8") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"not valid TOML: {exc}; fix {path}") from None
    except RecursionError:
        raise ManifestError(f"not valid TOML: nested too deeply; fix {path}") from None


def table(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The nested table at ``keys``, or an empty one; a value of the wrong type is a ``ManifestError``."""
    node: Any = document
    for depth, key in enumerate(keys):
        node = node.get(key, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ManifestError(f"[{'.'.join(keys[: depth + 1])}] must be a table")
    result: dict[str, Any] = node
    return result


def subtable(value: Any) -> dict[str, Any]:
    """``value`` when it is a table, else an empty one (optional inline tables such as ``source``)."""
    return value if isinstance(value, dict) else {}


def string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(f"{where} must be a list of strings")
    return value


class LineFinder:
    """The 1-based line where a string or a key first appears at or after a given line (TOML keeps no positions)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def of_string(self, value: str) -> int | None:
        for quote in ('"', "'"):
            needle = f"{quote}{value}{quote}"
            for number, line in enumerate(self._lines, 1):
                if needle in line:
                    return number
        return None

    def of_table(self, header: str) -> int:
        """The 0-based index of the line after ``[header]``, or 0 when the table has no header of its own."""
        for number, line in enumerate(self._lines, 1):
            if line.strip().replace(" ", "") == f"[{header}]":
                return number
        return 0

    def of_key(self, key: str, *, after: int = 0) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.I)
        for number in range(after, len(self._lines)):
            if pattern.match(self._lines[number]):
                return number + 1
        return None

    def package_lines(self) -> list[int]:
        """The line of each ``[[package]]`` header, in order (lock files)."""
        return [number for number, line in enumerate(self._lines, 1) if line.strip() == "[[package]]"]
