"""Step results by fingerprint, and step outputs in and out of the store.

A fingerprint is the SHA-256 of everything that decides a step's result: its name and version, its params,
the digests of the project files it reads, of the upstream outputs and of the rest of the upstream results
(findings, metrics, details), and Bastion's version. An upstream step that reran with the same result does
not make its downstream steps rerun. The
cache maps it to the recorded result (``BASTION_HOME/cache/<2 hex>/<fingerprint>.json``, written once the
outputs are in the store), so a rerun restores the outputs from the store instead of running the step.

A directory output is stored as its files plus a manifest blob (``bastion-tree/1``: relative path → digest);
the manifest's digest is the output's digest. A directory input is digested the same way without storing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bastion.core.atomic import atomic_write
from bastion.core.errors import BastionError

if TYPE_CHECKING:
    from bastion.store import Store

OutputKind = Literal["file", "directory"]
_ENTRY_FORMAT = "bastion-step-cache/1"
_TREE_FORMAT = "bastion-tree/1"
_SKIPPED_DIRECTORIES = frozenset({"__pycache__"})
"""Written by Python beside the project's code when it runs; not part of the project."""


@dataclass(frozen=True)
class StoredOutput:
    """One output of a step, as the store holds it."""

    digest: str
    """Hex SHA-256 of the file, or of the directory's manifest."""
    kind: OutputKind
    path: str
    """Its path relative to the step's workdir, where it is restored."""


@dataclass(frozen=True)
class CacheEntry:
    """A step's recorded result, by fingerprint."""

    step: str
    status: Literal["passed", "failed"]
    outputs: Mapping[str, StoredOutput]
    metrics: Mapping[str, float | None]
    findings: tuple[Mapping[str, Any], ...]
    details: Mapping[str, Any]
    message: str | None
    run: str
    """The run that computed it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _ENTRY_FORMAT,
            "step": self.step,
            "status": self.status,
            "outputs": {name: {"digest": o.digest, "kind": o.kind, "path": o.path} for name, o in self.outputs.items()},
            "metrics": dict(self.metrics),
            "findings": [dict(f) for f in self.findings],
            "details": dict(self.details),
            "message": self.message,
            "run": self.run,
        }


def fingerprint(
    step: str,
    version: int,
    params: Mapping[str, Any],
    inputs: Mapping[str, str],
    upstream: Mapping[str, str],
    results: Mapping[str, str],
) -> str:
    """``upstream``: digests of the upstream outputs; ``results``: digests of the rest of the upstream results
    (findings, metrics, details), which a step may read too."""
    from bastion import __version__

    key = {
        "step": step,
        "version": version,
        "params": params,
        "inputs": inputs,
        "upstream": upstream,
        "results": results,
        "bastion": __version__,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class StepCache:
    """The cache under ``BASTION_HOME/cache``; entries whose outputs left the store are misses."""

    def __init__(self, home: Path, store: Store) -> None:
        self._directory = home / "cache"
        self._store = store

    def lookup(self, key: str) -> CacheEntry | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _ENTRY_FORMAT:
                return None
            entry = CacheEntry(
                step=data["step"],
                status=data["status"],
                outputs={name: StoredOutput(**o) for name, o in data["outputs"].items()},
                metrics=data["metrics"],
                findings=tuple(data["findings"]),
                details=data["details"],
                message=data["message"],
                run=data["run"],
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # a damaged entry (JSON of another shape too) is recomputed and rewritten
        if not all(self._store.contains(o.digest) for o in entry.outputs.values()):
            return None
        return entry

    def save(self, key: str, entry: CacheEntry) -> None:
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(entry.to_dict(), sort_keys=True).encode("utf-8"), 0o600)

    def _path(self, key: str) -> Path:
        return self._directory / key[:2] / f"{key}.json"


def store_output(store: Store, workdir: Path, path: Path) -> StoredOutput:
    """Put a step's output file or directory into the store."""
    relative = _relative(workdir, path)
    if path.is_file():
        with path.open("rb") as handle:
            return StoredOutput(_hex(store.put(handle)), "file", relative)
    if path.is_dir():
        files = {}
        for name, file in _tree(path):
            with file.open("rb") as handle:
                files[name] = _hex(store.put(handle))
        return StoredOutput(_hex(store.put(_manifest(files))), "directory", relative)
    raise BastionError(f"{path}: the step named this output but did not write it")


def restore_output(store: Store, workdir: Path, output: StoredOutput) -> Path:
    """Write a stored output back below ``workdir`` (verified by the store) and return its path.

    The paths come from a cache entry and a manifest, files that may have been changed outside Bastion: one
    that would land outside ``workdir`` is refused rather than written.
    """
    target = workdir / _below(output.path, "output path")
    if output.kind == "file":
        target.parent.mkdir(parents=True, exist_ok=True)
        store.export(output.digest, target)
        return target
    manifest = json.loads(store.get(output.digest))
    for name, digest in manifest["files"].items():
        file = target / _below(name, "file name in the stored directory manifest")
        file.parent.mkdir(parents=True, exist_ok=True)
        store.export(digest, file)
    target.mkdir(parents=True, exist_ok=True)
    return target


def digest_path(path: Path) -> str:
    """Hex SHA-256 of a file, or of a directory's manifest (its files' relative paths and digests)."""
    if path.is_dir():
        return hashlib.sha256(_manifest({name: _file_digest(file) for name, file in _tree(path)})).hexdigest()
    return _file_digest(path)


def _file_digest(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _tree(directory: Path) -> Iterator[tuple[str, Path]]:
    for file in sorted(directory.rglob("*")):
        relative = file.relative_to(directory)
        if file.is_file() and not _SKIPPED_DIRECTORIES.intersection(relative.parts):
            yield relative.as_posix(), file


def _manifest(files: Mapping[str, str]) -> bytes:
    return json.dumps({"format": _TREE_FORMAT, "files": dict(sorted(files.items()))}, sort_keys=True).encode("utf-8")


def _relative(workdir: Path, path: Path) -> str:
    resolved = path.resolve()
    if not resolved.is_relative_to(workdir.resolve()):
        raise BastionError(f"{path}: a step output must be inside the step's workdir {workdir}")
    return resolved.relative_to(workdir.resolve()).as_posix()


def _below(relative: str, what: str) -> str:
    """``relative`` when it is a plain relative path that stays below the directory it is joined to."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise BastionError(
            f"cached {what} {relative!r} points outside the step's workdir; the cache was changed outside Bastion: "
            "run again with --no-cache"
        )
    return relative


def _hex(address: str) -> str:
    return address.removeprefix("sha256:")
