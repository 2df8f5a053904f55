"""Containers that wrap model files: zip (torch, npz, plain), tar (legacy torch, plain), compressed streams, ``.npy``.

Every member is scanned by what its content is, never by its name, through the model scanner's
format dispatch, so containers nest freely (a zip in a tar in a gzip). Members are read lazily: a few
head bytes decide whether a member can hold anything scannable at all, so the raw tensor bytes of
a large checkpoint are never read or decompressed. Depth, member count, decompressed size and
ratio are charged to the file's shared budget; exceeding one stops the scan with a finding.
"""

from __future__ import annotations

import ast
import bz2
import functools
import importlib
import io
import itertools
import lzma
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, NoReturn, Protocol, cast

if TYPE_CHECKING:
    import tarfile

from bastion.core import Category, Finding, Severity
from bastion.scanners.detect import HEAD_SIZE, detect_bytes
from bastion.scanners.interface import ScanError
from bastion.scanners.models._zip import (
    BZIP2,
    DEFLATED,
    FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED,
    LZMA,
    STORED,
    Layout,
    ZipArchive,
    ZipError,
    ZipMember,
)
from bastion.scanners.models.context import LimitExceeded, ModelContext
from bastion.scanners.models.scanner import Handler, ModelBuffer, handler_for

_HEAD = 512
"""Bytes of a member looked at before deciding to read it (a tar header's magic sits at 257)."""
_IN_CHUNK = 1 << 20
_OUT_CHUNK = 1 << 22
_RATIO_FLOOR = 64 << 20
"""The ratio bound applies past this output size: a few MiB of zeros is ordinary (sparse arrays), a bomb is not."""
_MAX_PER_RULE = 20
"""Structural findings of one rule reported one by one per container; the rest are counted in one finding."""

# First bytes of every format a handler exists for, plus every opcode a pickle may start with.
_LEAD_BYTES = frozenset(
    b"\x80PB\x1f\xfd\x04x]\x93\x89G\x08"  # pickle 2+, zip, bz2, gzip, xz, lz4, zlib, lzma, npy, hdf5, gguf, protobuf
    b"(}])cdlILFSVNTJKMGUXC\x8a\x8b\x8c\x88\x89\x95"  # pickle protocols 0-1 and headerless 2+
)
_PICKLE_NAMES = (b".pkl", b".pickle", b"/pickle")
_TORCH_STORAGE = re.compile(rb"(.*/)?data/\d+")
_NPY_MAGIC = b"\x93NUMPY"
_NPY_MAX_HEADER = 1 << 20
# dtype.str of every non-object dtype numpy writes: byte order, kind, item size, datetime unit.
_NPY_PLAIN_TYPESTR = re.compile(r"[<>|=][biufcmMSUV]\d+(\[\w+\])?")


# --- results of one container -------------------------------------------------------------------


class _Results:
    """Findings of one container and the members it could not scan completely."""

    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.errors: list[str] = []
        self._first: dict[str, Finding] = {}
        self._counts: dict[str, int] = {}

    def note(self, finding: Finding) -> None:
        """A structural finding; past a few of one rule only a count is kept (a trick may repeat 200k times)."""
        count = self._counts.get(finding.rule_id, 0) + 1
        self._counts[finding.rule_id] = count
        if count == 1:
            self._first[finding.rule_id] = finding
        if count <= _MAX_PER_RULE:
            self.findings.append(finding)

    def run(self, member: str, scan: Callable[..., list[Finding]], *args: Any) -> None:
        """Run one member's scan, keeping its findings whatever happens to the others."""
        try:
            self.findings.extend(scan(*args))
        except LimitExceeded as exc:
            self.stop(exc)
        except ScanError as exc:
            self.findings.extend(exc.findings)
            self.errors.append(f"{member}: {exc}")
        except Exception as exc:  # a handler's bug must not lose what the other members showed
            self.errors.append(f"{member}: internal error ({type(exc).__name__}: {exc}); please report it")

    def stop(self, exc: LimitExceeded) -> NoReturn:
        """Re-raise a limit with everything found so far: the bound is shared, so every level stops."""
        exc.findings = (*self.findings, *self._summaries(), *exc.findings)
        raise exc

    def finish(self) -> list[Finding]:
        findings = self.findings + self._summaries()
        if self.errors:
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            raise ScanError("; ".join(self.errors[:3]) + more, findings=findings, partial=True)
        return findings

    def _summaries(self) -> list[Finding]:
        summaries = []
        for rule, count in self._counts.items():
            if count > _MAX_PER_RULE:
                first = self._first[rule]
                rest = count - _MAX_PER_RULE
                message = f"{rest} more members like the one above ({first.message})"
                summaries.append(replace(first, message=message, count=rest, location=self.ctx.location()))
        self._counts.clear()
        return summaries


