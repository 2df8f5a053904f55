"""What a signature vouches for: every file (or slice of a file) of a model with its SHA-256, and how they were listed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

HASH_TYPE = "sha256"
"""The one digest algorithm Bastion writes and reads (OMS also allows BLAKE2 and BLAKE3)."""

DEFAULT_IGNORED = (".git", ".gitattributes", ".github", ".gitignore")
"""Paths left out of every signature, as the reference ``model_signing`` does: git metadata is not the model."""


@dataclass(frozen=True)
class Resource:
    """One file of the model (or one shard of a file) and its digest."""

    name: str
    """Path below the model directory, with ``/`` separators (``.`` when the model is a single file); for a shard,
    ``path:start:end`` (byte offsets, end excluded)."""
    digest: str
    """Lower-case hex SHA-256 of the file's (or shard's) bytes."""


@dataclass(frozen=True)
class Serialization:
    """How the model was turned into resources (OMS ``predicate.serialization``); a verifier lists files the same way."""

    ignore_paths: tuple[str, ...] = DEFAULT_IGNORED
    """Paths below the model directory that are not part of the model (git metadata, the signature file)."""
    allow_symlinks: bool = False
    """Whether the model holds symbolic links (to files inside it), hashed as the files they point to."""
    shard_size: int | None = None
    """None for the ``files`` method (one digest per file); else the ``shards`` method: one digest per slice of
    this many bytes, so that one big file is hashed on every core."""

    @property
    def method(self) -> str:
        """The OMS serialization method: ``files`` or ``shards``."""
        return "files" if self.shard_size is None else "shards"

    def file_of(self, resource_name: str) -> str:
        """The file a resource belongs to (a shard's name is ``path:start:end``)."""
        return resource_name if self.shard_size is None else resource_name.rsplit(":", 2)[0]

    def order(self, resource_name: str) -> tuple[tuple[str, ...], int, int]:
        """Sort key of a resource: path components (``a/b`` before ``a-c``), then shard offsets, as ``model_signing``."""
        if self.shard_size is None:
            return PurePosixPath(resource_name).parts, 0, 0
        path, start, end = resource_name.rsplit(":", 2)
        return PurePosixPath(path).parts, int(start), int(end)


@dataclass(frozen=True)
class Manifest:
    """A model's resources, in OMS order, and the serialization that produced them."""

    model_name: str
    """The model's file or directory name; informative only (renaming a model keeps its signature valid)."""
    resources: tuple[Resource, ...]
    """Every file (or shard), in ``Serialization.order``."""
    serialization: Serialization = field(default_factory=Serialization)
    """How the files were listed."""

    @property
    def root_digest(self) -> str:
        """SHA-256 over the resources' raw digests in order: the OMS subject digest, one name for the whole model."""
        hasher = hashlib.sha256()
        for resource in self.resources:
            hasher.update(bytes.fromhex(resource.digest))
        return hasher.hexdigest()


def file_order(name: str) -> tuple[str, ...]:
    """Sort key of a file name: by path components (``a/b`` before ``a-c``), as ``model_signing`` orders them."""
    return PurePosixPath(name).parts


@dataclass(frozen=True)
class ManifestDiff:
    """How a model on disk differs from the manifest it was signed with."""

    changed: tuple[str, ...]
    """Files whose bytes differ from the signed ones."""
    added: tuple[str, ...]
    """Files on disk that the signature does not cover."""
    missing: tuple[str, ...]
    """Signed files that are no longer there."""

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.missing)


def compare(signed: Manifest, actual: Manifest) -> ManifestDiff:
    """The files that changed, were added or went missing between ``signed`` and ``actual`` (shards grouped by file)."""
    expected, found = _by_file(signed), _by_file(actual)
    return ManifestDiff(
        changed=tuple(sorted((n for n in expected.keys() & found.keys() if expected[n] != found[n]), key=file_order)),
        added=tuple(sorted(found.keys() - expected.keys(), key=file_order)),
        missing=tuple(sorted(expected.keys() - found.keys(), key=file_order)),
    )


def _by_file(manifest: Manifest) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = {}
    for resource in manifest.resources:
        files.setdefault(manifest.serialization.file_of(resource.name), {})[resource.name] = resource.digest
    return files
