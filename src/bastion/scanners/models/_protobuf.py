"""A minimal reader of the protobuf wire format, for ONNX and TensorFlow files parsed without their libraries.

Fields are read in place from the buffer (bytes or a file map): a length-delimited payload is only a
pair of offsets until someone asks for it, so walking a multi-gigabyte model costs a pass over its
field headers, never a copy of its tensors.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import NamedTuple, TypeAlias

Buffer: TypeAlias = bytes | mmap.mmap

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message; ``offset`` is where reading failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


class Field(NamedTuple):
    """One field: its number and wire type, and where its payload lies."""

    number: int
    wire: int
    value: int
    """The integer of a varint field; 0 for the others."""
    start: int
    """Where the payload begins (for a varint, where the field's key begins)."""
    end: int
    """Where the payload ends."""


def iter_fields(buf: Buffer, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """The fields of the message in ``buf[start:end]``, in order; raises ``WireError`` on malformed bytes."""
    end = len(buf) if end is None else end
    make = tuple.__new__  # Field(...) through its generated __new__ is twice as slow, and this loop is the hot path
    pos = start
    while pos < end:
        key_at = pos
        key = buf[pos]
        if key < 0x80:  # one-byte keys: every field number below 16
            pos += 1
        else:
            key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0", key_at)
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield make(Field, (number, wire, value, key_at, pos))
            continue
        if wire == LEN:
            size, pos = read_varint(buf, pos, end)
        elif wire == FIXED64:
            size = 8
        elif wire == FIXED32:
            size = 4
        else:  # groups (3, 4) are deprecated and used by neither ONNX nor TensorFlow
            raise WireError(f"unsupported wire type {wire}", key_at)
        if size > end - pos:
            raise WireError(f"field {number} runs past the end of its message", key_at)
        yield make(Field, (number, wire, 0, pos, pos + size))
        pos += size


def read_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    if pos < end and buf[pos] < 0x80:
        return buf[pos], pos + 1
    result = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise WireError("truncated varint", start)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes", start)


def sub_fields(buf: Buffer, field: Field) -> Iterator[Field]:
    """The fields of an embedded message."""
    if field.wire != LEN:
        raise WireError(f"field {field.number} should hold a message", field.start)
    return iter_fields(buf, field.start, field.end)


def text(buf: Buffer, field: Field, limit: int = 4096) -> str:
    """A string field, decoded leniently and cut to ``limit`` bytes (names, paths, op types)."""
    if field.wire != LEN:
        raise WireError(f"field {field.number} should hold a string", field.start)
    return bytes(buf[field.start : min(field.end, field.start + limit)]).decode("utf-8", "replace")
