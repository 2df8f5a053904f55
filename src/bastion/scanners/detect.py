"""What a file is, decided from its bytes (magic numbers and structure), never by its name alone.

Names only help where the content cannot tell on its own: a dependency manifest is text whose
meaning comes from its file name, and a ``.py`` file is never taken for a CSV table.
"""

from __future__ import annotations

import fnmatch
import io
import mmap
import re
import struct
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from bastion.core import Kind

HEAD_SIZE = 64 * 1024
"""How many leading bytes detection looks at."""


class Detection(NamedTuple):
    kind: Kind
    format: str | None


_PICKLE_PROTOCOL_HEADER = re.compile(rb"\x80[\x02-\x05]")
# torch.save's legacy format opens with a pickle of this magic number (LONG1, 10 bytes).
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"
_TORCH_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})

_MANIFESTS = (
    ("pyproject.toml", "pyproject"),
    ("poetry.lock", "poetry-lock"),
    ("Pipfile.lock", "pipfile-lock"),
    ("Pipfile", "pipfile"),
    ("uv.lock", "uv-lock"),
    ("requirements*.txt", "requirements"),
    ("*requirements.txt", "requirements"),
    ("requirements*.in", "requirements"),
    ("constraints*.txt", "requirements"),
)
_MANIFEST_CONTENT = {
    "pyproject": re.compile(rb"^\s*\[(project|tool\.[\w-]+|build-system)\]", re.M),
    "poetry-lock": re.compile(rb"^\s*\[\[package\]\]", re.M),
    "uv-lock": re.compile(rb"^\s*(\[\[package\]\]|version\s*=)", re.M),
    "pipfile": re.compile(rb"^\s*\[(packages|dev-packages|source|requires)\]", re.M),
    "pipfile-lock": re.compile(rb'^\s*\{\s*"_meta"', re.S),
    "requirements": re.compile(rb"^\s*([A-Za-z0-9][A-Za-z0-9._-]*\s*(\[|==|>=|<=|~=|!=|<|>|;|@|$)|-[rcei]\s|--)", re.M),
}
_CODE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyi",
        ".js",
        ".ts",
        ".java",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cpp",
        ".rb",
        ".sh",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
    }
)
_DELIMITERS = (b",", b"\t", b";", b"|")
_TABLE_SAMPLE = 16 * 1024
_TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}


Source = Path | bytes
"""A file on disk, or the whole content of a member already in memory."""


def detect(source: Source, head: bytes, size: int, name: str | None = None) -> Detection:
    """The kind and format of ``source`` (a file, or a member's bytes called ``name``), whose first bytes are ``head``."""
    if size == 0:
        return Detection(Kind.UNKNOWN, "empty")
    if name is None:
        name = source.name if isinstance(source, Path) else ""
    binary = _detect_binary(source, head, size) or _detect_by_model_name(name, head)
    if binary is not None:
        return binary
    if not _is_text(head):
        return Detection(Kind.UNKNOWN, "binary")
    return _detect_text(source, name, head, size)


def _detect_by_model_name(name: str, head: bytes) -> Detection | None:
    """Model formats whose damaged files no longer look like themselves: a file named like one and
    starting like one goes to its handler, which reports what is wrong instead of letting it pass."""
    if name == "keras_metadata.pb":
        return Detection(Kind.MODEL, "keras-metadata")
    if head[:1] == b"\x08" and (name.endswith(".onnx") or name == "saved_model.pb"):
        return Detection(Kind.MODEL, "onnx" if name.endswith(".onnx") else "tf-savedmodel")
    if head[8:10] == b'{"' or (name.endswith(".safetensors") and len(head) >= 8):
        return Detection(Kind.MODEL, "safetensors")
    return None


def detect_bytes(data: bytes, name: str) -> Detection:
    """The kind and format of a member held in memory."""
    return detect(data, data[:HEAD_SIZE], len(data), name)


def _open(source: Source) -> BinaryIO:
    return source.open("rb") if isinstance(source, Path) else io.BytesIO(source)


