"""Package layers: reproducible tars of a Kitfile entry's files, and their safe extraction.

A layer is a plain (uncompressed) tar, as ``kit pack`` writes by default, whose member names are paths below the
package directory (``model/weights.safetensors``). Its bytes depend only on the files' names, contents and executable
bits: members are sorted, owners are root, times are zero and modes are 0644 or 0755, so the same inputs give the
same digest wherever and whenever they are packed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from bastion.core import BastionError
from bastion.signing._tree import ModelTree, list_model_files
from bastion.signing.manifest import DEFAULT_IGNORED

if TYPE_CHECKING:
    import tarfile

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """Content written to a package's blob directory."""

    digest: str
    """``sha256:<hex>`` of the bytes."""
    size: int
    """Length in bytes."""


def entry_ignores(path: str, all_paths: Iterable[str]) -> tuple[str, ...]:
    """The paths below entry ``path`` that its layer leaves out: git metadata, and other entries nested in it (each file
    goes in the most specific entry's layer, as ``kit pack`` does)."""
    if path == ".":
        nested = [other for other in all_paths if other != "."]
    else:
        nested = [other[len(path) + 1 :] for other in all_paths if other.startswith(path + "/")]
    return (*DEFAULT_IGNORED, *sorted(nested))


def list_entry_files(root: Path, path: str, ignored: tuple[str, ...]) -> ModelTree:
    """The regular files of entry ``path`` below the package directory ``root``; links leading out of ``root`` are
    refused, as are pipes, sockets and devices."""
    target = root / path
    real_root, real_target = root.resolve(), target.resolve()
    if real_target != real_root and real_root not in real_target.parents:
        raise BastionError(f"{target}: symbolic link to {real_target}, outside {root}; copy the files in or remove the link")
    return list_model_files(target, ignored)


def write_layer(blobs: Path, path: str, tree: ModelTree) -> Blob:
    """Write the reproducible tar of entry ``path`` (its files listed in ``tree``) into ``blobs``, named by digest."""
    import tarfile

    temporary = blobs / f".layer-{os.getpid()}.tmp"
    with temporary.open("wb") as raw:
        sink = _HashingWriter(raw)
        with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK) as tar:  # type: ignore[call-overload]
            for name, file in _members(path, tree):
                if file is None:
                    tar.addfile(_info(name, tarfile.DIRTYPE, 0o755, 0))
                    continue
                try:
                    handle = file.open("rb")
                except OSError as exc:
                    raise BastionError(f"{file}: cannot read: {exc.strerror or exc}") from None
                with handle:
                    info = os.fstat(handle.fileno())
                    mode = 0o755 if info.st_mode & stat.S_IXUSR else 0o644
                    # Write errors (a full disk) propagate as OSError; read errors name the file being read.
                    tar.addfile(_info(name, tarfile.REGTYPE, mode, info.st_size), _SourceReader(file, handle, info.st_size))
        raw.flush()
        os.fsync(raw.fileno())
    blob = Blob(f"sha256:{sink.hasher.hexdigest()}", sink.size)
    os.replace(temporary, blobs / blob.digest.removeprefix("sha256:"))
    return blob


def extract_layer(blob: Path, expected: Blob, path: str, destination: Path) -> None:
    """Extract the layer ``blob`` of entry ``path`` into ``destination``, checking its digest.

    Only files and directories at or below ``path`` are written (no links, devices, absolute names or ``..``), each
    created anew, so a crafted layer cannot write outside ``destination`` or over another entry's files. The caller
    extracts into a fresh directory and discards it on error (a bad digest is only known at the end).
    """
    import tarfile

    try:
        handle = blob.open("rb")
    except OSError as exc:
        raise BastionError(f"{blob}: cannot read the layer: {exc.strerror or exc}") from None
    with handle:
        source = _HashingReader(handle)
        try:
            with tarfile.open(fileobj=source, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    name = _member_path(blob, member, path)
                    target = destination.joinpath(*name.parts)
                    if member.isdir():
                        _make_directories(destination, name.parts)
                    elif member.isreg():
                        _make_directories(destination, name.parts[:-1])
                        _write_member(blob, tar, member, target)
                    else:
                        raise BastionError(
                            f"{blob}: member {member.name!r} is a link or special file; a package holds only files and "
                            "directories, so this one was crafted: do not use it"
                        )
        except tarfile.TarError as exc:
            raise BastionError(f"{blob}: not a valid tar layer ({exc}); the package is damaged") from None
        while source.read(_CHUNK):
            pass  # the tar's end-of-archive padding is part of the digest
    actual = Blob(f"sha256:{source.hasher.hexdigest()}", source.size)
    if actual != expected:
        raise BastionError(
            f"{blob}: digest {actual.digest} differs from the manifest's {expected.digest}; the package was altered"
        )


def _members(path: str, tree: ModelTree) -> list[tuple[str, Path | None]]:
    """Member names in archive order (each directory before what it holds), with the file to read (None: a directory)."""
    prefix = PurePosixPath(path)
    members: dict[str, Path | None] = {}
    for file in tree.files:
        name = prefix if file.name == "." else prefix / file.name
        for parent in reversed(name.parents):
            if parent != PurePosixPath("."):
                members.setdefault(parent.as_posix(), None)
        members[name.as_posix()] = file.path
    return sorted(members.items(), key=lambda item: PurePosixPath(item[0]).parts)


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    import tarfile

    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def _member_path(blob: Path, info: tarfile.TarInfo, path: str) -> PurePosixPath:
    name = info.name
    member = PurePosixPath(name)
    if not name or member.is_absolute() or ".." in member.parts or "\\" in name:
        raise BastionError(f"{blob}: member {name!r} would be written outside the target directory; do not use this package")
    entry = PurePosixPath(path)
    leading_directory = info.isdir() and member in entry.parents
    inside_entry = path == "." or member == entry or entry in member.parents or leading_directory
    if not inside_entry or member == PurePosixPath("."):
        raise BastionError(f"{blob}: member {name!r} lies outside the layer's path {path!r}; do not use this package")
    return member


def _make_directories(destination: Path, parts: tuple[str, ...]) -> None:
    # Bastion creates no links while extracting, so walking down directories it made cannot leave ``destination``.
    current = destination
    for part in parts:
        current = current / part
        try:
            current.mkdir(mode=0o755)
        except FileExistsError:
            if not current.is_dir() or current.is_symlink():
                raise BastionError(f"{current}: both a file and a directory in the package; it is damaged") from None


def _write_member(blob: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    assert source is not None  # a regular member always has content
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if member.mode & 0o100 else 0o644)
    except FileExistsError:
        raise BastionError(f"{blob}: {member.name!r} is written twice in the package; it is damaged") from None
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


class _SourceReader:
    """A file being packed: read errors, and a file shrinking under the packer, are the user's to fix."""

    def __init__(self, path: Path, raw: BinaryIO, size: int) -> None:
        self.path, self.raw, self.left = path, raw, size

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except OSError as exc:
            raise BastionError(f"{self.path}: read failed: {exc.strerror or exc}") from None
        if not data and self.left > 0:
            raise BastionError(f"{self.path}: shrank while being packed; pack again once nothing writes to it")
        self.left -= len(data)
        return data


class _HashingWriter:
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.hasher, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()


class _HashingReader:
    """A read-only stream that hashes and counts what is read from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.hasher, self.size = raw, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hasher.update(data)
        self.size += len(data)
        return data