# --- members -------------------------------------------------------------------------------------


def _could_be_model(head: bytes) -> bool:
    """False when the first bytes rule out every format a handler exists for (raw tensors, text, media)."""
    return bool(head) and (head[0] in _LEAD_BYTES or head[8:9] == b"{" or head[257:262] == b"ustar")


def _named_like_pickle(name: bytes) -> bool:
    return name.endswith(_PICKLE_NAMES) or name == b"pickle"


def _scan_content(content: bytes, name: str, ctx: ModelContext) -> list[Finding]:
    """Scan a member's whole content by what it is; one named like a pickle is a pickle even if detection hesitates."""
    handler = handler_for(detect_bytes(content, name).format)
    if handler is None and _named_like_pickle(name.encode("utf-8", "surrogateescape")):
        handler = handler_for("pickle")
    return handler(content, ctx) if handler is not None else []


def _shifted(findings: tuple[Finding, ...] | list[Finding], ctx: ModelContext, base: int) -> list[Finding]:
    """Findings of a slice of this member, their offsets moved to count from the member's start."""
    out = []
    for finding in findings:
        location = finding.location
        if base and location.member == ctx.member and location.offset is not None:
            finding = replace(finding, location=replace(location, offset=location.offset + base))
        out.append(finding)
    return out


def _scan_pickle_slice(data: ModelBuffer, start: int, end: int, ctx: ModelContext) -> list[Finding]:
    """The pickle in ``data[start:end]``, its findings located in the whole member."""
    handler = handler_for("pickle")
    assert handler is not None
    try:
        return _shifted(handler(data[start:end], ctx), ctx, start)
    except LimitExceeded:
        raise
    except ScanError as exc:
        raise ScanError(str(exc), findings=_shifted(exc.findings, ctx, start), partial=exc.partial) from None


# --- decompression -------------------------------------------------------------------------------


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes: ...


class _Zlib:
    """zlib's decompressor behind the interface bz2 and lzma share (it keeps unread input itself)."""

    def __init__(self, wbits: int) -> None:
        self._inner = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._inner.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes:
        tail = self._inner.unconsumed_tail
        return self._inner.decompress(tail + data if tail else data, max(0, max_length))


class _ZipLzma:
    """LZMA in a zip member (method 14): a version, the LZMA1 properties, then a raw stream."""

    def __init__(self) -> None:
        self._inner: lzma.LZMADecompressor | None = None
        self._header = b""

    @property
    def eof(self) -> bool:
        return self._inner is not None and self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data if self._inner is not None else b""

    @property
    def needs_input(self) -> bool:
        return self._inner is None or self._inner.needs_input

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes:
        if self._inner is None:
            self._header += data
            if len(self._header) < 4 or len(self._header) < 4 + int.from_bytes(self._header[2:4], "little"):
                return b""
            end = 4 + int.from_bytes(self._header[2:4], "little")
            self._inner = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[_lzma1_filter(self._header[4:end])])
            data = self._header[end:]
        return self._inner.decompress(data, max_length)


def _lzma1_filter(props: bytes) -> dict[str, int]:
    if len(props) < 5:
        raise lzma.LZMAError("LZMA properties cut off")
    packed = props[0]
    return {
        "id": lzma.FILTER_LZMA1,
        "lc": packed % 9,
        "lp": packed // 9 % 5,
        "pb": packed // 45,
        "dict_size": int.from_bytes(props[1:5], "little"),
    }


