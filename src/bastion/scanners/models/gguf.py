"""GGUF models (llama.cpp): a strict reading of the header, metadata and tensor table, and the chat templates.

The file is parsed here, in place, with every length and count checked against the bytes that remain
before anything is read or allocated: hostile counts and string lengths are the memory-corruption
triggers of GGUF loaders. The layout rules are llama.cpp's (at most 4 dimensions, rows a whole number of
blocks, tensors packed in order at the file's alignment). Chat templates (``tokenizer.chat_template`` and
its named variants) go to the template analysis of ``_chat_template``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from bastion.core import Category, Finding, Severity
from bastion.scanners.interface import ScanError
from bastion.scanners.models._chat_template import TemplateIssue, analyze_template
from bastion.scanners.models.context import ModelContext
from bastion.scanners.models.scanner import ModelBuffer

_MAGIC = b"GGUF"
_TEMPLATE_KEY = "tokenizer.chat_template"
_ALIGNMENT_KEY = "general.alignment"
_DEFAULT_ALIGNMENT = 32
_MAX_DIMS = 4
_MAX_NAME = 64
_MAX_ARRAY_DEPTH = 4
_MAX_LAYOUT_FINDINGS = 20

# Value types: scalar struct codes; 8 is a string and 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY, _UINT32 = 8, 9, 4

# ggml tensor types: (elements per block, bytes per block).
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
}
_INT64_MAX = (1 << 63) - 1


class _Broken(Exception):
    """The file stops making sense here; what follows cannot be read."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(slots=True)
class _Tensor:
    name: str
    dims: list[int]
    ggml_type: int
    offset: int
    at: int
    """Where its entry in the tensor table begins."""


