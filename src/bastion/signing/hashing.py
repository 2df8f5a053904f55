"""The manifest of a model: SHA-256 of every file (or of every shard of every file), hashed on all cores at once.

hashlib releases the GIL while it hashes a buffer, so plain threads keep every core busy; the largest pieces go
first so that no core is left alone with a big one at the end. A single file is one sequential SHA-256, so with
the ``files`` method one big file keeps one core busy; the ``shards`` method cuts files into slices that hash in
parallel. ``start_hashing`` returns while the threads work, so that the caller's own start-up (``sign_model`` loads
the key, and the cryptography library with it) runs beside them instead of leaving a core idle.

Files are hashed through memory maps, a window at a time: hashlib reads the page cache in place, where ``read``
would first copy every byte into a buffer (a tenth of the CPU time of hashing, more with both cores copying).
Files that cannot be mapped (sysfs, some FUSE and network file systems) are read instead. A file truncated by
another process while it is mapped ends the process with SIGBUS: no signature is written, and verification fails.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bastion.core import BastionError
from bastion.signing._tree import list_model_files
from bastion.signing.manifest import DEFAULT_IGNORED, Manifest, Resource, Serialization

_CHUNK = 1 << 20  # big enough that the Python loop costs nothing, small enough to stay in the CPU's cache
_WINDOW = 16 << 20  # mapped at a time: each unmap interrupts the other core (TLB flush); mapped pages count in RSS
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux: map a window's pages in one call, not one fault at a time


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
    with start_hashing(model, ignore_paths=ignore_paths, exclude=exclude, shard_size=shard_size) as hashing:
        return hashing.manifest()


def start_hashing(
    model: Path,
    *,
    ignore_paths: Iterable[str] = DEFAULT_IGNORED,
    exclude: Path | None = None,
    shard_size: int | None = None,
) -> PendingManifest:
    """List the files of ``model`` and start hashing them on worker threads (arguments as for ``hash_model``).

    Listing errors (a missing model, a symbolic link out of it) are raised here; ``manifest()`` on the result waits
    for the digests.
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
    model_name = model.name if model.name not in ("", "..") else model.resolve().name
    return PendingManifest(model_name, serialization, pieces)


class PendingManifest:
    """A model's files being hashed on worker threads, as ``start_hashing`` started them.

    Used as a context manager: leaving the block, on an error too, cancels what has not started yet.
    """

    def __init__(self, model_name: str, serialization: Serialization, pieces: list[_Piece]) -> None:
        # Plain threads, not concurrent.futures: importing it (and logging behind it) costs `bastion sign` ~20 ms.
        import threading

        self._model_name = model_name
        self._serialization = serialization
        self._pieces = sorted(pieces, key=lambda piece: piece.size, reverse=True)
        self._digests: dict[int, str] = {}
        self._failures: list[BaseException] = []
        self._cancelled = False
        self._order = iter(range(len(self._pieces)))
        self._lock = threading.Lock()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(len(self._pieces), cores)
        self._threads = [threading.Thread(target=self._work, name=f"bastion-hash-{n}", daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def manifest(self) -> Manifest:
        """Wait for every digest; the manifest, or the first error a worker met (an unreadable file)."""
        for thread in self._threads:
            thread.join()
        if self._failures:
            raise self._failures[0]
        resources = [Resource(piece.name, self._digests[index]) for index, piece in enumerate(self._pieces)]
        return Manifest(
            model_name=self._model_name,
            resources=tuple(sorted(resources, key=lambda resource: self._serialization.order(resource.name))),
            serialization=self._serialization,
        )

    def cancel(self) -> None:
        """Hash no further piece. Pieces being hashed finish in the background: waiting for a big file would hold
        back the error that made the caller give up."""
        self._cancelled = True

    def __enter__(self) -> PendingManifest:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.cancel()

    def _work(self) -> None:
        # One unreadable file fails the whole manifest: the other threads stop too.
        while not self._failures and not self._cancelled:
            with self._lock:
                index = next(self._order, None)
            if index is None:
                return
            piece = self._pieces[index]
            try:
                self._digests[index] = hash_file(piece.path, piece.start, piece.end)
            except BaseException as exc:
                self._failures.append(exc)


def hash_file(path: Path, start: int = 0, end: int | None = None) -> str:
    """Hex SHA-256 of bytes ``start`` to ``end`` (excluded; None: to the end) of the file at ``path``."""
    hasher = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}; give the user read access or remove the file") from None
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, start, 0 if end is None else end - start, os.POSIX_FADV_SEQUENTIAL)
        size = os.fstat(fd).st_size
        if not _hash_mapped(fd, hasher, start, size if end is None else min(end, size)):
            _hash_read(fd, hasher, start, end)
    except OSError as exc:
        raise BastionError(f"{path}: read failed: {exc.strerror or exc}") from None
    except ValueError:  # mmap found the file shorter than fstat did a moment before
        raise BastionError(f"{path}: the file shrank while it was hashed; sign or verify it once nothing writes to it") from None
    finally:
        os.close(fd)
    return hasher.hexdigest()


def _hash_mapped(fd: int, hasher: hashlib._Hash, start: int, stop: int) -> bool:
    """Hash bytes ``start`` to ``stop`` of ``fd`` through memory maps; False when the file cannot be mapped.

    Files of size 0 are left to ``_hash_read``: procfs files say 0 and still hold bytes.
    """
    if stop <= 0:
        return False
    offset = start - start % mmap.ALLOCATIONGRANULARITY  # a map starts on a page boundary
    mapped = False
    while offset < stop:
        length = min(_WINDOW, stop - offset)
        try:
            window = mmap.mmap(fd, length, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ, offset=offset)
        except OSError:
            if mapped:
                raise
            return False  # this file system does not map files; nothing is hashed yet
        mapped = True
        with window, memoryview(window) as view:
            hasher.update(view[max(start - offset, 0) :])
        offset += length
    return True


def _hash_read(fd: int, hasher: hashlib._Hash, start: int, end: int | None) -> None:
    """Hash bytes ``start`` to ``end`` (None: to the end of the file) of ``fd`` with ``read`` into one buffer."""
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    os.lseek(fd, start, os.SEEK_SET)
    left = -1 if end is None else end - start
    while left:
        read = os.readv(fd, [view if left < 0 or left >= _CHUNK else view[:left]])
        if not read:
            break  # the file shrank since it was listed: the digest says so
        hasher.update(view[:read])
        left = left - read if left > 0 else left


def _relative_inside(path: Path, model: Path) -> str | None:
    """``path`` relative to the model directory, with ``/`` separators, or None when it is not below it."""
    if not model.is_dir():
        return None
    try:
        relative = path.resolve().relative_to(model.resolve())
    except ValueError:
        return None
    return relative.as_posix()
