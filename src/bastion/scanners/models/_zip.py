"""A lenient, fast zip reader for scanning: it reads what loaders read, not what the format demands.

The stdlib ``zipfile`` refuses archives that torch's own reader (miniz) loads happily — wrong
CRCs, local-header names that differ from the central directory — and spends tens of
microseconds per member, so scanners built on it can be bypassed or stalled. This reader parses
the end record (ZIP64 too), the central directory and the local headers with ``struct`` over the
buffer, reads no member data itself, and leaves every judgement (what to scan, what to report)
to its caller. Like miniz and ``zipfile``, a member's data starts after *its local header's*
name and extra field, and its size and method come from the central directory.
"""

from __future__ import annotations

import mmap
import struct
from typing import TypeAlias

Buffer: TypeAlias = bytes | mmap.mmap

STORED = 0
DEFLATED = 8
BZIP2 = 12
LZMA = 14

FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
# Only the fields used: signature, flags, method, CRC, sizes, name/extra/comment lengths, local header offset.
_CENTRAL = struct.Struct("<L4x2H4x3L3H8xL")
_CENTRAL_NAMES = struct.Struct("<L24x3H")
_LOCAL = struct.Struct("<L5H3L2H")
_EXTRA_HEADER = struct.Struct("<2H")

_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL_SIG = b"PK\x01\x02"
_CENTRAL_SIG_INT = 0x02014B50
LOCAL_SIG = b"PK\x03\x04"
_LOCAL_SIG_INT = 0x04034B50
_MAX_COMMENT = 0xFFFF
_SATURATED32 = 0xFFFFFFFF
_ZIP64_EXTRA_ID = 0x0001


class ZipError(Exception):
    """The bytes are not a zip archive this reader can make sense of."""


class ZipMember:
    """One entry of the archive, as the central directory describes it (or a local header the directory omits)."""

    __slots__ = ("compressed_size", "crc", "data_offset", "flags", "header_offset", "local_name", "method", "name", "size")

    def __init__(
        self,
        name: bytes,
        flags: int,
        method: int,
        crc: int,
        compressed_size: int,
        size: int,
        header_offset: int,
        data_offset: int = -1,
    ) -> None:
        self.name = name
        """The name in the central directory: the one torch and ``zipfile`` look members up by."""
        self.flags = flags
        self.method = method
        self.crc = crc
        self.compressed_size = compressed_size
        self.size = size
        """The uncompressed size the directory declares (not trusted: decompression is bounded by the caller)."""
        self.header_offset = header_offset
        """Where the local header starts in the buffer (any prefix before the archive already added)."""
        self.data_offset = data_offset
        """Where the member's data starts; known after ``ZipArchive.locate``, -1 when the local header is unusable."""
        self.local_name: bytes | None = None
        """The name in the local header where it differs: a streaming reader would use it instead."""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith(b"/") and self.compressed_size == 0

    def display_name(self) -> str:
        return self.name.decode("utf-8", "replace")


class Layout:
    """What reading the local headers revealed about how the members sit in the buffer."""

    __slots__ = ("broken", "hidden", "overlapping", "renamed", "views")

    def __init__(self) -> None:
        self.broken: list[tuple[ZipMember, str]] = []
        """Members whose local header is missing or cut off, with the reason."""
        self.overlapping: list[ZipMember] = []
        """Members whose data runs into another member or the central directory (a zip-bomb technique)."""
        self.hidden: list[ZipMember] = []
        """Local entries outside every listed member: a streaming reader sees them, torch and ``zipfile`` do not."""
        self.renamed: list[ZipMember] = []
        """Members whose local header gives another name (in ``local_name``) than the directory."""
        self.views: list[ZipMember] = []
        """Members as their local header describes them, where it disagrees with the directory on method or size."""