def _detect_binary(path: Source, head: bytes, size: int) -> Detection | None:
    if head.startswith(b"\x93NUMPY"):
        return Detection(Kind.MODEL, "numpy-npy")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Detection(Kind.MODEL, "hdf5")
    if head.startswith(b"GGUF"):
        return Detection(Kind.MODEL, "gguf")
    if head.startswith(b"PAR1"):
        return Detection(Kind.DATASET, "parquet")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return _detect_zip(path)
    if len(head) > 262 and head[257:262] == b"ustar":
        return _detect_tar(path)
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return Detection(Kind.MODEL, "pytorch-legacy")
    if _PICKLE_PROTOCOL_HEADER.match(head):
        return Detection(Kind.MODEL, "pickle")
    compressed = _detect_compressed(head)
    if compressed is not None:
        return compressed
    if _is_safetensors(head, size):
        return Detection(Kind.MODEL, "safetensors")
    protobuf = _detect_protobuf(path, head)
    if protobuf is not None:
        return protobuf
    if _looks_like_headerless_pickle(head, size):
        return Detection(Kind.MODEL, "pickle")
    return None


def _detect_zip(path: Source) -> Detection:
    # Imported here: the models package imports this module. Its lenient reader takes what torch
    # loads (wrong CRCs, odd local headers) and lists 200k names in a fraction of a second.
    from bastion.scanners.models._zip import ZipError, read_names

    try:
        if isinstance(path, bytes):
            raw = read_names(path)
        else:
            with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                raw = read_names(view)
    except (ZipError, OSError, ValueError):
        return Detection(Kind.ARCHIVE, "zip")
    # One string of all names, one per line, so each rule is a single search (exact while no name holds a newline).
    listing = b"\n" + b"\n".join(raw) + b"\n"
    if listing.count(b"\n") != len(raw) + 1:
        listing = b"\n" + b"\n".join(name.replace(b"\n", b"\r") for name in raw) + b"\n"
    if b"/data.pkl\n" in listing or b"\ndata.pkl\n" in listing:
        return Detection(Kind.MODEL, "pytorch-zip")
    if b"\nconfig.json\n" in listing and (b"\nmodel.weights.h5\n" in listing or b"\nmetadata.json\n" in listing):
        return Detection(Kind.MODEL, "keras-v3")
    if raw and listing.count(b".npy\n") == len(raw):
        return Detection(Kind.MODEL, "numpy-npz")
    if re.search(rb"(\.pkl|\.pickle|\.joblib|[\n/]saved_model\.pb)\n", listing):
        return Detection(Kind.MODEL, "zip")
    return Detection(Kind.ARCHIVE, "zip")


def _detect_tar(path: Source) -> Detection:
    import tarfile

    try:
        with tarfile.open(fileobj=_open(path), mode="r:") as archive:
            names = {member.name for member in archive.getmembers()}
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return Detection(Kind.ARCHIVE, "tar")
    if names >= _TORCH_TAR_MEMBERS or {"pickle", "storages", "tensors"} <= names:
        return Detection(Kind.MODEL, "pytorch-tar")
    return Detection(Kind.ARCHIVE, "tar")


def _detect_compressed(head: bytes) -> Detection | None:
    """gzip, bz2, xz, lzma, lz4 and zlib streams; joblib writes pickles in each of them."""
    if head.startswith(b"\x04\x22\x4d\x18"):
        return Detection(Kind.ARCHIVE, "lz4")
    name = _compression_of(head)
    if name is None:
        return None
    try:
        inner = _decompress_head(name, head)
    except Exception:  # any decoding failure of a corrupt stream: the header alone decides
        return Detection(Kind.ARCHIVE, name) if name in ("gzip", "bz2", "xz") else None
    if _PICKLE_PROTOCOL_HEADER.match(inner) or _looks_like_headerless_pickle(inner):
        return Detection(Kind.MODEL, f"pickle-{name}")
    if len(inner) > 262 and inner[257:262] == b"ustar":
        return Detection(Kind.ARCHIVE, f"tar-{name}")
    if name in ("zlib", "lzma") and not inner:
        return None  # two bytes that happen to look like a zlib or lzma header
    return Detection(Kind.ARCHIVE, name)


def _compression_of(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[:1] == b"\x78" and len(head) > 2 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    return None


def _decompress_head(name: str, head: bytes) -> bytes:
    """The first few KiB of the decompressed stream (bz2 and lzma are imported only when met)."""
    if name == "gzip":
        return zlib.decompressobj(wbits=31).decompress(head, 4096)
    if name == "zlib":
        return zlib.decompressobj().decompress(head, 4096)
    if name == "bz2":
        import bz2

        return bz2.BZ2Decompressor().decompress(head, 4096)
    import lzma

    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ if name == "xz" else lzma.FORMAT_ALONE)
    return decompressor.decompress(head, 4096)


