"""A Kitfile for a directory that has none: each top-level file or directory becomes one entry, by what it holds.

A file's kind is decided from its content (``bastion.scanners.detect``): an entry holding a model file is the model
(the largest such entry; any others become model parts), else one holding a dataset is a dataset, else one holding
only documentation (README, LICENSE, Markdown, …) is docs, and anything else is code. Hidden entries (``.git``,
``.env``, …) are left out, as is the directory's own Kitfile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bastion.core import BastionError, Kind
from bastion.signing._layers import list_entry_files
from bastion.signing.kitfile import KITFILE_NAMES, Code, DataSet, Docs, Kitfile, Model, ModelPart, Package
from bastion.signing.manifest import DEFAULT_IGNORED

_DOC_STEMS = frozenset({"README", "LICENSE", "LICENCE", "NOTICE", "CHANGELOG", "AUTHORS", "MODEL_CARD", "MODELCARD"})
_DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".adoc", ".pdf", ".html", ".htm"})


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: Kind | None  # None: documentation
    size: int
    model_format: str | None  # the format of the entry's largest model file


def generate_kitfile(directory: Path) -> Kitfile:
    """A Kitfile packing every top-level (non-hidden) file and directory of ``directory``."""
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError as exc:
        raise BastionError(f"{directory}: cannot list the directory: {exc.strerror or exc}") from None
    entries = [
        entry
        for name in names
        if not name.startswith(".") and name not in KITFILE_NAMES
        if (entry := _classify(directory, name)) is not None
    ]
    if not entries:
        raise BastionError(f"{directory}: nothing to package (no files, hidden ones aside); add the model and its files")
    models = sorted((e for e in entries if e.kind is Kind.MODEL), key=lambda e: (-e.size, e.path))
    name = directory.resolve().name or "model"
    model = None
    if models:
        main, *parts = models
        model = Model(
            name=name, path=main.path, format=main.model_format, parts=tuple(ModelPart(name=p.path, path=p.path) for p in parts)
        )
    return Kitfile(
        package=Package(name=name),
        model=model,
        code=tuple(Code(path=e.path) for e in entries if e.kind not in (Kind.MODEL, Kind.DATASET, None)),
        datasets=tuple(DataSet(name=Path(e.path).stem, path=e.path) for e in entries if e.kind is Kind.DATASET),
        docs=tuple(Docs(path=e.path) for e in entries if e.kind is None),
    )


def _classify(directory: Path, name: str) -> _Entry | None:
    """What the top-level entry ``name`` holds; None when it holds no file."""
    tree = list_entry_files(directory, name, DEFAULT_IGNORED)
    if not tree.files:
        return None
    kinds: set[Kind | None] = set()
    largest_model: tuple[int, str | None] = (-1, None)
    for file in tree.files:
        kind, file_format = _kind_of(file.path)
        kinds.add(kind)
        if kind is Kind.MODEL and file.size > largest_model[0]:
            largest_model = (file.size, file_format)
    if Kind.MODEL in kinds:
        entry_kind: Kind | None = Kind.MODEL
    elif Kind.DATASET in kinds:
        entry_kind = Kind.DATASET
    elif kinds == {None}:
        entry_kind = None
    else:
        entry_kind = Kind.CODE
    return _Entry(name, entry_kind, sum(file.size for file in tree.files), largest_model[1])


def _kind_of(path: Path) -> tuple[Kind | None, str | None]:
    """A file's kind and format from its content; None for documentation (by name, among text files)."""
    from bastion.scanners.detect import HEAD_SIZE, detect

    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_SIZE)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise BastionError(f"{path}: cannot read: {exc.strerror or exc}; give the user read access or remove the file") from None
    detection = detect(path, head, size)
    if detection.kind in (Kind.MODEL, Kind.DATASET, Kind.NOTEBOOK, Kind.DEPENDENCIES):
        return detection.kind, detection.format
    if path.stem.upper() in _DOC_STEMS or path.suffix.lower() in _DOC_SUFFIXES:
        return None, None
    return detection.kind, detection.format