class ZipArchive:
    """The directory of a zip archive held in ``data``; member data is read by the caller, on demand."""

    def __init__(self, data: Buffer) -> None:
        self.data = data
        eocd = _find_end(data)
        self.declared_entries, cd_size, cd_offset, end_offset = eocd
        self.central_directory, self.prefix = _place_directory(data, cd_offset, cd_size, end_offset, self.declared_entries)
        self.members = _read_directory(data, self.central_directory, cd_size, self.prefix, self.declared_entries)

    def locate(self) -> Layout:
        """Read every member's local header; find members that overlap and local entries the directory omits."""
        layout = Layout()
        data, size = self.data, len(self.data)
        unpack = _LOCAL.unpack_from
        located: list[ZipMember] = []
        append = located.append
        ordered, previous = True, -1
        for member in self.members:
            offset = member.header_offset
            if not 0 <= offset <= size - 30:
                layout.broken.append((member, f"local header offset {offset} is outside the archive"))
                continue
            signature, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = unpack(data, offset)
            if signature != _LOCAL_SIG_INT:
                layout.broken.append((member, f"no local header at offset {offset}"))
                continue
            start = offset + 30
            member.data_offset = start + name_len + extra_len
            local_name = data[start : start + name_len]
            if local_name != member.name:
                member.local_name = local_name
                layout.renamed.append(member)
            if (method != member.method or csize != member.compressed_size) and not flags & FLAG_DATA_DESCRIPTOR:
                usize, csize, _ = _zip64_values(data[start + name_len : member.data_offset], usize, csize, 0)
                if method != member.method or csize != member.compressed_size:
                    layout.views.append(ZipMember(local_name, flags, method, crc, csize, usize, offset, member.data_offset))
            ordered = ordered and offset >= previous
            previous = offset
            append(member)
        if not ordered:
            located.sort(key=_by_header_offset)
        self._find_overlaps_and_gaps(located, layout)
        return layout

    def _find_overlaps_and_gaps(self, located: list[ZipMember], layout: Layout) -> None:
        """One walk in offset order: a member starting before the previous ones end overlaps; space between them is searched."""
        overlapping: set[int] = set()
        gaps: list[tuple[int, int]] = []
        reach, holder = 0, -1
        for index, member in enumerate(located):
            offset = member.header_offset
            if offset < reach:
                overlapping.update((index, holder))
            elif offset > reach:
                gaps.append((reach, offset))
            end = member.data_offset + member.compressed_size
            if end > reach:
                reach, holder = end, index
        if reach > self.central_directory and holder >= 0:
            overlapping.add(holder)
        elif self.central_directory > reach:
            gaps.append((reach, self.central_directory))
        layout.overlapping.extend(located[i] for i in sorted(overlapping))
        for start, end in gaps:
            layout.hidden.extend(self._local_entries(start, end))

    def _local_entries(self, start: int, end: int) -> list[ZipMember]:
        """Local entries found by their signature between ``start`` and ``end``."""
        found: list[ZipMember] = []
        data = self.data
        pos = data.find(LOCAL_SIG, start, end)
        while pos >= 0 and pos + 30 <= end:
            _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = _LOCAL.unpack_from(data, pos)
            name = data[pos + 30 : pos + 30 + name_len]
            extra = data[pos + 30 + name_len : pos + 30 + name_len + extra_len]
            usize, csize, _ = _zip64_values(extra, usize, csize, 0)
            data_offset = pos + 30 + name_len + extra_len
            if csize == 0 and flags & FLAG_DATA_DESCRIPTOR:
                csize = end - data_offset  # size only in the trailing descriptor: take what the gap holds
            csize = max(0, min(csize, end - data_offset))
            found.append(ZipMember(name, flags, method, crc, csize, usize, pos, data_offset))
            pos = data.find(LOCAL_SIG, max(pos + 4, data_offset + csize), end)
        return found


def read_names(data: Buffer) -> list[bytes]:
    """The member names of the central directory, without reading any local header (cheaper than ``ZipArchive``)."""
    declared, cd_size, cd_offset, end_offset = _find_end(data)
    start, _ = _place_directory(data, cd_offset, cd_size, end_offset, declared)
    directory = bytes(data[start : start + cd_size])
    unpack = _CENTRAL_NAMES.unpack_from
    limit = len(directory) - _CENTRAL.size
    names: list[bytes] = []
    append = names.append
    pos = 0
    while pos <= limit:
        signature, name_len, extra_len, comment_len = unpack(directory, pos)
        if signature != _CENTRAL_SIG_INT:
            break
        append(directory[pos + 46 : pos + 46 + name_len])
        pos += 46 + name_len + extra_len + comment_len
    return names


