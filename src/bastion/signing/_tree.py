"""The files a model is made of: a file, or every regular file below a directory, minus the ignored paths.

Symbolic links are followed only while they stay inside the model: a link out of it would sign bytes the model
does not hold (and let whoever controls the target change the model unnoticed), so it is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bastion.core import BastionError


@dataclass(frozen=True)
class ModelFile:
    """One regular file of a model."""

    name: str
    """Path below the model directory with ``/`` separators (``.`` for a single-file model)."""
    path: Path
    """Where to read it."""
    size: int
    """Size in bytes when listed."""


@dataclass(frozen=True)
class ModelTree:
    """The files of a model, as listed for hashing."""

    files: tuple[ModelFile, ...]
    """Every file to hash."""
    has_symlinks: bool
    """Whether a symbolic link (inside the model) was followed."""


def list_model_files(model: Path, ignored: tuple[str, ...]) -> ModelTree:
    """The regular files of ``model`` (a file or a directory), leaving out ``ignored`` paths below a directory."""
    try:
        info = model.stat()
    except FileNotFoundError:
        raise BastionError(f"{model}: no such file or directory") from None
    except OSError as exc:
        raise BastionError(f"{model}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISREG(info.st_mode):
        return ModelTree((ModelFile(".", model, info.st_size),), has_symlinks=model.is_symlink())
    if not stat.S_ISDIR(info.st_mode):
        raise BastionError(f"{model}: not a regular file or directory; sign a model file or directory")
    walker = _Walker(model, tuple(PurePosixPath(p).parts for p in ignored))
    walker.walk(model, (), {(info.st_dev, info.st_ino)})
    return ModelTree(tuple(walker.files), walker.has_symlinks)


class _Walker:
    def __init__(self, root: Path, ignored: tuple[tuple[str, ...], ...]) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.ignored = ignored
        self.files: list[ModelFile] = []
        self.has_symlinks = False

    def walk(self, directory: Path, parts: tuple[str, ...], ancestors: set[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise BastionError(f"{directory}: cannot list the directory: {exc.strerror or exc}; fix its permissions") from None
        for entry in entries:
            entry_parts = (*parts, entry.name)
            if any(entry_parts[: len(ignored)] == ignored for ignored in self.ignored):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                self._check_inside(path)
                self.has_symlinks = True
            try:
                info = entry.stat()  # follows a link (already known to stay inside)
            except FileNotFoundError:
                raise BastionError(f"{path}: broken symbolic link; remove it or restore its target") from None
            except OSError as exc:
                raise BastionError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if stat.S_ISDIR(info.st_mode):
                identity = (info.st_dev, info.st_ino)
                if identity in ancestors:
                    raise BastionError(f"{path}: symbolic link loop; remove the link")
                self.walk(path, entry_parts, ancestors | {identity})
            elif stat.S_ISREG(info.st_mode):
                self.files.append(ModelFile("/".join(entry_parts), path, info.st_size))
            else:
                raise BastionError(f"{path}: not a regular file (a pipe, socket or device); remove it from the model")

    def _check_inside(self, link: Path) -> None:
        target = Path(os.path.realpath(link))
        if target != self.real_root and self.real_root not in target.parents:
            raise BastionError(
                f"{link}: symbolic link to {target}, outside {self.root}; copy the file into the model or remove the link"
            )
