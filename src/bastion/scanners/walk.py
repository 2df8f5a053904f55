"""Expanding the paths given on the command line into the files to scan."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from bastion.core import BastionError

SKIPPED_DIRECTORIES = frozenset({".git"})


class WalkEntry(NamedTuple):
    """A file found by the walk, or a problem met on the way."""

    path: Path
    """The path to open."""
    display: str
    """The path as given on the command line joined with the file's path below it."""
    error: str | None = None
    """Why the file cannot be read; the scan reports it as ``status: error``."""
    escapes_tree: str | None = None
    """For a symlink that leads out of the scanned tree: where it points (it is not followed)."""


def walk(paths: Iterable[str]) -> list[WalkEntry]:
    """The files below ``paths``, in a stable order; a missing path is a ``BastionError``."""
    entries: list[WalkEntry] = []
    seen: set[str] = set()
    for given in paths:
        root = Path(given)
        if not os.path.lexists(given):
            raise BastionError(f"{given}: no such file or directory; check the path")
        new = list(_walk_directory(given)) if root.is_dir() else [_file_entry(root, given, tree=None)]
        for entry in new:
            if entry.display not in seen:
                seen.add(entry.display)
                entries.append(entry)
    return entries


def _walk_directory(given: str) -> Iterator[WalkEntry]:
    root_real = os.path.realpath(given)
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(given, onerror=errors.append, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRECTORIES)
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                # A symlinked directory inside the tree is walked under its real name; one that
                # leads out of the tree is reported, never followed.
                dirnames.remove(name)
                target = os.path.realpath(full)
                if not _inside(target, root_real):
                    yield WalkEntry(Path(full), full, escapes_tree=target)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            yield _file_entry(Path(full), full, tree=root_real)
    for error in errors:
        display = error.filename if isinstance(error.filename, str) else given
        yield WalkEntry(Path(display), display, error=f"cannot read directory: {error.strerror or error}")


def _file_entry(path: Path, display: str, tree: str | None) -> WalkEntry:
    if tree is not None and path.is_symlink():
        target = os.path.realpath(path)
        if not _inside(target, tree):
            return WalkEntry(path, display, escapes_tree=target)
    try:
        info = path.stat()
    except FileNotFoundError:
        return WalkEntry(path, display, error="broken symlink; remove it or fix its target")
    except OSError as exc:
        return WalkEntry(path, display, error=f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return WalkEntry(path, display, error="not a regular file (device, socket or pipe); not read")
    if not os.access(path, os.R_OK):
        return WalkEntry(path, display, error="permission denied; make the file readable or leave it out")
    return WalkEntry(path, display)


def _inside(target: str, tree: str) -> bool:
    return target == tree or target.startswith(tree.rstrip(os.sep) + os.sep)