def _lz4() -> _Decompressor:
    try:
        frame = importlib.import_module("lz4.frame")
    except ImportError:
        raise ScanError("lz4-compressed; install lz4 to scan it") from None
    return cast(_Decompressor, frame.LZ4FrameDecompressor())


_DECOMPRESSION_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, RuntimeError)


class _Inflater:
    """Decompresses ``source[start:end]`` in bounded steps; ``next_magic`` lets concatenated streams continue."""

    def __init__(
        self,
        new: Callable[[], _Decompressor],
        source: ModelBuffer,
        start: int,
        end: int,
        *,
        out_chunk: int = _OUT_CHUNK,
        next_magic: bytes | None = None,
    ) -> None:
        self._new, self._source, self._start, self._end = new, source, start, min(end, len(source))
        self._out_chunk, self._next_magic = out_chunk, next_magic
        self.consumed = 0
        """Compressed bytes fed so far."""
        self.ended = False
        """Whether the data ended where a stream ended (not cut off, not corrupt)."""
        self.error: str | None = None
        self.trailing = self._end
        """Where the bytes after the last stream start."""

    def __iter__(self) -> Iterator[bytes]:
        source, end, step = self._source, self._end, self._out_chunk
        pos, pending = self._start, b""
        stream = self._new()
        while True:
            if stream.eof:
                pending += stream.unused_data
                self.trailing = pos - len(pending)
                if not self._continues(pending, pos):
                    self.ended = True
                    return
                stream = self._new()
            chunk = b""
            if stream.needs_input:
                if pending:
                    chunk, pending = pending, b""
                elif pos < end:
                    chunk = source[pos : min(end, pos + _IN_CHUNK)]
                    pos += len(chunk)
                    self.consumed = pos - self._start
            try:
                out = stream.decompress(chunk, step)
            except _DECOMPRESSION_ERRORS as exc:
                self.error = f"corrupt compressed data ({exc})"
                return
            if out:
                yield out
            elif not chunk and not stream.eof:
                self.error = "compressed data ends early (truncated)"
                return

    def _continues(self, pending: bytes, pos: int) -> bool:
        if self._next_magic is None:
            return False
        head = pending[: len(self._next_magic)]
        if len(head) < len(self._next_magic):
            head += self._source[pos : pos + len(self._next_magic) - len(head)]
        return head == self._next_magic

    def head(self, size: int) -> bytes:
        """The first ``size`` decompressed bytes (fewer if the data holds fewer)."""
        parts, total = [], 0
        for out in self:
            parts.append(out)
            total += len(out)
            if total >= size:
                break
        return b"".join(parts)[:size]

    def read_all(self, ctx: ModelContext) -> bytes:
        """Everything, charged to the budget; a bomb's ratio, its own or the whole file's, stops it early."""
        budget, ratio, file_size = ctx.budget, ctx.budget.limits.max_ratio, ctx.budget.source_size
        parts, produced = [], 0
        for out in self:
            produced += len(out)
            budget.add_decompressed(len(out), ctx)
            if produced > _RATIO_FLOOR and produced > ratio * max(self.consumed, 1):
                raise LimitExceeded(ctx, f"compressed data inflates more than {ratio} times its size")
            if file_size is not None and budget.decompressed > _RATIO_FLOOR and budget.decompressed > ratio * file_size:
                raise LimitExceeded(ctx, f"nested containers inflate to more than {ratio} times the file's size")
            parts.append(out)
        return b"".join(parts)


