"""ONNX models: external-data paths that leave the model's directory, and ops from custom domains.

The protobuf is walked in place (see ``_protobuf``) instead of loaded with the ``onnx`` package: a
multi-gigabyte model costs a pass over its field headers, and its tensors are never copied. Every
graph is visited: the main graph, training graphs, model-local functions and the subgraphs that
control-flow nodes carry in their attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bastion.core import Finding, Severity
from bastion.scanners.interface import ScanError
from bastion.scanners.models._protobuf import Buffer, Field, WireError, iter_fields, sub_fields, text
from bastion.scanners.models.context import ModelContext

# Operator sets that every ONNX runtime implements.
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "ai.onnx.preview"})
# ONNX Runtime's built-in contrib ops: they ship with the runtime, no extra library is loaded.
_RUNTIME_DOMAINS = re.compile(r"^(com\.microsoft(\..+)?|com\.ms\.internal\.nhwc)$")
# Well-known custom-op packages (onnxruntime-extensions, PyTorch's ATen fallback): native code, but a known one.
_KNOWN_CUSTOM_DOMAINS = frozenset({"ai.onnx.contrib", "org.pytorch.aten"})

_MAX_GRAPH_DEPTH = 64
_MAX_OPS_SHOWN = 8


@dataclass(slots=True)
class _Walk:
    data: Buffer
    ctx: ModelContext
    local_functions: set[tuple[str, str]] = field(default_factory=set)
    custom_ops: dict[str, dict[str, int]] = field(default_factory=dict)
    """domain -> op type -> offset of its first node."""
    external: dict[str, tuple[str, int]] = field(default_factory=dict)
    """location -> (tensor name, offset) for external data that escapes the model's directory."""
    nodes: int = 0

    def model(self) -> None:
        for f in iter_fields(self.data):
            if f.number == 7:  # ModelProto.graph
                self.graph(f, 0)
            elif f.number == 20:  # ModelProto.training_info: initialization (1) and algorithm (2) graphs
                for g in sub_fields(self.data, f):
                    if g.number in (1, 2):
                        self.graph(g, 0)
            elif f.number == 25:  # ModelProto.functions
                self.function(f)

    def function(self, function: Field) -> None:
        name = domain = ""
        for f in sub_fields(self.data, function):
            if f.number == 1:
                name = text(self.data, f)
            elif f.number == 10:
                domain = text(self.data, f)
            elif f.number == 7:  # FunctionProto.node
                self.node(f, 1)
            elif f.number == 11:  # FunctionProto.attribute_proto (defaults may hold tensors and graphs)
                self.attribute(f, 1)
        self.local_functions.add((domain, name))

    def graph(self, graph: Field, depth: int) -> None:
        if depth > _MAX_GRAPH_DEPTH:
            raise WireError(f"graphs nested deeper than {_MAX_GRAPH_DEPTH} levels", graph.start)
        for f in sub_fields(self.data, graph):
            if f.number == 1:  # GraphProto.node
                self.node(f, depth)
            elif f.number == 5:  # GraphProto.initializer
                self.tensor(f)
            elif f.number == 15:  # GraphProto.sparse_initializer
                self.sparse_tensor(f)

    def node(self, node: Field, depth: int) -> None:
        self.nodes += 1
        op_type: Field | None = None
        domain = ""
        for f in sub_fields(self.data, node):
            if f.number == 4:
                op_type = f  # decoded only for the few nodes outside the standard domains
            elif f.number == 7:
                domain = text(self.data, f)
            elif f.number == 5:  # NodeProto.attribute
                self.attribute(f, depth)
        if domain not in _STANDARD_DOMAINS and not _RUNTIME_DOMAINS.match(domain):
            name = text(self.data, op_type) if op_type is not None else ""
            self.custom_ops.setdefault(domain, {}).setdefault(name, node.start)

    def attribute(self, attribute: Field, depth: int) -> None:
        for f in sub_fields(self.data, attribute):
            if f.number in (5, 10):  # AttributeProto.t, .tensors
                self.tensor(f)
            elif f.number in (6, 11):  # AttributeProto.g, .graphs
                self.graph(f, depth + 1)
            elif f.number in (22, 23):  # AttributeProto.sparse_tensor, .sparse_tensors
                self.sparse_tensor(f)

    def sparse_tensor(self, sparse: Field) -> None:
        for f in sub_fields(self.data, sparse):
            if f.number in (1, 2):  # SparseTensorProto.values, .indices
                self.tensor(f)

    def tensor(self, tensor: Field) -> None:
        name, location, where = "", None, tensor.start
        for f in sub_fields(self.data, tensor):
            if f.number == 8:
                name = text(self.data, f, 256)
            elif f.number == 13:  # TensorProto.external_data: key/value entries
                key, value = "", ""
                for g in sub_fields(self.data, f):
                    if g.number == 1:
                        key = text(self.data, g)
                    elif g.number == 2:
                        value = text(self.data, g)
                if key == "location":
                    location, where = value, f.start
        # Loaders read the location only when data_location is EXTERNAL; no honest model holds an escaping one at all.
        if location is not None and _escapes(location):
            self.external.setdefault(location, (name, where))

    def findings(self) -> list[Finding]:
        out = []
        for location, (tensor, offset) in self.external.items():
            out.append(
                self.ctx.finding(
                    "model.onnx.external-data-escape",
                    Severity.HIGH,
                    f"tensor {tensor!r} takes its data from {location[:200]!r}, outside the model's directory; "
                    "loading the model reads that file",
                    offset=offset,
                    evidence=location[:200],
                )
            )
        for domain, ops in self.custom_ops.items():
            ops = {op: at for op, at in ops.items() if (domain, op) not in self.local_functions}
            if not ops:
                continue
            names = ", ".join(sorted(ops)[:_MAX_OPS_SHOWN]) + (", …" if len(ops) > _MAX_OPS_SHOWN else "")
            known = domain in _KNOWN_CUSTOM_DOMAINS
            out.append(
                self.ctx.finding(
                    "model.onnx.custom-domain",
                    Severity.MEDIUM if known else Severity.HIGH,
                    f"ops from the custom domain {domain[:200]!r} ({names}) run native code from a custom-op "
                    "library that must be loaded alongside the model",
                    offset=min(ops.values()),
                    evidence=f"domain={domain[:200]} ops: {names}",
                )
            )
        return out


def _escapes(location: str) -> bool:
    """Whether an external-data path is absolute or climbs out of the model's directory."""
    parts = location.replace("\\", "/").split("/")
    return location.startswith(("/", "\\", "~")) or ".." in parts or bool(re.match(r"^[A-Za-z]:", location)) or "\x00" in location


def scan_onnx(data: Buffer, ctx: ModelContext) -> list[Finding]:
    """Findings in an ONNX model; ``ScanError`` when its protobuf is malformed."""
    walk = _Walk(data, ctx)
    try:
        walk.model()
    except WireError as exc:
        malformed = ctx.finding(
            "model.onnx.malformed",
            Severity.MEDIUM,
            f"the ONNX protobuf is malformed ({exc}); runtimes refuse it and the rest was not scanned",
            offset=exc.offset,
        )
        raise ScanError(f"malformed ONNX model: {exc}", findings=[*walk.findings(), malformed], partial=walk.nodes > 0) from None
    return walk.findings()
