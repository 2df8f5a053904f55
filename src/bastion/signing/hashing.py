"""The manifest of a model: SHA-256 of every file (or of every shard of every file), hashed on all cores at once.

hashlib releases the GIL while it hashes a buffer, so plain threads keep every core busy; the largest pieces go
first so that no core is left alone with a big one at the end. A single file is one sequential SHA-256, so with
the ``files`` method one big file keeps one core busy; the ``shards`` method cuts files into slices that hash in
parallel.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bastion.core import BastionError
from bastion.signing._tree import list_model_files
from bastion.signing.manifest import DEFAULT_IGNORED, Manifest, Resource, Serialization

_CHUNK = 1 << 20  # big enough that the Python loop costs nothing, small enough to stay in the CPU's cache


@dataclass(frozen=True)
class _Piece:
    """A byte range of one file to hash: the whole file, or one shard."""

    name: str
    path: Path
    start: int
    end: int | None  # None: to the end of the file
    size: int  # bytes, as listed: the largest pieces are hashed first


def hash_model(
    model: Path,
    *,
    ignore_paths: Iterable[str] = DEFAULT_IGNORED,
    exclude: Path | None = None,
    shard_size: int | None = None,
) -> Manifest:
    """The manifest of ``model`` (a file or directory), without ``ignore_paths`` and the file ``exclude``.

    ``exclude`` is the signature file: when it lies inside the model directory it joins the ignored paths (and is
    recorded there, so that other verifiers skip it too). With ``shard_size``, files are hashed in slices of that
    many bytes (the OMS ``shards`` method; empty files then have no resource, as in ``model_signing``).
    """
    if shard_size is not None and shard_size <= 0:
        raise BastionError(f"shard size {shard_size}: give a positive number of bytes")
    ignored = set(ignore_paths)
    inside = _relative_inside(exclude, model) if exclude is not None else None
    if inside is not None:
        ignored.add(inside)
    serialization_ignored = tuple(sorted(ignored))
    tree = list_model_files(model, serialization_ignored)
    serialization = Serialization(ignore_paths=serialization_ignored, allow_symlinks=tree.has_symlinks, shard_size=shard_size)
    if shard_size is None:
        pieces = [_Piece(file.name, file.path, 0, None, file.size) for file in tree.files]
    else:
        pieces = [
            _Piece(f"{file.name}:{start}:{end}", file.path, start, end, end - start)
            for file in tree.files
            for start in range(0, file.size, shard_size)
            for end in (min(start + shard_size, file.size),)
        ]
    resources = _hash_all(pieces)
    return Manifest(
        model_name=model.name if model.name not in ("", "..") else model.resolve().name,
        resources=tuple(sorted(resources, key=lambda resource: serialization.order(resource.name))),
        serialization=serialization,
    )


def hash_file(path: Path, start: int = 0, end: int | None = None) -> str:
    """Hex SHA-256 of bytes ``start`` to ``end`` (excluded; None: to the end) of the file at ``path``."""
    hasher = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}; give the user read access or remove the file") from None
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, start, 0 if end is None else end - start, os.POSIX_FADV_SEQUENTIAL)
        os.lseek(fd, start, os.SEEK_SET)
        left = -1 if end is None else end - start
        while left:
            read = os.readv(fd, [view if left < 0 or left >= _CHUNK else view[:left]])
            if not read:
                break  # the file shrank since it was listed: the digest says so
            hasher.update(view[:read])
            left = left - read if left > 0 else left
    except OSError as exc:
        raise BastionError(f"{path}: read failed: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return hasher.hexdigest()


def _hash_all(pieces: list[_Piece]) -> list[Resource]:
    largest_first = sorted(pieces, key=lambda piece: piece.size, reverse=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(len(largest_first), cores)
    if workers <= 1:
        return [Resource(piece.name, hash_file(piece.path, piece.start, piece.end)) for piece in largest_first]
    # Plain threads, not concurrent.futures: importing it (and logging behind it) costs `bastion sign` ~20 ms.
    import threading

    digests: dict[int, str] = {}
    failures: list[BaseException] = []
    order = iter(range(len(largest_first)))
    lock = threading.Lock()

    def work() -> None:
        while not failures:  # one unreadable file fails the whole manifest: the other threads stop too
            with lock:
                index = next(order, None)
            if index is None:
                return
            piece = largest_first[index]
            try:
                digests[index] = hash_file(piece.path, piece.start, piece.end)
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=work, name=f"bastion-hash-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return [Resource(piece.name, digests[index]) for index, piece in enumerate(largest_first)]


def _relative_inside(path: Path, model: Path) -> str | None:
    """``path`` relative to the model directory, with ``/`` separators, or None when it is not below it."""
    if not model.is_dir():
        return None
    try:
        relative = path.resolve().relative_to(model.resolve())
    except ValueError:
        return None
    return relative.as_posix()