def _whole_file(handler: Handler) -> Handler:
    """Record the file's size when ``handler`` is the first to open it, for the whole-file inflation bound."""

    @functools.wraps(handler)
    def scan(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
        if ctx.depth == 0 and ctx.budget.source_size is None:
            ctx.budget.source_size = len(data)
        return handler(data, ctx)

    return scan


# --- zip -----------------------------------------------------------------------------------------

_ZIP_METHODS: dict[int, Callable[[], _Decompressor]] = {
    DEFLATED: lambda: _Zlib(-15),
    BZIP2: bz2.BZ2Decompressor,
    LZMA: _ZipLzma,
}


@_whole_file
def scan_zip(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Every member of a zip (torch, npz, plain) whose content can hold code, found by content under any name."""
    try:
        archive = ZipArchive(data)
        layout = archive.locate()
    except ZipError as exc:
        raise ScanError(f"not a readable zip archive: {exc}") from None
    ctx.budget.add_members(len(archive.members) + len(layout.hidden) + len(layout.views), ctx)
    results = _Results(ctx)
    _report_layout(archive, layout, results, ctx)
    skipped = {id(member) for member in layout.overlapping}
    storage_prefixes: frozenset[bytes] | None = None  # found on the first member that needs them
    lead_bytes, decompressobj, npy_headers, end = _LEAD_BYTES, zlib.decompressobj, _plain_npy_headers, len(data)
    # The loop runs once per member (200k in a large archive): members whose first bytes rule out
    # every scannable format are dropped here, without a call, a context or a detector.
    for member in itertools.chain(archive.members, layout.hidden, layout.views):
        start, size, method = member.data_offset, member.compressed_size, member.method
        if start < 0 or size == 0 or (skipped and id(member) in skipped):
            continue
        if start + size > end:
            results.errors.append(f"{member.display_name()}: data cut off (truncated archive)")
        head = b""
        if member.flags & FLAG_ENCRYPTED:
            pass
        elif method == STORED:
            head = data[start : start + (size if size < _HEAD else _HEAD)]
        elif method == DEFLATED:
            try:
                head = decompressobj(-15).decompress(data[start : start + (size if size < 4 * _HEAD else 4 * _HEAD)], _HEAD)
            except zlib.error:
                head = b""  # the member's scan reports it
        if head:
            if (
                head[0] not in lead_bytes
                and head[8:9] != b"{"
                and head[257:262] != b"ustar"
                and not member.name.endswith(_PICKLE_NAMES)
            ):
                continue
            if head[0] == 0x93 and len(head) > 9 and (npy_headers.get(head[: 10 + (head[8] | head[9] << 8)]) or _plain_npy(head)):
                continue
        if storage_prefixes is None:
            storage_prefixes = _torch_prefixes(archive.members)
        storage = bool(storage_prefixes) and _is_torch_storage(member.name, storage_prefixes)
        results.run(member.display_name(), _scan_zip_member, archive, member, ctx, results, storage)
    if layout.overlapping:
        names = ", ".join(m.display_name() for m in layout.overlapping[:3])
        results.stop(LimitExceeded(ctx, f"{len(layout.overlapping)} members overlap each other ({names}): a zip bomb"))
    return results.finish()


def _report_layout(archive: ZipArchive, layout: Layout, results: _Results, ctx: ModelContext) -> None:
    for member, reason in layout.broken:
        results.errors.append(f"{member.display_name()}: {reason}")
    for member in layout.hidden:
        results.note(
            ctx.finding(
                "model.archive.hidden-member",
                Severity.MEDIUM,
                f"local entry {member.display_name()!r} is not in the central directory: "
                "a streaming reader loads it, scanners that read the directory miss it",
                offset=member.header_offset,
                category=Category.UNSAFE_CODE,
            )
        )
    for member in layout.renamed:
        local = (member.local_name or b"").decode("utf-8", "replace")
        results.note(_mismatch(ctx, member, f"its local header, which names it {local!r}"))
    for view in layout.views:
        results.note(_mismatch(ctx, view, f"its local header (method {view.method}, {view.compressed_size} bytes)"))
    if len({m.name for m in archive.members}) < len(archive.members):
        seen: set[bytes] = set()
        for member in archive.members:
            if member.name in seen:
                results.note(
                    ctx.finding(
                        "model.archive.duplicate-name",
                        Severity.MEDIUM,
                        f"two members are named {member.display_name()!r}; loaders disagree on which one they read",
                        offset=member.header_offset,
                    )
                )
            seen.add(member.name)


def _mismatch(ctx: ModelContext, member: ZipMember, what: str) -> Finding:
    return ctx.finding(
        "model.archive.header-mismatch",
        Severity.MEDIUM,
        f"member {member.display_name()!r} is described differently by the central directory and {what}: "
        "a trick to show scanners one member and loaders another (both were scanned)",
        offset=member.header_offset,
    )


def _torch_prefixes(members: list[ZipMember]) -> frozenset[bytes]:
    """Directories holding a torch ``data.pkl``: their ``data/<n>`` members are raw storages torch never unpickles."""
    return frozenset(m.name[:-8] for m in members if m.name.endswith(b"data.pkl") and m.name[-9:-8] in (b"", b"/"))


def _is_torch_storage(name: bytes, prefixes: frozenset[bytes]) -> bool:
    match = _TORCH_STORAGE.fullmatch(name)
    return match is not None and (match.group(1) or b"") in prefixes


def _scan_zip_member(
    archive: ZipArchive, member: ZipMember, ctx: ModelContext, results: _Results, storage: bool
) -> list[Finding]:
    name = member.display_name()
    child = ctx.child(name)
    if member.flags & FLAG_ENCRYPTED:
        finding = child.finding("model.archive.encrypted-member", Severity.MEDIUM, "encrypted: content not scanned")
        raise ScanError("encrypted, not scanned", findings=[finding])
    if member.method != STORED and member.method not in _ZIP_METHODS:
        finding = child.finding(
            "model.archive.unknown-compression",
            Severity.MEDIUM,
            f"member compressed with method {member.method}, which this scanner cannot read",
        )
        raise ScanError(f"compression method {member.method} not supported", findings=[finding])
    pickle_name = _named_like_pickle(member.name)
    if member.method != STORED:
        inflater = _zip_inflater(archive, member, _HEAD)
        head = inflater.head(_HEAD)
        if not head and inflater.error is not None:
            raise ScanError(inflater.error, partial=True)
        if not _could_be_model(head) and not pickle_name:
            return []
    else:
        head = archive.data[member.data_offset : member.data_offset + min(member.compressed_size, _HEAD)]
    if head.startswith(_NPY_MAGIC) and not _npy_has_objects(archive, member, head):
        return []
    if storage:
        return _scan_storage(archive, member, child, results)
    content, problem = _read_zip_member(archive, member, child)
    _check_crc(member, content, problem, child, results)
    findings = _scan_content(content, name, child)
    if problem is not None:
        raise ScanError(problem, findings=findings, partial=True)
    return findings


def _scan_storage(archive: ZipArchive, member: ZipMember, ctx: ModelContext, results: _Results) -> list[Finding]:
    """A torch storage whose first bytes happen to look scannable: torch reads it raw, so only signs of code count."""
    if member.method == STORED:
        head = archive.data[member.data_offset : member.data_offset + min(member.compressed_size, HEAD_SIZE)]
    else:
        head = _zip_inflater(archive, member, HEAD_SIZE).head(HEAD_SIZE)
    if handler_for(detect_bytes(head, member.display_name()).format) is None:
        return []
    content, _ = _read_zip_member(archive, member, ctx)
    try:
        findings = _scan_content(content, member.display_name(), ctx)
    except LimitExceeded:
        raise
    except ScanError as exc:
        findings = list(exc.findings)
    return [f for f in findings if f.category == Category.UNSAFE_CODE]


def _zip_inflater(archive: ZipArchive, member: ZipMember, out_chunk: int = _OUT_CHUNK) -> _Inflater:
    start = member.data_offset
    return _Inflater(_ZIP_METHODS[member.method], archive.data, start, start + member.compressed_size, out_chunk=out_chunk)


def _read_zip_member(archive: ZipArchive, member: ZipMember, ctx: ModelContext) -> tuple[bytes, str | None]:
    """The member's content and, when it could not be read whole, why."""
    start, size = member.data_offset, member.compressed_size
    if member.method == STORED:
        content = archive.data[start : start + size]
        return content, None if len(content) == size else "member data cut off (truncated archive)"
    inflater = _zip_inflater(archive, member)
    content = inflater.read_all(ctx)
    if inflater.error is not None and not (inflater.error.startswith("compressed data ends") and len(content) >= member.size):
        return content, inflater.error  # raw LZMA without an end marker stops at the declared size, as zipfile does
    return content, None


def _check_crc(member: ZipMember, content: bytes, problem: str | None, ctx: ModelContext, results: _Results) -> None:
    if problem is not None or (member.flags & FLAG_DATA_DESCRIPTOR and member.crc == 0):
        return
    if zlib.crc32(content) != member.crc:
        results.note(
            ctx.finding(
                "model.archive.bad-crc",
                Severity.LOW,
                "member's CRC-32 does not match its content: torch loads it anyway, stricter tools refuse it",
                category=Category.DATA_INTEGRITY,
                remediation="Re-export the model from its source; a corrupted or edited archive should not be trusted.",
            )
        )


def _npy_has_objects(archive: ZipArchive, member: ZipMember, head: bytes) -> bool:
    """Whether an ``.npy`` member may hold pickled objects, from its header alone (arrays are never inflated)."""
    try:
        return _npy_header(head)[1]
    except _CutOff:
        pass
    except ScanError:
        return True  # let the full scan report it
    if member.method == STORED:
        head = archive.data[member.data_offset : member.data_offset + min(member.compressed_size, _NPY_MAX_HEADER + 12)]
    else:
        head = _zip_inflater(archive, member, _NPY_MAX_HEADER + 12).head(_NPY_MAX_HEADER + 12)
    try:
        return _npy_header(head)[1]
    except ScanError:
        return True


# --- tar -----------------------------------------------------------------------------------------


class _BufferReader(io.RawIOBase):
    """A seekable file over bytes or a map, so tarfile reads headers without copying the archive."""

    def __init__(self, data: ModelBuffer) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


@_whole_file
def scan_tar(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Every regular member of a tar (the legacy torch format, plain tars); links are never followed, nothing is extracted."""
    results = _Results(ctx)
    with _open_tar(data) as archive:
        while True:
            try:
                info = archive.next()
            except Exception as exc:  # tarfile raises many kinds of error on a malformed header
                results.errors.append(f"tar header at offset {archive.offset}: {exc}")
                break
            if info is None:
                break
            try:
                ctx.budget.add_members(1, ctx)
            except LimitExceeded as exc:
                results.stop(exc)
            if not info.isreg() or info.size == 0:
                continue  # directories, links (never followed), devices
            if info.issparse():
                results.errors.append(f"{info.name}: sparse member not scanned")
                continue
            start = info.offset_data
            head = data[start : start + min(info.size, _HEAD)]
            name = info.name.encode("utf-8", "surrogateescape")
            if _could_be_model(head) or _named_like_pickle(name):
                results.run(info.name, _scan_tar_member, data, start, info.size, info.name, ctx)
    return results.finish()


def _open_tar(data: ModelBuffer) -> tarfile.TarFile:
    import tarfile  # here, not at the top: most model scans never meet a tar

    try:
        return tarfile.open(fileobj=cast(IO[bytes], _BufferReader(data)), mode="r:")
    except (tarfile.TarError, EOFError, ValueError, OSError, UnicodeError, OverflowError, struct.error) as exc:
        raise ScanError(f"not a readable tar archive: {exc}") from None


def _scan_tar_member(data: ModelBuffer, start: int, size: int, name: str, ctx: ModelContext) -> list[Finding]:
    child = ctx.child(name)
    content = data[start : start + size]
    if name in _TORCH_RECORD_MEMBERS and _PICKLE_START.match(content):
        return _scan_torch_records(content, name, child)
    findings = _scan_content(content, name, child)
    if len(content) < size:
        raise ScanError("member data cut off (truncated archive)", findings=findings, partial=True)
    return findings


# The legacy torch tar's ``storages`` and ``tensors``: a pickled count, then per record a pickle
# followed by raw bytes torch reads itself (a storage: int64 element count and the elements; a
# tensor: int32 ndim, 4 spare bytes, sizes, strides, offset). Only the pickles are scanned.
_TORCH_RECORD_MEMBERS = frozenset({"storages", "tensors"})
_PICKLE_START = re.compile(rb"\x80[\x02-\x05]|[(}\]KIJMc]")
_STORAGE_ELEMENT_SIZES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
}


def _scan_torch_records(content: bytes, name: str, ctx: ModelContext) -> list[Finding]:
    findings: list[Finding] = []
    try:
        end, ints, _ = _pickle_extent(content, 0)
        findings += _scan_pickle_slice(content, 0, end, ctx)
        pos = end
        for _ in range(ints[-1] if len(ints) == 1 else 0):
            end, _, names = _pickle_extent(content, pos)
            findings += _scan_pickle_slice(content, pos, end, ctx)
            pos = _skip_record_data(content, end, name, names)
        if name == "storages":
            end, _, _ = _pickle_extent(content, pos)
            findings += _scan_pickle_slice(content, pos, end, ctx)
    except (ValueError, struct.error, KeyError, IndexError) as exc:
        raise ScanError(f"legacy torch records cannot be followed: {exc}", findings=findings, partial=True) from None
    except LimitExceeded as exc:
        exc.findings = (*findings, *exc.findings)
        raise
    except ScanError as exc:
        raise ScanError(str(exc), findings=findings + list(exc.findings), partial=True) from None
    return findings


_NOT_VALUES = frozenset({"PROTO", "FRAME", "PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})


def _pickle_extent(content: bytes, start: int) -> tuple[int, list[int], list[str]]:
    """Where the pickle at ``start`` ends, with the integers and global names it mentions (parsed, not run)."""
    stream = io.BytesIO(content)
    stream.seek(start)
    ints: list[int] = []
    names: list[str] = []
    import pickletools

    for opcode, arg, _ in pickletools.genops(stream):
        if isinstance(arg, int) and not isinstance(arg, bool) and opcode.name not in _NOT_VALUES:
            ints.append(arg)
        elif isinstance(arg, str):
            names.append(arg)
    return stream.tell(), ints, names


def _skip_record_data(content: bytes, pos: int, member: str, names: list[str]) -> int:
    end: int
    if member == "storages":
        storage = next((n.rsplit(" ", 1)[-1] for n in reversed(names) if n.endswith("Storage")), "")
        (count,) = struct.unpack_from("<q", content, pos)
        end = pos + 8 + count * _STORAGE_ELEMENT_SIZES[storage]
    else:
        (ndim,) = struct.unpack_from("<i", content, pos)
        end = pos + 8 + 16 * ndim + 8
    if not pos <= end <= len(content):
        raise ValueError(f"record data at offset {pos} runs past the member's end")
    return end


# --- compressed streams --------------------------------------------------------------------------


@_whole_file
def scan_compressed(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """A gzip, bz2, xz, lzma, zlib or lz4 stream (joblib writes each), decompressed under the budget and scanned."""
    kind, new, magic = _compression(data)
    child = ctx.child(f"<{kind}>")
    inflater = _Inflater(new, data, 0, len(data), next_magic=magic)
    results = _Results(ctx)
    try:
        content = inflater.read_all(child)
    except LimitExceeded as exc:
        results.stop(exc)
    if inflater.error is not None:
        results.errors.append(f"{kind}: {inflater.error}")
    if inflater.ended and _has_garbage(data, inflater.trailing):
        results.note(
            ctx.finding(
                "model.archive.trailing-data",
                Severity.LOW,
                f"{len(data) - inflater.trailing} bytes follow the {kind} stream; loaders ignore them",
                offset=inflater.trailing,
                category=Category.DATA_INTEGRITY,
            )
        )
    if content:
        results.run(f"<{kind}>", _scan_content, content, "", child)
    return results.finish()


def _compression(data: ModelBuffer) -> tuple[str, Callable[[], _Decompressor], bytes | None]:
    """(name, decompressor factory, magic of a concatenated next stream) by the stream's first bytes."""
    head = data[:6]
    if head.startswith(b"\x1f\x8b"):
        return "gzip", lambda: _Zlib(31), b"\x1f\x8b"
    if head.startswith(b"BZh"):
        return "bz2", bz2.BZ2Decompressor, b"BZh"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), b"\xfd7zXZ\x00"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4", _lz4, b"\x04\x22\x4d\x18"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma", lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), None
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib", lambda: _Zlib(15), None
    raise ScanError("not a compressed stream this scanner reads")


def _has_garbage(data: ModelBuffer, start: int) -> bool:
    """Bytes after the last stream, other than the zero padding some writers add."""
    if start >= len(data):
        return False
    return bool(data[start : start + 4096].strip(b"\x00")) or len(data) - start > 4096


# --- .npy ----------------------------------------------------------------------------------------


_plain_npy_headers: dict[bytes, bool] = {}
_NPY_CACHE_SIZE = 4096


def _plain_npy(head: bytes) -> bool:
    """Whether ``head`` opens an ``.npy`` whose dtype holds no objects; members of one .npz mostly share a header."""
    end = 10 + int.from_bytes(head[8:10], "little") if head[6:7] == b"\x01" else 12 + int.from_bytes(head[8:12], "little")
    key = head[:end]
    plain = _plain_npy_headers.get(key)
    if plain is None:
        if len(key) < end:
            return False
        try:
            plain = not _npy_header(key)[1]
        except ScanError:
            plain = False
        if len(_plain_npy_headers) >= _NPY_CACHE_SIZE:
            _plain_npy_headers.clear()
        _plain_npy_headers[key] = plain
    return plain


class _CutOff(ScanError):
    """The header is longer than the bytes at hand."""


@_whole_file
def scan_npy(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """A ``.npy`` array: plain dtypes hold no code (the data is not read); object dtypes are a pickle after the header."""
    end, has_objects = _npy_header(data)
    if not has_objects or end >= len(data):
        return []
    return _scan_pickle_slice(data, end, len(data), ctx)


def _npy_header(data: ModelBuffer | bytes) -> tuple[int, bool]:
    """(where the array data starts, whether the dtype may hold objects) from the magic, version and header dict."""
    if data[:6] != _NPY_MAGIC or len(data) < 10:
        raise ScanError("not a .npy file")
    major = data[6]
    if major == 1:
        (length,) = struct.unpack_from("<H", data, 8)
        start = 10
    elif major in (2, 3):
        if len(data) < 12:
            raise _CutOff("npy header cut off")
        (length,) = struct.unpack_from("<I", data, 8)
        start = 12
    else:
        raise ScanError(f"unknown .npy format version {major}")
    if length > _NPY_MAX_HEADER:
        raise ScanError(f".npy header of {length} bytes is implausibly long")
    end = start + length
    if end > len(data):
        raise _CutOff("npy header cut off")
    text = bytes(data[start:end]).decode("utf-8" if major == 3 else "latin-1", "replace")
    try:
        header = ast.literal_eval(text)  # literals only: never evaluates code
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ScanError(f".npy header is not a Python literal: {exc}") from None
    if not isinstance(header, dict) or "descr" not in header:
        raise ScanError(".npy header has no 'descr'")
    return end, _may_hold_objects(header["descr"], 0)


def _may_hold_objects(descr: object, depth: int) -> bool:
    """Whether a dtype description may include Python objects; anything numpy would not write is assumed to."""
    if depth > 32:
        return True
    if isinstance(descr, str):
        return _NPY_PLAIN_TYPESTR.fullmatch(descr) is None
    if isinstance(descr, tuple) and len(descr) == 2 and not isinstance(descr[1], str):
        return _may_hold_objects(descr[0], depth + 1)  # a sub-array: (dtype, shape)
    if isinstance(descr, list):
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                return True
            if _may_hold_objects(field[1], depth + 1):
                return True
        return False
    return True
