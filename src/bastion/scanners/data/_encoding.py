"""Text encodings of CSV, TSV and JSON Lines files, decided by trying, and streaming transcoding to UTF-8.

DuckDB reads UTF-8 only (its ``latin-1`` refuses bytes 0x80-0x9F, which cp1252 uses for quotes and the
euro sign, and its ``utf-16`` misreads big-endian files). So a file whose head is valid UTF-8 is read as
it is; anything else is rewritten to UTF-8 in the dataset's work directory, a chunk at a time:
UTF-16 and UTF-32 by their byte-order mark, and everything else line by line, each line decoded as
UTF-8 when it is valid UTF-8 and as cp1252 otherwise, so a file that mixes encodings loses no row.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import BinaryIO

HEAD_BYTES = 1024 * 1024
"""How much of a file decides its encoding."""
_CHUNK = 4 * 1024 * 1024
_LONGEST_LINE = 16 * _CHUNK
"""Lines longer than this (64 MiB) are decoded in pieces, so memory stays bounded on a file with no line end."""
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def sniff_encoding(head: bytes) -> str:
    """``utf-8``, ``utf-8-sig``, ``utf-16`` or ``utf-32`` (by byte-order mark), or ``legacy`` (not UTF-8: decided per line)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the head's end is still UTF-8.
        if not (len(head) >= HEAD_BYTES and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"):
            return "legacy"
    return "utf-8"


@dataclass(slots=True)
class Transcoding:
    """What rewriting a file to UTF-8 met."""

    encoding: str
    """The file's encoding: ``utf-16``, ``utf-32``, ``utf-8-sig``, ``cp1252``, or ``mixed`` (UTF-8 and cp1252 lines)."""
    legacy_lines: int = 0
    """Lines that were not valid UTF-8 and were read as cp1252."""
    first_legacy_line: int | None = None
    """The 1-based number of the first of them."""
    utf8_lines: int = 0
    """Lines with non-ASCII characters that were valid UTF-8."""


def transcode(source: BinaryIO, target: BinaryIO, encoding: str) -> Transcoding:
    """Copy ``source`` to ``target`` as UTF-8 without a byte-order mark, in bounded memory."""
    if encoding in ("utf-16", "utf-32", "utf-8-sig"):
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        while chunk := source.read(_CHUNK):
            target.write(decoder.decode(chunk).encode("utf-8"))
        target.write(decoder.decode(b"", final=True).encode("utf-8"))
        return Transcoding(encoding)
    return _transcode_lines(source, target)


def _transcode_lines(source: BinaryIO, target: BinaryIO) -> Transcoding:
    result = Transcoding("cp1252")
    line_number = 0
    rest = b""
    while True:
        chunk = source.read(_CHUNK)
        data = rest + chunk
        if chunk:
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < _LONGEST_LINE:
                rest = data  # no line end yet: keep reading
                continue
            data, rest = (data[:cut], data[cut:]) if cut else (data, b"")
        if not data:
            break
        try:
            data.decode("utf-8")  # the fast path: a whole chunk of valid UTF-8
            target.write(data)
            result.utf8_lines += sum(1 for line in data.split(b"\n") if _NON_ASCII.search(line))
            line_number += data.count(b"\n")
        except UnicodeDecodeError:
            parts = data.split(b"\n")
            for index, part in enumerate(parts):
                line = part + b"\n" if index < len(parts) - 1 else part
                if line:
                    line_number += 1
                    target.write(_decode_line(line, line_number, result).encode("utf-8"))
        if not chunk:
            break
    if result.legacy_lines and result.utf8_lines:
        result.encoding = "mixed"
    return result


def _decode_line(line: bytes, number: int, result: Transcoding) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        result.legacy_lines += 1
        if result.first_legacy_line is None:
            result.first_legacy_line = number
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: latin-1 maps every byte
            return line.decode("latin-1")
    if _NON_ASCII.search(line):
        result.utf8_lines += 1
    return text