@dataclass(slots=True)
class _Parser:
    data: ModelBuffer
    ctx: ModelContext
    pos: int = 0
    order: str = "<"
    wide: bool = True
    """Counts and string lengths are 64-bit (versions 2 and 3) rather than 32-bit (version 1)."""
    findings: list[Finding] = field(default_factory=list)
    templates: list[tuple[str, int, int]] = field(default_factory=list)
    alignment: int = _DEFAULT_ALIGNMENT
    layout_findings: int = 0

    def malformed(self, severity: Severity, message: str, offset: int) -> None:
        self.findings.append(
            self.ctx.finding("model.gguf.malformed", severity, message, offset=offset, category=Category.DATA_INTEGRITY)
        )

    def unpack(self, fmt: str, what: str) -> tuple[int | float | bool, ...]:
        fmt = self.order + fmt  # an explicit byte order also means no alignment padding
        size = struct.calcsize(fmt)
        if size > len(self.data) - self.pos:
            raise _Broken(f"file ends inside {what}", self.pos)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def count(self, what: str) -> int:
        (value,) = self.unpack("Q" if self.wide else "I", what)
        return int(value)

    def string(self, what: str) -> tuple[int, int]:
        """The span of a length-prefixed string, checked against what is left of the file."""
        at = self.pos
        length = self.count(f"the length of {what}")
        if length > len(self.data) - self.pos:
            raise _Broken(f"{what} claims {length} bytes, more than the {len(self.data) - self.pos} left in the file", at)
        start = self.pos
        self.pos += length
        return start, self.pos

    def text(self, span: tuple[int, int]) -> str:
        return bytes(self.data[span[0] : span[1]]).decode("utf-8", "replace")

    def header(self) -> tuple[int, int]:
        if bytes(self.data[:4]) != _MAGIC:
            raise _Broken("no GGUF magic number", 0)
        self.pos = 4
        (version,) = self.unpack("I", "the version")
        if version not in (1, 2, 3):
            swapped = int.from_bytes(int(version).to_bytes(4, "little"), "big")
            if swapped not in (2, 3):
                raise _Broken(f"unsupported GGUF version {version}", 4)
            self.order = ">"
        self.wide = version != 1
        tensors = self.count("the tensor count")
        kvs = self.count("the metadata count")
        remaining = len(self.data) - self.pos
        # Each metadata pair takes at least 13 bytes and each tensor entry at least 24: counts that cannot
        # fit are the overflow triggers of GGUF loaders, refused before anything is read.
        if kvs * 13 > remaining or tensors * 24 > remaining:
            raise _Broken(f"{kvs} metadata pairs and {tensors} tensors cannot fit in the {remaining} bytes left", self.pos)
        return kvs, tensors

    def metadata(self, count: int) -> None:
        seen: set[str] = set()
        for _ in range(count):
            at = self.pos
            key = self.text(self.string("a metadata key"))
            (value_type,) = self.unpack("I", f"the type of {key!r}")
            value_at = self.pos
            value = self.value(int(value_type), key, 0)
            if key in seen:
                self.malformed(Severity.MEDIUM, f"metadata key {key[:100]!r} appears twice; loaders disagree on which counts", at)
            seen.add(key)
            if key == _TEMPLATE_KEY or key.startswith(_TEMPLATE_KEY + "."):
                if isinstance(value, tuple):
                    self.templates.append((key, *value))
            elif key == _ALIGNMENT_KEY:
                self.check_alignment(int(value_type), value, value_at)

    def value(self, value_type: int, key: str, depth: int) -> object:
        """Read one value; a string comes back as its span, other values only where they matter."""
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type], f"the value of {key!r}")[0]
        if value_type == _STRING:
            return self.string(f"the value of {key!r}")
        if value_type != _ARRAY:
            raise _Broken(f"metadata {key[:100]!r} has unknown value type {value_type}", self.pos - 4)
        if depth >= _MAX_ARRAY_DEPTH:
            raise _Broken(f"metadata {key[:100]!r} nests arrays more than {_MAX_ARRAY_DEPTH} deep", self.pos)
        at = self.pos
        (item_type,) = self.unpack("I", f"the item type of {key!r}")
        length = self.count(f"the length of {key!r}")
        remaining = len(self.data) - self.pos
        if item_type in _SCALARS:
            size = length * struct.calcsize(_SCALARS[int(item_type)])
            if size > remaining:
                raise _Broken(f"array {key[:100]!r} claims {length} items, more than the file holds", at)
            self.pos += size
        elif item_type == _STRING:
            if length * (8 if self.wide else 4) > remaining:
                raise _Broken(f"array {key[:100]!r} claims {length} strings, more than the file holds", at)
            self.skip_strings(length, key)
        elif item_type == _ARRAY:
            if length * 12 > remaining:
                raise _Broken(f"array {key[:100]!r} claims {length} arrays, more than the file holds", at)
            for _ in range(length):
                self.value(_ARRAY, key, depth + 1)
        else:
            raise _Broken(f"array {key[:100]!r} has unknown item type {item_type}", at)
        return None

    def skip_strings(self, count: int, key: str) -> None:
        """Step over ``count`` strings (vocabularies hold hundreds of thousands): a tight loop, same checks."""
        length = struct.Struct(self.order + ("Q" if self.wide else "I"))
        data, pos, end = self.data, self.pos, len(self.data)
        for _ in range(count):
            if pos + length.size > end:
                raise _Broken(f"file ends inside array {key[:100]!r}", pos)
            (size,) = length.unpack_from(data, pos)
            pos += length.size + size
            if pos > end:
                raise _Broken(f"a string in array {key[:100]!r} claims {size} bytes, more than the file holds", pos - size)
        self.pos = pos

    def check_alignment(self, value_type: int, value: object, at: int) -> None:
        if value_type == _UINT32 and isinstance(value, int) and value > 0 and value & (value - 1) == 0:
            self.alignment = value
        else:
            self.malformed(Severity.MEDIUM, f"general.alignment is {value!r}, not a power of two stored as uint32", at)

    def tensor_table(self, count: int) -> list[_Tensor]:
        tensors = []
        for _ in range(count):
            at = self.pos
            name = self.text(self.string("a tensor name"))
            (n_dims,) = self.unpack("I", f"the dimension count of {name!r}")
            if n_dims > _MAX_DIMS:
                raise _Broken(f"tensor {name[:100]!r} has {n_dims} dimensions; ggml allows {_MAX_DIMS}", at)
            dims = [int(d) for d in self.unpack("q" * int(n_dims), f"the shape of {name!r}")]
            ggml_type, offset = self.unpack("IQ", f"the type and offset of {name!r}")
            tensors.append(_Tensor(name, dims, int(ggml_type), int(offset), at))
        return tensors

    def layout(self, tensors: list[_Tensor]) -> None:
        """Each tensor's bytes within the file, packed in order as llama.cpp requires."""
        data_start = -(-self.pos // self.alignment) * self.alignment
        room = max(0, len(self.data) - data_start)
        expected = 0
        names: set[str] = set()
        spans: list[tuple[int, int, str]] = []
        for tensor in tensors:
            if len(tensor.name.encode()) >= _MAX_NAME:
                self.layout_problem(
                    Severity.MEDIUM, f"tensor name {tensor.name[:100]!r} is longer than ggml's {_MAX_NAME - 1}", tensor
                )
            if tensor.name in names:
                self.layout_problem(Severity.MEDIUM, f"tensor {tensor.name[:100]!r} appears twice", tensor)
            names.add(tensor.name)
            size = self.tensor_size(tensor)
            if size is None:
                continue
            if tensor.offset % self.alignment:
                self.layout_problem(
                    Severity.MEDIUM, f"tensor {tensor.name[:100]!r} is not aligned to {self.alignment} bytes", tensor
                )
            elif tensor.offset != expected:
                self.layout_problem(
                    Severity.MEDIUM,
                    f"tensor {tensor.name[:100]!r} is at {tensor.offset}, not at {expected} where it belongs",
                    tensor,
                )
            if tensor.offset + size > room:
                self.layout_problem(
                    Severity.HIGH,
                    f"tensor {tensor.name[:100]!r} runs past the end of the file ({tensor.offset + size} > {room})",
                    tensor,
                )
            spans.append((tensor.offset, tensor.offset + size, tensor.name))
            expected = tensor.offset + -(-size // self.alignment) * self.alignment
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            if start < end:
                self.malformed(Severity.HIGH, f"tensors {first[:100]!r} and {second[:100]!r} overlap", data_start + start)
                break

    def tensor_size(self, tensor: _Tensor) -> int | None:
        if tensor.ggml_type not in _GGML_TYPES:
            self.layout_problem(Severity.MEDIUM, f"tensor {tensor.name[:100]!r} has unknown ggml type {tensor.ggml_type}", tensor)
            return None
        block, block_bytes = _GGML_TYPES[tensor.ggml_type]
        elements = 1
        for dim in tensor.dims:
            if dim < 0 or (dim and elements > _INT64_MAX // dim):
                self.layout_problem(
                    Severity.HIGH, f"tensor {tensor.name[:100]!r} has shape {tensor.dims}, which overflows", tensor
                )
                return None
            elements *= dim
        if tensor.dims and tensor.dims[0] % block:
            self.layout_problem(
                Severity.HIGH, f"tensor {tensor.name[:100]!r} rows of {tensor.dims[0]} are not whole blocks of {block}", tensor
            )
            return None
        return elements // block * block_bytes

    def layout_problem(self, severity: Severity, message: str, tensor: _Tensor) -> None:
        self.layout_findings += 1
        if self.layout_findings <= _MAX_LAYOUT_FINDINGS:
            self.malformed(severity, message, tensor.at)

    def template_findings(self) -> Iterator[Finding]:
        for key, start, end in self.templates:
            source = self.text((start, end))
            issues = analyze_template(source)
            for rule in sorted({issue.rule for issue in issues}):
                yield self.template_finding(key, source, [i for i in issues if i.rule == rule], start)

    def template_finding(self, key: str, source: str, issues: list[TemplateIssue], offset: int) -> Finding:
        issues.sort(key=lambda i: (-i.severity.rank, i.line or 0))
        worst = issues[0]
        where = f" (line {worst.line})" if worst.line else ""
        more = f"; {len(issues) - 1} more" if len(issues) > 1 else ""
        lines = source.splitlines()
        excerpt = lines[worst.line - 1].strip()[:200] if worst.line and worst.line <= len(lines) else ""
        details = "; ".join(f"{i.message} (line {i.line})" for i in issues[:10])
        return self.ctx.finding(
            f"model.gguf.{worst.rule}",
            worst.severity,
            f"chat template {key!r}: {worst.message}{where}{more}",
            offset=offset,
            evidence=f"{excerpt} | {details}"[:1000] if excerpt else details[:1000],
            remediation=_TEMPLATE_ADVICE,
        )


_TEMPLATE_ADVICE = (
    "Do not serve this model with its embedded chat template. Replace the template with the model vendor's "
    "published one, and render templates only in a sandboxed environment (jinja2.sandbox.ImmutableSandboxedEnvironment)."
)


def scan_gguf(data: ModelBuffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a GGUF file; ``ScanError`` when its structure breaks off before the end of the tensor table."""
    parser = _Parser(data, ctx)
    try:
        kvs, tensors = parser.header()
        parser.metadata(kvs)
        table = parser.tensor_table(tensors)
    except _Broken as broken:
        parser.malformed(Severity.HIGH, f"malformed GGUF: {broken}; loaders that trust it read out of bounds", broken.offset)
        findings = [*parser.findings, *parser.template_findings()]
        raise ScanError(f"malformed GGUF: {broken}", findings=findings, partial=broken.offset > 0) from None
    parser.layout(table)
    return [*parser.findings, *parser.template_findings()]
