"""safetensors files: the header validated by the rules of the reference implementation, and then some.

The format is an 8-byte little-endian header length, a JSON header, and the tensor bytes. The reference
loader (huggingface/safetensors) refuses a header over 100 MB or past the end of the file, JSON that is not
an object of tensor entries, unknown dtypes, shapes whose element count times the dtype's width differs
from the tensor's byte range, and byte ranges that do not tile the data area exactly from 0 to the end of
the file (no gap, no overlap, no trailing bytes). Other loaders are laxer, so each of these is a finding:
a malformed file is how a loader's bounds checks get tested. Duplicate JSON keys, which the reference
accepts but parsers resolve differently, are reported too. Tensor bytes are never read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

from bastion.core import Category, Finding, Severity
from bastion.scanners.models.context import ModelContext
from bastion.scanners.models.scanner import ModelBuffer

MAX_HEADER = 100_000_000
_U64 = 1 << 64
_METADATA_KEY = "__metadata__"
_MAX_FINDINGS = 20

# dtype -> bits per element, as the reference implementation knows them.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


_TENSOR_FIELDS = frozenset({"dtype", "shape", "data_offsets"})


class _Duplicates:
    """A JSON object hook that keeps the last value of a key, as the reference does, and notes repeats.

    The reference accepts repeated tensor names (the last wins) but refuses a repeated field of a tensor.
    """

    def __init__(self) -> None:
        self.keys: dict[str, Severity] = {}

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                self.keys[key] = Severity.HIGH if key in _TENSOR_FIELDS else Severity.MEDIUM
            obj[key] = value
        return obj


def scan_safetensors(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a safetensors file; structural violations are ``model.safetensors.malformed``."""
    problems = list(_problems(data))
    findings = [
        ctx.finding(
            "model.safetensors.malformed",
            severity,
            message,
            offset=offset,
            category=Category.DATA_INTEGRITY,
            remediation="Do not load this file: the reference loader refuses it and laxer ones read out of bounds. "
            "Obtain an intact copy and verify its digest.",
        )
        for severity, message, offset in problems[:_MAX_FINDINGS]
    ]
    if len(problems) > _MAX_FINDINGS:
        findings.append(
            ctx.finding(
                "model.safetensors.malformed",
                max(severity for severity, _, _ in problems[_MAX_FINDINGS:]),
                f"{len(problems) - _MAX_FINDINGS} more problems in the header",
                offset=8,
                category=Category.DATA_INTEGRITY,
            )
        )
    return findings


Problem = tuple[Severity, str, int]


def _problems(data: ModelBuffer) -> Iterator[Problem]:
    size = len(data)
    if size < 8:
        yield Severity.HIGH, f"file of {size} bytes is shorter than the 8-byte header length", 0
        return
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > MAX_HEADER:
        yield Severity.HIGH, f"header length {length} exceeds the {MAX_HEADER}-byte limit of safetensors", 0
        return
    if 8 + length > size:
        yield Severity.HIGH, f"header length {length} runs past the end of the {size}-byte file", 0
        return
    header = _parse_header(bytes(data[8 : 8 + length]))
    if isinstance(header, str):
        yield Severity.HIGH, header, 8
        return
    document, duplicates = header
    for key, severity in duplicates.items():
        yield severity, f"header key {key[:100]!r} appears more than once; parsers disagree on which one counts", 8
    if not isinstance(document, dict):
        yield Severity.HIGH, f"header is a JSON {type(document).__name__}, not an object", 8
        return
    yield from _check_metadata(document.get(_METADATA_KEY))
    tensors = []
    for name, info in document.items():
        if name == _METADATA_KEY:
            continue
        entry = _tensor_entry(name, info)
        if isinstance(entry, str):
            yield Severity.HIGH, entry, 8
        else:
            tensors.append(entry)
    yield from _check_layout(tensors, size - 8 - length)


def _parse_header(raw: bytes) -> tuple[Any, dict[str, Severity]] | str:
    """The header's JSON and its repeated keys, or why it cannot be read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"header is not UTF-8 (byte {exc.start})"
    duplicates = _Duplicates()
    try:
        document = json.loads(text, object_pairs_hook=duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return f"header is not valid JSON ({str(exc)[:200]})"
    return document, duplicates.keys


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_metadata(metadata: Any) -> Iterator[Problem]:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        yield Severity.HIGH, "__metadata__ must map strings to strings", 8


def _tensor_entry(name: str, info: Any) -> tuple[str, int, int, int] | str:
    """(name, start, end, byte size) of a well-formed tensor entry, or what is wrong with it."""
    label = repr(name[:100])
    if not isinstance(info, dict):
        return f"tensor {label} is described by a {type(info).__name__}, not an object"
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"tensor {label} has unknown dtype {str(dtype)[:40]!r}"
    if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
        return f"tensor {label} has shape {str(shape)[:100]}, not a list of non-negative integers"
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_u64(o) for o in offsets):
        return f"tensor {label} has data_offsets {str(offsets)[:100]}, not two non-negative integers"
    elements = 1
    for dim in shape:
        elements *= dim
    bits = elements * DTYPE_BITS[dtype]
    if bits >= _U64 * 8:
        return f"tensor {label} has shape {shape[:8]}, whose size overflows"
    if bits % 8:
        return f"tensor {label} of {dtype} does not end on a byte boundary"
    return name, offsets[0], offsets[1], bits // 8


def _check_layout(tensors: list[tuple[str, int, int, int]], data_size: int) -> Iterator[Problem]:
    """Byte ranges must tile the data area: each tensor starts where the previous one ended."""
    end = 0
    previous = None
    for name, start, stop, nbytes in sorted(tensors, key=lambda t: (t[1], t[2])):
        label = repr(name[:100])
        if stop < start:
            yield Severity.HIGH, f"tensor {label} ends at {stop}, before it starts at {start}", 8
        elif start < end:
            yield Severity.HIGH, f"tensor {label} at [{start}, {stop}) overlaps tensor {previous!r} ending at {end}", 8
        elif start > end:
            yield Severity.HIGH, f"tensor {label} starts at {start}, leaving a gap of {start - end} bytes after offset {end}", 8
        if stop >= start and stop - start != nbytes:
            yield Severity.HIGH, f"tensor {label} spans {stop - start} bytes but its dtype and shape need {nbytes}", 8
        if stop > data_size:
            yield Severity.HIGH, f"tensor {label} ends at {stop}, past the {data_size}-byte data area", 8
        end = max(end, stop)
        previous = name[:100]
    if end < data_size:
        yield Severity.HIGH, f"{data_size - end} bytes after the last tensor are not covered by the header", 8


def _is_u64(value: Any) -> bool:
    return type(value) is int and 0 <= value < _U64
