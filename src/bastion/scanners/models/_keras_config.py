"""Checks of a Keras model config (the JSON Keras deserializes): what it would import, call or unmarshal.

Keras rebuilds a model from nested ``{"module", "class_name", "config", "registered_name"}`` objects.
What can run code while it does:

- Lambda layers carry marshalled Python bytecode (CVE-2024-3660); HDF5 loading ignores ``safe_mode``
  altogether (CVE-2025-9905).
- Before Keras 3.9, ``module`` + ``class_name`` named any importable function or class, called with the
  layer's arguments: ``subprocess.Popen``, ``builtins.exec`` (CVE-2025-1550).
- Inside Keras itself: ``keras.utils.get_file`` (download and write files), ``keras.models.load_model``
  (a nested load without safe mode), ``keras.config.enable_unsafe_deserialization`` (switches safe mode off
  for the Lambda that follows, CVE-2025-9906), ``TFSMLayer`` (loads an external SavedModel, CVE-2026-1462),
  lookup layers whose vocabulary is a file path (reads local files or URLs, CVE-2025-12058).

Objects from other packages that Keras would import are custom code: reported for review.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, TypeAlias

from bastion.core import Finding, Severity
from bastion.scanners.models.context import ModelContext

CheckConfig: TypeAlias = Callable[[Any, ModelContext], list[Finding]]

# Packages whose objects Keras itself resolves (it imports only these since 3.9).
_FRAMEWORK_PACKAGES = frozenset({"keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv", "keras_rs", "tensorflow"})

# Objects of those packages that are not modelling code: Keras 3's own NON_MODELING_APIS and their
# siblings, plus TensorFlow's file and Python-callback functions.
_GADGETS = frozenset(
    {
        "get_file",
        "load_model",
        "model_from_json",
        "model_from_yaml",
        "model_from_config",
        "save_model",
        "load_weights",
        "save_weights",
        "enable_unsafe_deserialization",
        "SafeModeScope",
        "deserialize_keras_object",
        "serialize_keras_object",
        "register_keras_serializable",
        "clear_session",
        "load_img",
        "save_img",
        "image_dataset_from_directory",
        "text_dataset_from_directory",
        "audio_dataset_from_directory",
        "func_load",
        "extract_archive",
        "TFSMLayer",
        "py_function",
        "numpy_function",
        "py_func",
        "eager_py_func",
        "read_file",
        "write_file",
        "load_op_library",
        "load_library",
    }
)
# Modules of those packages that hold only file, saving and code-loading utilities.
_GADGET_MODULES = frozenset(
    {
        "file_utils",
        "saving_lib",
        "saving_api",
        "legacy_h5_format",
        "serialization_lib",
        "python_utils",
        "export",
        "gfile",
        "file_io",
        "script_ops",
        "saved_model",
        "load_library",
    }
)

# Modules whose functions and classes spawn processes, run code, import, or touch files and sockets.
_DANGEROUS_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "posixpath",
        "ntpath",
        "subprocess",
        "sys",
        "importlib",
        "runpy",
        "socket",
        "shutil",
        "pickle",
        "_pickle",
        "marshal",
        "ctypes",
        "code",
        "codeop",
        "pty",
        "webbrowser",
        "urllib",
        "http",
        "requests",
        "httpx",
        "tempfile",
        "pathlib",
        "io",
        "_io",
        "shlex",
        "multiprocessing",
        "threading",
        "_thread",
        "signal",
        "asyncio",
        "ftplib",
        "smtplib",
        "telnetlib",
        "tarfile",
        "zipfile",
        "glob",
        "fileinput",
        "pdb",
        "bdb",
        "timeit",
        "cProfile",
        "profile",
        "trace",
        "doctest",
        "pydoc",
        "pkgutil",
        "operator",
        "functools",
        "types",
        "inspect",
        "dill",
        "joblib",
        "cloudpickle",
    }
)
# Builtins that run code, import, reach attributes by name or open files. Keras < 3.9 resolved
# ``{"module": "builtins", "class_name": "function", "config": NAME}`` to these.
_DANGEROUS_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "exit",
        "quit",
        "help",
        "__build_class__",
        "__loader__",
    }
)
_DANGEROUS_NAMES = frozenset({"system", "popen", "Popen", "exec", "eval", "spawn", "execv", "execve", "check_output", "run"})

# Names in Lambda bytecode worth showing as evidence (the bytecode itself is never unmarshalled).
_BYTECODE_NAMES = frozenset(
    {
        "os",
        "system",
        "popen",
        "subprocess",
        "Popen",
        "exec",
        "eval",
        "compile",
        "__import__",
        "__builtins__",
        "builtins",
        "open",
        "getattr",
        "socket",
        "urllib",
        "requests",
        "pickle",
        "marshal",
        "ctypes",
        "shutil",
        "importlib",
        "check_output",
        "environ",
        "remove",
        "rmtree",
    }
)
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{1,63}")
_MAX_BYTECODE = 1 << 20
# TF-Keras layers that call ``tf.<config.function>``, and the parts of such names that are not maths.
_TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
_TF_GADGET_PARTS = frozenset({"io", "gfile", "saved_model", "summary", "print", "debugging"})
_LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup"})
_MAX_NODES = 5_000_000


def check_config(config: Any, ctx: ModelContext) -> list[Finding]:
    """Findings for one Keras config: ``config.json``, an HDF5 ``model_config`` or ``training_config``, TF-Keras metadata."""
    checker = _Checker(ctx)
    checker.walk(config)
    return list(checker.found.values())


def parse_config(raw: bytes | str) -> Any:
    """The JSON of a config; ``ValueError`` when it is not JSON (including nesting too deep to parse)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class _Checker:
    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        self.found: dict[tuple[str, str], Finding] = {}

    def add(self, rule: str, severity: Severity, message: str, evidence: str | None = None, *, key: str | None = None) -> None:
        """Record a finding once per (rule, key); the key defaults to the message."""
        slot = (rule, key or message)
        if slot not in self.found:
            self.found[slot] = self.ctx.finding(rule, severity, message, evidence=evidence)

    def walk(self, root: Any) -> None:
        stack: list[tuple[Any, str | None]] = [(root, None)]
        seen = 0
        while stack:
            value, layer = stack.pop()
            seen += 1
            if seen > _MAX_NODES:
                self.add(
                    "model.keras.malformed",
                    Severity.MEDIUM,
                    f"config has more than {_MAX_NODES} values; the rest was not checked",
                )
                return
            if isinstance(value, list):
                stack.extend((item, layer) for item in value)
            elif isinstance(value, dict):
                layer = self.object(value, layer)
                stack.extend((item, layer) for item in value.values())

    def object(self, obj: dict[str, Any], layer: str | None) -> str | None:
        """Check one config object; returns the layer name its children belong to."""
        class_name = obj.get("class_name")
        if not isinstance(class_name, str):
            return layer
        inner = obj.get("config")
        name = obj.get("name")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            name = inner["name"]
        if isinstance(name, str):
            layer = name
            self.layer_name(name)
        where = f"layer {layer!r}" if layer else "the model config"
        if class_name == "__lambda__":
            code = inner.get("code") if isinstance(inner, dict) else None
            self.lambda_bytecode(where, code)
        elif class_name == "Lambda" and isinstance(inner, dict):
            self.legacy_lambda(where, inner)
        if class_name in _LOOKUP_LAYERS and isinstance(inner, dict):
            self.vocabulary_file(where, class_name, inner)
        if class_name in _TF_OP_LAYERS and isinstance(inner, dict) and isinstance(inner.get("function"), str):
            self.tf_op(where, inner["function"], obj)
        if class_name.startswith("__") and class_name.endswith("__"):
            return layer  # Keras's own markers: __tensor__, __numpy__, __keras_tensor__, ...
        module = obj.get("module") if isinstance(obj.get("module"), str) else None
        if class_name == "function":
            if isinstance(inner, str):
                self.reference(where, module, inner, obj, function=True)
        else:
            self.reference(where, module, class_name, obj, function=False)
        return layer

    def reference(self, where: str, module: str | None, name: str, obj: dict[str, Any], *, function: bool) -> None:
        """An object Keras resolves by module and name: inside Keras, a gadget; outside, an import."""
        full = f"{module}.{name}" if module else name
        evidence = _evidence(obj)
        package = module.split(".", 1)[0] if module else ""
        if not module or package in _FRAMEWORK_PACKAGES:
            segments = module.split(".") if module else []
            if name in _GADGETS or any(s in _GADGET_MODULES for s in segments):
                severity = Severity.HIGH if name == "TFSMLayer" else Severity.CRITICAL
                self.add(
                    "model.keras.unsafe-gadget",
                    severity,
                    f"{where} uses {full}, which is not modelling code: it loads, downloads or writes files or "
                    "switches safe mode off (CVE-2025-8747, CVE-2025-9906, CVE-2026-1462)",
                    evidence,
                )
            return
        kind = "function" if function else "class"
        if package == "builtins":
            if name in _DANGEROUS_BUILTINS:
                self.add(
                    "model.keras.unsafe-module",
                    Severity.CRITICAL,
                    f"{where} calls builtins.{name}, which runs code or reaches objects by name (CVE-2025-1550)",
                    evidence,
                )
            return  # Keras functions (losses, activations) are saved as builtins.NAME and resolved inside Keras
        if package in _DANGEROUS_MODULES or name in _DANGEROUS_NAMES:
            self.add(
                "model.keras.unsafe-module",
                Severity.CRITICAL,
                f"{where} names the {kind} {full}, which Keras imports and calls while loading (CVE-2025-1550)",
                evidence,
            )
        elif function:
            self.add(
                "model.keras.unsafe-module",
                Severity.HIGH,
                f"{where} names the function {full} from outside Keras, which older Keras imports and calls while loading",
                evidence,
            )
        else:
            self.add(
                "model.keras.custom-object",
                Severity.MEDIUM,
                f"{where} needs the custom class {full}, imported from outside Keras when the model loads",
                evidence,
                key=full,
            )

    def lambda_bytecode(self, where: str, code: Any) -> None:
        names = _bytecode_names(code) if isinstance(code, str) else []
        detail = f"; names in it: {', '.join(names)}" if names else ""
        self.add(
            "model.keras.lambda-layer",
            Severity.CRITICAL,
            f"{where} embeds marshalled Python bytecode that Keras runs when the model is loaded "
            f"(Lambda layer, CVE-2024-3660; HDF5 files ignore safe_mode, CVE-2025-9905){detail}",
            f"{len(code) if isinstance(code, str) else 0} base64 characters of bytecode{detail}",
        )

    def legacy_lambda(self, where: str, config: dict[str, Any]) -> None:
        """Keras 2 Lambda layers: ``function`` is [bytecode, defaults, closure] or a function's name."""
        for key in ("function", "output_shape", "mask"):
            value = config.get(key)
            kind = config.get(f"{key}_type")
            if isinstance(value, list) and value and isinstance(value[0], str) and kind in ("lambda", None):
                self.lambda_bytecode(where, value[0])
            elif isinstance(value, str) and kind == "function":
                module = config.get(f"{key}_module") if key != "function" else config.get("module")
                full = f"{module}.{value}" if isinstance(module, str) and module else value
                dangerous = (isinstance(module, str) and module.split(".")[0] in _DANGEROUS_MODULES) or value in _DANGEROUS_NAMES
                self.add(
                    "model.keras.lambda-layer",
                    Severity.CRITICAL if dangerous else Severity.HIGH,
                    f"{where} is a Lambda layer calling the Python function {full}",
                    _evidence(config),
                )
        if isinstance(config.get("function"), dict):
            function = config["function"]
            if function.get("class_name") == "function" and isinstance(function.get("config"), str):
                self.add(
                    "model.keras.lambda-layer",
                    Severity.HIGH,
                    f"{where} is a Lambda layer calling the Python function {function.get('module') or '?'}.{function['config']}",
                    _evidence(function),
                )

    def tf_op(self, where: str, function: str, obj: dict[str, Any]) -> None:
        """TF-Keras wraps a TensorFlow function used in a functional model as a layer naming ``tf.<function>``."""
        if any(part in _GADGETS or part in _TF_GADGET_PARTS for part in function.split(".")):
            self.add(
                "model.keras.unsafe-gadget",
                Severity.CRITICAL,
                f"{where} calls tf.{function[:200]}, which reads or writes files or runs Python when the model runs",
                _evidence(obj),
            )

    def vocabulary_file(self, where: str, class_name: str, config: dict[str, Any]) -> None:
        vocabulary = config.get("vocabulary")
        if isinstance(vocabulary, str) and vocabulary:
            self.add(
                "model.keras.external-file",
                Severity.HIGH,
                f"{where} is a {class_name} whose vocabulary is read from {vocabulary[:200]!r} when the model loads "
                "(local file read or server-side request, CVE-2025-12058)",
                vocabulary[:200],
            )

    def layer_name(self, name: str) -> None:
        # Keras refuses '/' in names; '..' and absolute paths aim at the files it writes per layer (CVE-2026-12479).
        parts = re.split(r"[/\\]", name)
        if ".." in parts or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[/\\]", name):
            self.add(
                "model.keras.path-traversal",
                Severity.HIGH,
                f"layer name {name[:200]!r} is a path that leaves the model's directory",
                name[:200],
            )


def _bytecode_names(code: str) -> list[str]:
    try:
        raw = base64.b64decode(code[: _MAX_BYTECODE * 4 // 3 + 4], validate=False)
    except (binascii.Error, ValueError):
        return []
    names = {match.decode() for match in _IDENTIFIER.findall(raw)}
    return sorted(names & _BYTECODE_NAMES)


def _evidence(obj: dict[str, Any]) -> str:
    """The identifying keys of a config object, and the arguments a functional model would call it with."""
    keys = ("module", "class_name", "registered_name", "config", "function", "function_type", "inbound_nodes")
    shown = {k: obj[k] for k in keys if k in obj and (k != "config" or isinstance(obj[k], str))}
    text = json.dumps(shown, default=str)[:2000]
    return text if len(text) <= 300 else text[:300] + "…"
