"""Keras models: the Keras 3 ``.keras`` zip and HDF5 files (Keras 2 ``.h5`` models, ``model.weights.h5``).

A ``.keras`` archive holds ``config.json`` (what Keras deserializes, checked by ``_keras_config``),
``metadata.json``, ``model.weights.h5`` and any assets; every other member is scanned by content, so a
pickle hidden among the assets is still found. An HDF5 file is read with h5py, lazily imported, and never
loaded by Keras: its ``model_config`` and ``training_config`` attributes are Keras configs; links and
storage that point at other files, and pickles stored in attributes or byte datasets, are reported.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bastion.core import Category, Finding, Severity
from bastion.scanners.detect import detect_bytes
from bastion.scanners.interface import ScanError
from bastion.scanners.models._isolate import run_isolated
from bastion.scanners.models._keras_config import check_config, parse_config
from bastion.scanners.models.context import LimitExceeded, ModelContext
from bastion.scanners.models.scanner import ModelBuffer, handler_for, scan_member

if TYPE_CHECKING:
    import h5py

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CONFIG_LIMIT = 64 * 1024 * 1024
_MAX_H5_OBJECTS = 1_000_000
_MAX_BLOB = 64 * 1024 * 1024
_READ_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_KERAS_CONFIGS = ("model_config", "training_config")
# libhdf5 and zipfile report damage through many exception types; each means the file was not fully read.
_READ_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError, OverflowError, EOFError, zlib.error)


class _Window(io.RawIOBase):
    """A read-only file over ``data[start:end]`` (bytes or a map), so zipfile and h5py read in place."""

    def __init__(self, data: ModelBuffer, start: int = 0, end: int | None = None) -> None:
        super().__init__()
        self._data, self._start = data, start
        self._end = len(data) if end is None else end
        self._pos = start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._end - self._pos))
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = max(self._start, base + offset)
        return self._pos - self._start

    def tell(self) -> int:
        return self._pos - self._start


def scan_keras_v3(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a Keras 3 ``.keras`` archive and in every member it holds."""
    try:
        archive = zipfile.ZipFile(_Window(data))
    except (zipfile.BadZipFile, *_READ_ERRORS) as exc:
        finding = ctx.finding("model.keras.malformed", Severity.MEDIUM, f"not a readable .keras archive: {exc}")
        raise ScanError(f"not a readable .keras archive: {exc}", findings=[finding]) from None
    findings: list[Finding] = []
    errors: list[str] = []
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        ctx.budget.add_members(len(infos), ctx)
        findings.extend(_archive_names(infos, ctx))
        for info in infos:
            try:
                findings.extend(_scan_archive_member(archive, data, info, ctx.child(info.filename)))
            except LimitExceeded as exc:
                raise ScanError(str(exc), findings=[*findings, *exc.findings], partial=True) from None
            except ScanError as exc:
                findings.extend(exc.findings)
                errors.append(f"{info.filename}: {exc}")
            except (zipfile.BadZipFile, NotImplementedError, *_READ_ERRORS) as exc:
                errors.append(f"{info.filename}: cannot read ({exc})")
    if errors:
        raise ScanError("; ".join(errors), findings=findings, partial=True)
    return findings


def _archive_names(infos: list[zipfile.ZipInfo], ctx: ModelContext) -> Iterator[Finding]:
    counts = Counter(info.filename for info in infos)
    for name, count in counts.items():
        if count > 1:
            yield ctx.finding(
                "model.keras.duplicate-member",
                Severity.MEDIUM,
                f"the archive holds {count} members called {name!r}; tools disagree on which one counts",
                category=Category.DATA_INTEGRITY,
            )
        parts = name.replace("\\", "/").split("/")
        if ".." in parts or name.startswith(("/", "\\")):
            yield ctx.finding(
                "model.keras.path-traversal",
                Severity.HIGH,
                f"member {name[:200]!r} would be extracted outside the model's directory",
                evidence=name[:200],
            )