def _is_safetensors(head: bytes, size: int) -> bool:
    if size < 10 or len(head) < 10:
        return False
    (header_len,) = struct.unpack_from("<Q", head)
    return 2 <= header_len <= size - 8 and head[8:9] == b"{"


# Top-level fields of onnx.ModelProto and tensorflow.SavedModel.
_ONNX_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25})
_SAVED_MODEL_FIELDS = frozenset({1, 2})


def _detect_protobuf(path: Source, head: bytes) -> Detection | None:
    """ONNX models and TensorFlow SavedModels are protobuf messages with no magic number."""
    if not head or head[0] != 0x08:
        return None
    try:
        if isinstance(path, bytes):
            fields = _protobuf_fields(path)
        else:
            with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                fields = _protobuf_fields(view)
    except (OSError, ValueError):
        return None
    if 7 in fields and fields <= _ONNX_FIELDS:
        return Detection(Kind.MODEL, "onnx")
    if 2 in fields and fields <= _SAVED_MODEL_FIELDS:
        return Detection(Kind.MODEL, "tf-savedmodel")
    return None


def _protobuf_fields(data: mmap.mmap | bytes) -> set[int]:
    """Field numbers of a top-level protobuf message; ``ValueError`` when it is not well formed."""
    # Imported here, as _detect_zip does: the models package imports this module.
    from bastion.scanners.models._protobuf import iter_fields

    return {field.number for field in iter_fields(data)}


# The opcodes the unpickler accepts on an empty stack (pickletools.opcodes less those that pop, need a MARK
# or read the empty memo): a stream opening with any other fails before anything runs, and the first byte
# decides that without importing pickletools (a torch zip's "little" and "3" members stop here).
_HEADERLESS_OPCODES = 64
"""Opcodes parsed to decide; a stream that parses this far is a pickle."""
_FIRST_OPCODE_BYTES = frozenset(b"()BCFGIJKLMNPSTUVXc]}\x80\x82\x83\x84\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x95\x96\x97")


def _looks_like_headerless_pickle(head: bytes, size: int | None = None) -> bool:
    """A pickle without a PROTO header (protocols 0 and 1, or any stream the unpickler still runs).

    The first opcodes are parsed as the loader parses them, never run. A stream parsing cleanly to
    STOP, or through many opcodes, is a pickle; so is one that breaks off after calling something or
    importing something dangerous (the loader runs that before it fails: ``cos\nsystem\n...tR`` and
    then garbage), and one whose first argument runs past the detection window of a larger file (a
    long first string must not hide what follows it).
    """
    if not head or head[0] not in _FIRST_OPCODE_BYTES:
        return False
    from bastion.scanners.models._pickle_parser import analyze_pickle
    from bastion.scanners.models.allowlist import Verdict

    analysis = analyze_pickle(head, max_opcodes=_HEADERLESS_OPCODES)
    # The loader stops at the first global it cannot import: a CSV header read as GLOBAL's module
    # (``customer_name,email,...``) fails in ``find_class`` before anything runs. Judge what comes before.
    unimportable = [imported.offset for imported in analysis.imports if not _dotted_name(imported.name)]
    if unimportable:
        analysis = analyze_pickle(head[: min(unimportable)], max_opcodes=_HEADERLESS_OPCODES)
    if analysis.limit is not None or (analysis.pickles and analysis.opcodes >= 2):
        return True
    if analysis.invocations or any(imported.verdict is Verdict.DANGEROUS for imported in analysis.imports):
        return True
    if analysis.error is None:
        return False
    if analysis.opcodes >= 16:
        return True
    cut_by_window = size is not None and size > len(head)
    return analysis.opcodes == 0 and cut_by_window and _first_argument_runs_past(head)


def _dotted_name(name: str) -> bool:
    """``module.attribute``: identifiers joined by dots, as ``__import__`` and ``getattr`` take them."""
    return all(part.isidentifier() for part in name.split("."))