def _by_header_offset(member: ZipMember) -> int:
    return member.header_offset


def _find_end(data: Buffer) -> tuple[int, int, int, int]:
    """(entries, directory size, directory offset, offset of the end record it was found from), ZIP64 values preferred.

    Searched from the end, as miniz and ``zipfile`` do; an end record whose directory cannot be
    where it says is skipped in favour of an earlier one (a comment may contain a fake record).
    """
    size = len(data)
    tail_start = max(0, size - _EOCD.size - _MAX_COMMENT)
    tail = data[tail_start:]
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0:
        if pos + _EOCD.size <= len(tail):
            found = _end_record(data, tail_start + pos)
            if found is not None:
                return found
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    raise ZipError("no end of central directory record: not a zip archive, or truncated")


def _end_record(data: Buffer, offset: int) -> tuple[int, int, int, int] | None:
    _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(data, offset)
    end_offset = offset
    locator = offset - _ZIP64_LOCATOR.size
    if locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR_SIG:
        _, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(data, locator)
        for candidate in (record_offset, locator - _ZIP64_EOCD.size):
            if 0 <= candidate <= len(data) - _ZIP64_EOCD.size and data[candidate : candidate + 4] == _ZIP64_EOCD_SIG:
                fields = _ZIP64_EOCD.unpack_from(data, candidate)
                entries, cd_size, cd_offset = fields[7], fields[8], fields[9]
                end_offset = candidate
                break
    if cd_size > end_offset:
        return None
    return entries, cd_size, cd_offset, end_offset


def _place_directory(data: Buffer, cd_offset: int, cd_size: int, end_offset: int, entries: int) -> tuple[int, int]:
    """(where the central directory starts, bytes before the archive) — archives may be prefixed (self-extractors)."""
    if cd_offset + 4 <= len(data) and data[cd_offset : cd_offset + 4] == _CENTRAL_SIG:
        return cd_offset, 0
    actual = end_offset - cd_size
    if actual >= 0 and data[actual : actual + 4] == _CENTRAL_SIG:
        return actual, actual - cd_offset
    if entries == 0 or cd_size == 0:
        return end_offset, 0
    raise ZipError(f"central directory not found at offset {cd_offset}")


def _read_directory(data: Buffer, start: int, cd_size: int, prefix: int, declared: int) -> list[ZipMember]:
    """Central directory entries, read while their signature holds: up to its declared size, or on while it declares more."""
    end = start + cd_size
    # Copy the directory once: slicing bytes is much cheaper than slicing a map, entry after entry.
    directory = bytes(data[start : max(end, min(len(data), start + 46 * declared))])
    unpack = _CENTRAL.unpack_from
    limit = len(directory) - _CENTRAL.size
    members: list[ZipMember] = []
    append = members.append
    pos = 0
    while pos <= limit and (pos < cd_size or len(members) < declared):
        signature, flags, method, crc, csize, usize, name_len, extra_len, comment_len, offset = unpack(directory, pos)
        if signature != _CENTRAL_SIG_INT:
            break
        name_end = pos + 46 + name_len
        if csize == _SATURATED32 or usize == _SATURATED32 or offset == _SATURATED32:
            usize, csize, offset = _zip64_values(directory[name_end : name_end + extra_len], usize, csize, offset)
        append(ZipMember(directory[pos + 46 : name_end], flags, method, crc, csize, usize, offset + prefix))
        pos = name_end + extra_len + comment_len
    if not members and declared:
        raise ZipError("central directory holds no readable entry")
    return members


def _zip64_values(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the ZIP64 extra field, for those saturated at 0xFFFFFFFF in the fixed fields."""
    pos = 0
    while pos + 4 <= len(extra):
        block_id, block_size = _EXTRA_HEADER.unpack_from(extra, pos)
        body = extra[pos + 4 : pos + 4 + block_size]
        pos += 4 + block_size
        if block_id != _ZIP64_EXTRA_ID:
            continue
        values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        wanted = [usize == _SATURATED32, csize == _SATURATED32, offset == _SATURATED32]
        current = [usize, csize, offset]
        for i, saturated in enumerate(wanted):
            if saturated and values:
                current[i] = values.pop(0)
        return current[0], current[1], current[2]
    return usize, csize, offset