def _scan_archive_member(archive: zipfile.ZipFile, data: ModelBuffer, info: zipfile.ZipInfo, ctx: ModelContext) -> list[Finding]:
    if info.filename == "config.json":
        return _scan_config_json(_read_member(archive, info, ctx, _CONFIG_LIMIT), ctx)
    stored = _stored_span(data, info)
    if stored is not None and data[stored[0] : stored[0] + len(HDF5_MAGIC)] == HDF5_MAGIC:
        return _scan_h5(_Window(data, *stored), ctx)  # weights are read in place, never copied
    content = _read_member(archive, info, ctx, ctx.budget.limits.max_decompressed)
    if content.startswith(HDF5_MAGIC):
        return _scan_h5(_Window(content), ctx)
    return scan_member(content, info.filename, ctx)


def _scan_config_json(raw: bytes, ctx: ModelContext) -> list[Finding]:
    try:
        config = parse_config(raw)
    except ValueError as exc:
        finding = ctx.finding(
            "model.keras.malformed", Severity.MEDIUM, f"config.json is not valid JSON ({exc}); Keras cannot load it"
        )
        raise ScanError(f"config.json is not JSON: {exc}", findings=[finding]) from None
    return check_config(config, ctx)


def _stored_span(data: ModelBuffer, info: zipfile.ZipInfo) -> tuple[int, int] | None:
    """Where an uncompressed member's bytes lie in the archive, from its local header."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    header = bytes(data[info.header_offset : info.header_offset + _LOCAL_HEADER.size])
    if len(header) < _LOCAL_HEADER.size:
        return None
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if signature != b"PK\x03\x04" or start + info.compress_size > len(data):
        return None
    return start, start + info.compress_size


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: ModelContext, limit: int) -> bytes:
    """A member's content, counted against the budget; a bomb or an oversized config stops the scan."""
    limits = ctx.budget.limits
    ceiling = max(limits.max_ratio * max(info.compress_size, 1), _READ_CHUNK)
    chunks: list[bytes] = []
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_READ_CHUNK):
            total += len(chunk)
            ctx.budget.add_decompressed(len(chunk), ctx)
            if total > ceiling and info.compress_type != zipfile.ZIP_STORED:
                raise LimitExceeded(ctx, f"member inflates more than {limits.max_ratio} times its compressed size")
            if total > limit:
                finding = ctx.finding(
                    "model.keras.malformed", Severity.MEDIUM, f"member is larger than {limit} bytes; not scanned"
                )
                raise ScanError(f"{info.filename} larger than {limit} bytes", findings=[finding], partial=True)
            chunks.append(chunk)
    return b"".join(chunks)


