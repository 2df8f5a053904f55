"""The model-file scanner: picks the handler for each format, for files and for nested members."""

from __future__ import annotations

import contextlib
import importlib
import mmap
from collections.abc import Callable, Iterator
from typing import TypeAlias

from bastion.core import Finding, Kind
from bastion.scanners.detect import detect_bytes
from bastion.scanners.interface import Scanner, ScanTarget
from bastion.scanners.models.context import ModelContext

ModelBuffer: TypeAlias = bytes | mmap.mmap
"""A whole file or member: bytes in memory, or a read-only map of a file on disk."""

Handler: TypeAlias = Callable[[ModelBuffer, ModelContext], list[Finding]]
"""Scans one buffer of a given format; raises ``ScanError`` when it cannot finish."""

# format (as ``bastion.scanners.detect`` names it) -> (module, function); imported on first use
# so that a scan of one pickle does not pay for the ONNX or HDF5 code.
_HANDLERS: dict[str, tuple[str, str]] = {
    "pickle": ("bastion.scanners.models.pickle", "scan_pickle"),
    "pytorch-legacy": ("bastion.scanners.models.pickle", "scan_pickle"),
    "pickle-gzip": ("bastion.scanners.models.containers", "scan_compressed"),
    "pickle-bz2": ("bastion.scanners.models.containers", "scan_compressed"),
    "pickle-xz": ("bastion.scanners.models.containers", "scan_compressed"),
    "pickle-lzma": ("bastion.scanners.models.containers", "scan_compressed"),
    "pickle-zlib": ("bastion.scanners.models.containers", "scan_compressed"),
    "gzip": ("bastion.scanners.models.containers", "scan_compressed"),
    "bz2": ("bastion.scanners.models.containers", "scan_compressed"),
    "xz": ("bastion.scanners.models.containers", "scan_compressed"),
    "lz4": ("bastion.scanners.models.containers", "scan_compressed"),
    "tar-gzip": ("bastion.scanners.models.containers", "scan_compressed"),
    "tar-bz2": ("bastion.scanners.models.containers", "scan_compressed"),
    "tar-xz": ("bastion.scanners.models.containers", "scan_compressed"),
    "zip": ("bastion.scanners.models.containers", "scan_zip"),
    "pytorch-zip": ("bastion.scanners.models.containers", "scan_zip"),
    "numpy-npz": ("bastion.scanners.models.containers", "scan_zip"),
    "tar": ("bastion.scanners.models.containers", "scan_tar"),
    "pytorch-tar": ("bastion.scanners.models.containers", "scan_tar"),
    "numpy-npy": ("bastion.scanners.models.containers", "scan_npy"),
    "keras-v3": ("bastion.scanners.models.keras", "scan_keras_v3"),
    "hdf5": ("bastion.scanners.models.keras", "scan_hdf5"),
    "tf-savedmodel": ("bastion.scanners.models.savedmodel", "scan_savedmodel"),
    "keras-metadata": ("bastion.scanners.models.savedmodel", "scan_keras_metadata"),
    "onnx": ("bastion.scanners.models.onnx", "scan_onnx"),
    "gguf": ("bastion.scanners.models.gguf", "scan_gguf"),
    "safetensors": ("bastion.scanners.models.safetensors", "scan_safetensors"),
}


def handler_for(fmt: str | None) -> Handler | None:
    """The handler of a format, or None for formats that hold no model (text, images, ...)."""
    if fmt is None or fmt not in _HANDLERS:
        return None
    module, function = _HANDLERS[fmt]
    handler: Handler = getattr(importlib.import_module(module), function)
    return handler


def scan_member(data: bytes, name: str, ctx: ModelContext) -> list[Finding]:
    """Scan a member held in memory (already given its own context) by what its content is."""
    handler = handler_for(detect_bytes(data, name).format)
    return handler(data, ctx) if handler is not None else []


class ModelScanner(Scanner):
    """Model files and archives: pickles and everything that wraps them, Keras, SavedModel, ONNX, GGUF, safetensors."""

    name = "models"
    kinds = frozenset({Kind.MODEL, Kind.ARCHIVE})

    def scan(self, target: ScanTarget) -> list[Finding]:
        handler = handler_for(target.format)
        if handler is None:
            return []
        with _buffer(target) as data:
            return handler(data, ModelContext(target.display_path))


@contextlib.contextmanager
def _buffer(target: ScanTarget) -> Iterator[ModelBuffer]:
    """The file's bytes if the engine read them already; otherwise a map, so unread parts cost nothing."""
    if target.data is not None:
        yield target.data
        return
    with target.open() as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield view
