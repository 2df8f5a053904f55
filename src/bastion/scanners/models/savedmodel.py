"""TensorFlow SavedModel (``saved_model.pb``): graph ops that run Python, touch files or reach the network.

The protobuf is walked without TensorFlow (see ``_protobuf``): SavedModel → MetaGraphDef → GraphDef.node
and FunctionDefLibrary → FunctionDef.node_def, reading each NodeDef's op and the few attributes that decide
whether an op writes somewhere (PrintV2's output stream, the Debug ops' URLs). Keras layer metadata kept in
the object graph (Lambda layers of TF-Keras SavedModels) goes through the Keras config checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from bastion.core import Finding, Severity
from bastion.scanners.interface import ScanError
from bastion.scanners.models._keras_config import check_config
from bastion.scanners.models._protobuf import LEN, Buffer, Field, WireError, iter_fields, sub_fields, text
from bastion.scanners.models.context import ModelContext

# Ops that call back into the Python interpreter of whoever runs the graph.
_PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

# Ops whose whole purpose is reading or writing files, or talking to another host, at graph run time.
_IO_OPS: dict[str, str] = {
    "ReadFile": "reads a file",
    "WriteFile": "writes a file",
    "MatchingFiles": "lists files matching a pattern",
    "ImmutableConst": "maps a file into memory",
    "WholeFileReader": "reads whole files",
    "WholeFileReaderV2": "reads whole files",
    "TextLineReader": "reads text files",
    "TextLineReaderV2": "reads text files",
    "FixedLengthRecordReader": "reads record files",
    "FixedLengthRecordReaderV2": "reads record files",
    "TFRecordReader": "reads TFRecord files",
    "TFRecordReaderV2": "reads TFRecord files",
    "LMDBReader": "reads LMDB databases",
    "TextLineDataset": "reads text files",
    "TFRecordDataset": "reads TFRecord files",
    "TFRecordDatasetV2": "reads TFRecord files",
    "FixedLengthRecordDataset": "reads record files",
    "FixedLengthRecordDatasetV2": "reads record files",
    "LMDBDataset": "reads LMDB databases",
    "ExperimentalLMDBDataset": "reads LMDB databases",
    "SqlDataset": "queries an SQL database file",
    "ExperimentalSqlDataset": "queries an SQL database file",
    "CSVDataset": "reads CSV files",
    "CSVDatasetV2": "reads CSV files",
    "ExperimentalCSVDataset": "reads CSV files",
    "LoadDataset": "reads a saved dataset from a path",
    "SaveDataset": "writes a dataset to a path",
    "SaveDatasetV2": "writes a dataset to a path",
    "DatasetToTFRecord": "writes a TFRecord file",
    "ExperimentalDatasetToTFRecord": "writes a TFRecord file",
    "SnapshotDataset": "writes dataset snapshots to a path",
    "SnapshotDatasetV2": "writes dataset snapshots to a path",
    "DistributedSave": "writes a dataset to a path",
    "CreateSummaryFileWriter": "writes event files to a directory",
    "CreateSummaryDbWriter": "writes to a database file",
    "DataServiceDataset": "connects to a remote tf.data service",
    "DataServiceDatasetV2": "connects to a remote tf.data service",
    "DataServiceDatasetV3": "connects to a remote tf.data service",
    "DataServiceDatasetV4": "connects to a remote tf.data service",
    "RegisterDataset": "connects to a remote tf.data service",
    "RegisterDatasetV2": "connects to a remote tf.data service",
}

# The checkpoint saver's ops. TensorFlow puts them in every SavedModel (the main graph for TF1, the
# ``__inference__traced_save_N`` / ``_traced_restore_N`` functions for TF2), where they write only
# where the caller of the saver says; anywhere else they read or write at a path the graph chooses.
_SAVER_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "Save", "SaveSlices", "Restore", "RestoreSlice"})
_SAVER_FUNCTIONS = ("_traced_save", "_traced_restore", "save_fn", "restore_fn")

# Ops that write only when an attribute says so: PrintV2 to a ``file://`` stream, Debug ops to their URLs.
_DEBUG_OPS = frozenset(
    {"DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary", "DebugNumericSummaryV2"}
)

_MAX_NAMES_SHOWN = 5


@dataclass(slots=True)
class _Hit:
    """Every node of one op in one graph or function: reported once, with a count."""

    severity: Severity
    what: str
    offset: int
    nodes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Walk:
    data: Buffer
    ctx: ModelContext
    hits: dict[tuple[str, str], _Hit] = field(default_factory=dict)
    extra: list[Finding] = field(default_factory=list)
    nodes: int = 0

    def findings(self) -> list[Finding]:
        out = list(self.extra)
        for (op, scope), hit in self.hits.items():
            names = ", ".join(hit.nodes[:_MAX_NAMES_SHOWN]) + (", …" if len(hit.nodes) > _MAX_NAMES_SHOWN else "")
            rule = "model.savedmodel.python-op" if op in _PYTHON_OPS else "model.savedmodel.unsafe-op"
            count = f"{len(hit.nodes)} nodes" if len(hit.nodes) > 1 else "1 node"
            out.append(
                self.ctx.finding(
                    rule,
                    hit.severity,
                    f"{scope} has {op} ({hit.what}; {count})",
                    offset=hit.offset,
                    evidence=f"op={op} nodes: {names}",
                )
            )
        return out

    def saved_model(self) -> None:
        for f in iter_fields(self.data):
            if f.number == 2:  # SavedModel.meta_graphs
                self.meta_graph(f)

    def saved_metadata(self) -> None:
        """TF-Keras's keras_metadata.pb: SavedMetadata.nodes, each with its layer config as JSON."""
        for node in iter_fields(self.data):
            if node.number != 1:  # SavedMetadata.nodes
                continue
            for f in sub_fields(self.data, node):
                if f.number == 5 and f.wire == LEN:  # SavedObject.metadata
                    self.keras_metadata(f)

    def meta_graph(self, meta: Field) -> None:
        for f in sub_fields(self.data, meta):
            if f.number == 2:  # MetaGraphDef.graph_def
                self.graph_def(f)
            elif f.number == 7:  # MetaGraphDef.object_graph_def
                self.object_graph(f)

    def graph_def(self, graph: Field) -> None:
        for f in sub_fields(self.data, graph):
            if f.number == 1:  # GraphDef.node
                self.node(f, "the main graph", in_saver=True)
            elif f.number == 2:  # GraphDef.library
                for function in sub_fields(self.data, f):
                    if function.number == 1:  # FunctionDefLibrary.function
                        self.function(function)

    def function(self, function: Field) -> None:
        name, nodes = "?", []
        for f in sub_fields(self.data, function):
            if f.number == 1:  # FunctionDef.signature (an OpDef, whose field 1 is the name)
                name = next((text(self.data, g, 256) for g in sub_fields(self.data, f) if g.number == 1), name)
            elif f.number == 3:  # FunctionDef.node_def
                nodes.append(f)
        in_saver = any(marker in name for marker in _SAVER_FUNCTIONS)
        for node in nodes:
            self.node(node, f"function {name!r}", in_saver=in_saver)

    def node(self, node: Field, scope: str, *, in_saver: bool) -> None:
        self.nodes += 1
        name, op, attrs = "?", "", []
        for f in sub_fields(self.data, node):
            if f.number == 1:
                name = text(self.data, f, 256)
            elif f.number == 2:
                op = text(self.data, f, 256)
            elif f.number == 5:
                attrs.append(f)
        verdict = self.judge(op, attrs, in_saver)
        if verdict is None:
            return
        severity, what = verdict
        hit = self.hits.setdefault((op, scope), _Hit(severity, what, node.start))
        hit.nodes.append(name)

    def judge(self, op: str, attrs: list[Field], in_saver: bool) -> tuple[Severity, str] | None:
        if op in _PYTHON_OPS:
            return Severity.CRITICAL, "runs a Python function of the loading process"
        if op in _IO_OPS:
            return Severity.HIGH, _IO_OPS[op]
        if op in _SAVER_OPS and not in_saver:
            return Severity.MEDIUM, "checkpoint I/O outside the saver, at a path the graph chooses"
        if op == "PrintV2":
            stream = self.attr_strings(attrs, "output_stream")
            if any(s.startswith("file://") for s in stream):
                return Severity.HIGH, f"prints tensors to {stream[0][:200]}"
        if op in _DEBUG_OPS:
            urls = self.attr_strings(attrs, "debug_urls")
            if urls:
                return Severity.HIGH, f"sends tensors to {urls[0][:200]}"
        return None

    def attr_strings(self, attrs: list[Field], key: str) -> list[str]:
        """The string value(s) of attribute ``key`` (an ``AttrValue`` with ``s`` or ``list.s``)."""
        for entry in attrs:
            name, value = "", None
            for f in sub_fields(self.data, entry):
                if f.number == 1:
                    name = text(self.data, f, 256)
                elif f.number == 2:
                    value = f
            if name != key or value is None:
                continue
            strings = []
            for f in sub_fields(self.data, value):
                if f.number == 2 and f.wire == LEN:  # AttrValue.s
                    strings.append(text(self.data, f))
                elif f.number == 1:  # AttrValue.list, whose field 2 is the repeated s
                    strings.extend(text(self.data, g) for g in sub_fields(self.data, f) if g.number == 2 and g.wire == LEN)
            return strings
        return []

    def object_graph(self, graph: Field) -> None:
        """TF-Keras kept each layer's config as JSON in SavedUserObject.metadata: check it like a Keras config."""
        for node in sub_fields(self.data, graph):
            if node.number != 1:  # SavedObjectGraph.nodes
                continue
            for f in sub_fields(self.data, node):
                if f.number != 4:  # SavedObject.user_object
                    continue
                for g in sub_fields(self.data, f):
                    if g.number == 3 and g.wire == LEN:  # SavedUserObject.metadata
                        self.keras_metadata(g)

    def keras_metadata(self, f: Field) -> None:
        raw = bytes(self.data[f.start : f.end])
        try:
            config = json.loads(raw)
        except (ValueError, RecursionError):
            return  # not JSON: not Keras metadata, and nothing a loader would deserialize
        self.extra.extend(check_config(config, self.ctx))


def scan_savedmodel(data: Buffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a ``saved_model.pb``; ``ScanError`` when its protobuf is malformed."""
    return _scan(data, ctx, "saved_model.pb", _Walk.saved_model)


def scan_keras_metadata(data: Buffer, ctx: ModelContext) -> list[Finding]:
    """Findings in a TF-Keras ``keras_metadata.pb`` (Lambda layers and custom objects in its layer configs)."""
    return _scan(data, ctx, "keras_metadata.pb", _Walk.saved_metadata)


def _scan(data: Buffer, ctx: ModelContext, name: str, walk_from: Callable[[_Walk], None]) -> list[Finding]:
    walk = _Walk(data, ctx)
    try:
        walk_from(walk)
    except WireError as exc:
        malformed = ctx.finding(
            "model.savedmodel.malformed",
            Severity.MEDIUM,
            f"{name} is not a well-formed protobuf ({exc}); TensorFlow would refuse it and the rest was not scanned",
            offset=exc.offset,
        )
        partial = walk.nodes > 0 or bool(walk.extra)
        raise ScanError(f"malformed {name}: {exc}", findings=[*walk.findings(), malformed], partial=partial) from None
    return walk.findings()