def scan_hdf5(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Findings in an HDF5 file: Keras configs in its attributes, external references, embedded pickles."""
    return _scan_h5(_Window(data), ctx)


def _scan_h5(source: _Window, ctx: ModelContext) -> list[Finding]:
    """The HDF5 walk, in a child process: libhdf5 crashes on damaged files (see ``_isolate``)."""
    import h5py  # noqa: F401 - imported before the fork, so that the child does not import

    return run_isolated(lambda: _walk_h5(source, ctx), ctx, "the HDF5 library", "model.hdf5")


def _walk_h5(source: _Window, ctx: ModelContext) -> list[Finding]:
    import h5py

    walk = _H5Walk(ctx)
    try:
        with h5py.File(source, "r") as h5:
            walk.run(h5)
    except (LimitExceeded, ScanError):
        raise
    except _READ_ERRORS as exc:
        finding = ctx.finding(
            "model.hdf5.malformed", Severity.MEDIUM, f"HDF5 structure is damaged ({exc}); the rest of the file was not scanned"
        )
        raise ScanError(f"cannot read HDF5: {exc}", findings=[*walk.findings, finding], partial=walk.objects > 0) from None
    if walk.errors:
        raise ScanError("; ".join(walk.errors), findings=walk.findings, partial=True)
    return walk.findings


class _H5Walk:
    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.errors: list[str] = []
        self.objects = 0

    def run(self, h5: h5py.File) -> None:
        for key in _KERAS_CONFIGS:
            if key in h5.attrs:
                self.keras_config(key, h5.attrs[key])
        self.attributes("/", h5)
        h5.visititems(self.visit)
        h5.visititems_links(self.link)

    def keras_config(self, key: str, value: Any) -> None:
        ctx = self.ctx.child(f"/@{key}")
        raw = value.tobytes() if hasattr(value, "tobytes") and not isinstance(value, str) else value
        if not isinstance(raw, bytes | str):
            return
        try:
            config = parse_config(raw)
        except ValueError as exc:
            self.findings.append(ctx.finding("model.keras.malformed", Severity.MEDIUM, f"{key} is not valid JSON ({exc})"))
            self.errors.append(f"{key} is not JSON")
            return
        self.findings.extend(check_config(config, ctx))

    def visit(self, name: str, obj: Any) -> None:
        import h5py

        self.objects += 1
        if self.objects > _MAX_H5_OBJECTS:
            raise LimitExceeded(self.ctx, f"more than {_MAX_H5_OBJECTS} objects in an HDF5 file")
        self.attributes(f"/{name}", obj)
        if isinstance(obj, h5py.Dataset):
            self.dataset(f"/{name}", obj)

    def link(self, name: str, link: Any) -> None:
        import h5py

        if isinstance(link, h5py.ExternalLink):
            self.external(f"/{name}", link.filename, f"links to {link.path!r} in another file")

    def dataset(self, path: str, ds: h5py.Dataset) -> None:
        external = ds.external
        if external:
            for filename, _offset, _size in external:
                self.external(path, filename, "stores its data in another file")
            return
        if ds.is_virtual:
            for source in ds.virtual_sources():
                if source.file_name != ".":
                    self.external(path, source.file_name, "is a virtual dataset over another file")
            return
        plist = ds.id.get_create_plist()
        if ds.dtype.kind in "SVO" and plist.get_nfilters() == 0 and ds.size * max(ds.dtype.itemsize, 1) <= _MAX_BLOB:
            for blob in _blobs(ds[()]):
                self.embedded(path, blob)

    def attributes(self, path: str, obj: Any) -> None:
        for key in obj.attrs:
            try:
                value = obj.attrs[key]
            except _READ_ERRORS:
                continue  # a type h5py cannot read is one no Python loader can read either
            for blob in _blobs(value):
                self.embedded(f"{path}@{key}", blob)

    def embedded(self, where: str, blob: bytes) -> None:
        """Bytes stored in the file that are themselves a model format (a pickle, most likely): scan them."""
        detection = detect_bytes(blob, where)
        if handler_for(detection.format) is None:
            return
        member = self.ctx.child(where)
        self.findings.append(
            member.finding(
                "model.hdf5.embedded-model",
                Severity.MEDIUM,
                f"{where} holds a {detection.format} blob, which a loader may deserialize",
                category=Category.UNSAFE_CODE,
            )
        )
        try:
            self.findings.extend(scan_member(blob, where, member))
        except LimitExceeded:
            raise
        except ScanError as exc:
            self.findings.extend(exc.findings)
            self.errors.append(f"{where}: {exc}")

    def external(self, where: str, filename: str | bytes, what: str) -> None:
        name = filename.decode("utf-8", "replace") if isinstance(filename, bytes) else str(filename)
        parts = name.replace("\\", "/").split("/")
        escapes = name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")
        self.findings.append(
            self.ctx.child(where).finding(
                "model.hdf5.external-reference",
                Severity.HIGH if escapes else Severity.MEDIUM,
                f"{where} {what}: {name[:200]!r}; loading the model reads that file",
                evidence=name[:200],
            )
        )


def _blobs(value: Any) -> Iterator[bytes]:
    """The byte strings in an attribute or dataset value (bytes, opaque, or arrays of them)."""
    import numpy as np

    if isinstance(value, bytes):
        yield value
    elif isinstance(value, np.void):
        yield value.tobytes()
    elif isinstance(value, np.ndarray) and value.dtype.kind in "SVO":
        for item in value.flat[:1024]:
            if isinstance(item, bytes):
                yield item
            elif isinstance(item, np.void):
                yield item.tobytes()