def _first_argument_runs_past(head: bytes) -> bool:
    """Whether the first opcode's argument (a newline-ended or length-prefixed string) ends beyond ``head``."""
    op = head[0]
    # Of the newline-ended arguments only strings can be that long and still load (a 64 KiB module
    # name or number cannot); a text file starting with V and holding no newline is no text file.
    if op == 0x56 or (op == 0x53 and head[1:2] in (b"'", b'"')):
        return b"\n" not in head
    widths = {0x58: 4, 0x42: 4, 0x54: 4, 0x8D: 8, 0x8E: 8, 0x96: 8, 0x8C: 1, 0x43: 1, 0x55: 1}
    width = widths.get(op)
    if width is None or len(head) < 1 + width:
        return False
    return int.from_bytes(head[1 : 1 + width], "little") > len(head) - 1 - width


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the head's end
            return True
    # Legacy 8-bit encodings: text if nearly every byte is printable.
    printable = sum(1 for b in head if b >= 0x20 or b in (9, 10, 13))
    return printable >= 0.95 * len(head)


def _detect_text(path: Source, name: str, head: bytes, size: int) -> Detection:
    for pattern, manifest in _MANIFESTS:
        if fnmatch.fnmatchcase(name, pattern) and _MANIFEST_CONTENT[manifest].search(head):
            return Detection(Kind.DEPENDENCIES, manifest)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{") and b'"cells"' in head and _tail_has(path, size, b'"nbformat"'):
        return Detection(Kind.NOTEBOOK, "ipynb")
    if stripped.startswith(b"{") and _is_json_lines(stripped):
        return Detection(Kind.DATASET, "jsonl")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in _CODE_SUFFIXES:
        delimiter = _table_delimiter(stripped, size <= len(head))
        if delimiter is not None:
            return Detection(Kind.DATASET, "tsv" if delimiter == b"\t" else "csv")
    if suffix in _TABLE_SUFFIXES:
        # Text named as a table whose sample cannot show two like rows (a header alone, one column,
        # a header wider than the sample, a quoted field running on): the dataset reader decides.
        return Detection(Kind.DATASET, _TABLE_SUFFIXES[suffix])
    if suffix in (".py", ".pyi") or (head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]):
        return Detection(Kind.CODE, "python")
    return Detection(Kind.CODE, "text")


def _tail_has(path: Source, size: int, needle: bytes) -> bool:
    try:
        with _open(path) as handle:
            handle.seek(max(0, size - 4096))
            return needle in handle.read()
    except OSError:
        return False


def _is_json_lines(head: bytes) -> bool:
    import json

    lines = [line for line in head.split(b"\n")[:8] if line.strip()]
    if len(lines) < 2 and not head.endswith(b"\n"):
        lines = lines[:-1] if len(head) >= HEAD_SIZE else lines
    complete = lines if len(head) < HEAD_SIZE else lines[:-1]
    if not complete:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in complete)
    except ValueError:
        return False


def table_delimiter(head: bytes, size: int) -> str | None:
    """The delimiter every sampled line of a table holds equally often (``,`` tab ``;`` ``|``), or None."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    delimiter = _table_delimiter(stripped, size <= len(head))
    return delimiter.decode() if delimiter is not None else None


def _table_delimiter(head: bytes, whole_file: bool) -> bytes | None:
    """The delimiter of a CSV/TSV table: every sampled line holds the same number of it."""
    sample = head[:_TABLE_SAMPLE]
    lines = _logical_lines(sample)
    if not whole_file or len(sample) < len(head):
        lines = lines[:-1]  # the last line may be cut by the head's end
    lines = [line for line in lines if line.strip()][:50]
    if len(lines) < 2:
        return None
    for delimiter in _DELIMITERS:
        counts = {_count_unquoted(line, delimiter) for line in lines}
        if len(counts) == 1 and counts.pop() >= 1:
            return delimiter
    return None


_RECORD = re.compile(rb'(?:"[^"]*"|[^"\n])*(?:\n|$)')


def _logical_lines(text: bytes) -> list[bytes]:
    """Lines, keeping newlines inside double-quoted fields."""
    return [m.group().rstrip(b"\r\n") for m in _RECORD.finditer(text) if m.group()]


def _count_unquoted(line: bytes, delimiter: bytes) -> int:
    if b'"' not in line:
        return line.count(delimiter)
    return sum(part.count(delimiter) for part in line.split(b'"')[::2])
