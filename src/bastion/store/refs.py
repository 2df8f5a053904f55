"""Named references: ``datasets/patients`` → a blob's digest, with every earlier target kept.

A reference is an append-only list of versions. Version N of ``NAME`` is one small JSON document,
``refs/<NAME, percent-encoded>/<N, 8 digits>.json``, created exclusively: versions are never
rewritten or removed, so ``NAME@v3`` means the same digest for ever and the history is complete.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from bastion.store import _fs
from bastion.store.errors import StoreError

FORMAT = "bastion-ref/1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_SPEC = re.compile(r"(?P<name>[^@]+)(@v(?P<version>[1-9][0-9]{0,7}))?")
_ATTEMPTS = 20


@dataclass(frozen=True)
class Ref:
    """One version of a named reference."""

    name: str
    """The reference's name, e.g. ``datasets/patients``."""
    version: int
    """1 for the first target, then one more for each retarget."""
    digest: str
    """The blob it points at, ``sha256:<hex>``."""
    created: str
    """When this version was recorded, UTC, ISO 8601."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "digest": self.digest, "created": self.created}


def check_ref_name(name: str) -> None:
    if len(name) > 200 or not _NAME.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        raise StoreError(
            f"{name!r} is not a valid reference name: parts of letters, digits, '.', '_' or '-' separated by '/', "
            "e.g. datasets/patients"
        )


def parse_ref_spec(spec: str) -> tuple[str, int | None]:
    """``NAME`` → (NAME, None) for the latest version; ``NAME@vN`` → (NAME, N)."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise StoreError(f"{spec!r} is not a reference: write NAME or NAME@vN, e.g. datasets/patients@v3")
    check_ref_name(match["name"])
    return match["name"], int(match["version"]) if match["version"] else None


class RefLog:
    """The references of one store."""

    def __init__(self, fs: Any, root: str) -> None:
        self._fs = fs
        self._root = f"{root}/refs"

    def history(self, name: str) -> list[Ref]:
        """Every version of ``name``, oldest first; empty if there is no such reference."""
        check_ref_name(name)
        directory = self._directory(name)
        try:
            paths = sorted(self._fs.ls(directory, detail=False, refresh=True))
        except FileNotFoundError:
            return []
        return [self._read(path) for path in paths if path.endswith(".json")]

    def get(self, name: str, version: int | None = None) -> Ref:
        versions = self.history(name)
        if not versions:
            raise StoreError(f"no reference named {name!r}; see `bastion store refs`")
        if version is None:
            return versions[-1]
        if version > len(versions):
            raise StoreError(f"reference {name!r} has no version {version}; its latest is v{len(versions)}")
        return versions[version - 1]

    def names(self) -> list[str]:
        try:
            entries = self._fs.ls(self._root, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(unquote(entry.rstrip("/").rsplit("/", 1)[-1]) for entry in entries)

    def append(self, name: str, digest: str) -> Ref:
        """Point ``name`` at ``digest`` as a new version; nothing changes when it already points there."""
        check_ref_name(name)
        for _ in range(_ATTEMPTS):
            versions = self.history(name)
            if versions and versions[-1].digest == digest:
                return versions[-1]
            created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ref = Ref(name, len(versions) + 1, digest, created)
            document = json.dumps({"format": FORMAT, **ref.to_dict()}, indent=2) + "\n"
            if _fs.write_document(self._fs, self._path(name, ref.version), document.encode("utf-8"), exclusive=True):
                return ref
            # Another writer took this version number first; read the history again and take the next one.
        raise StoreError(f"reference {name!r} is being changed by many writers at once; try again")

    def _directory(self, name: str) -> str:
        return f"{self._root}/{quote(name, safe='')}"

    def _path(self, name: str, version: int) -> str:
        return f"{self._directory(name)}/{version:08d}.json"

    def _read(self, path: str) -> Ref:
        try:
            document = json.loads(self._fs.cat_file(path))
            if document.get("format") != FORMAT:
                raise ValueError(f"expected format {FORMAT!r}")
            return Ref(str(document["name"]), int(document["version"]), str(document["digest"]), str(document["created"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{path}: damaged reference ({exc}); restore it from a copy") from None
