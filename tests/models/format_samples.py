"""Samples for the non-pickle model formats: benign files written by the real libraries, malicious and
malformed ones assembled by hand. Nothing here is ever loaded by a framework.

Payloads that some loader could run (Lambda bytecode, CVE-2025-1550 calls) would only create the marker
file they were built with; the tests scan them all and check that the marker does not exist afterwards.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

# --------------------------------------------------------------------------------------------- Keras

KERAS_METADATA = {"keras_version": "3.9.0", "date_saved": "2025-01-01@00:00:00"}


def keras_dense(name: str = "dense", units: int = 2) -> dict[str, Any]:
    """A Dense layer's config exactly as Keras 3 writes it."""
    initializer = {
        "module": "keras.initializers",
        "class_name": "GlorotUniform",
        "config": {"seed": None},
        "registered_name": None,
    }
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None},
            "units": units,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": initializer,
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None},
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
    }


def keras_sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    input_layer = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"},
        "registered_name": None,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "trainable": True, "layers": [input_layer, *layers]},
        "registered_name": None,
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"name": "adam"},
                "registered_name": None,
            },
            "loss": {
                "module": "builtins",
                "class_name": "function",
                "config": "mean_squared_error",
                "registered_name": "function",
            },
            "metrics": ["mae"],
        },
    }


def keras_functional(*layers: dict[str, Any]) -> dict[str, Any]:
    """A functional model whose layers are called in a chain, as CVE-2025-1550 payloads are."""
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 1], "dtype": "float32", "name": "input_layer"},
                    "registered_name": None,
                    "name": "input_layer",
                    "inbound_nodes": [],
                },
                *layers,
            ],
            "input_layers": ["input_layer", 0, 0],
            "output_layers": [layers[-1].get("name", "out"), 0, 0] if layers else ["input_layer", 0, 0],
        },
        "registered_name": "Functional",
    }


def call_layer(module: str, name: str, args: list[Any], *, function: bool = True, layer: str = "evil") -> dict[str, Any]:
    """A functional-model layer that is really ``module.name(*args)``."""
    return {
        "module": module,
        "class_name": "function" if function else name,
        "config": name if function else {"name": layer},
        "registered_name": "function" if function else None,
        "name": layer,
        "inbound_nodes": [{"args": args, "kwargs": {}}],
    }


def marshalled_lambda(marker: Path) -> str:
    """Base64 of marshalled bytecode that would create ``marker``; compiled here, never run."""
    code = compile(f"lambda x: __import__('os').system('touch {marker}') or x", "<payload>", "eval")
    return base64.b64encode(marshal.dumps(code)).decode()


def keras3_lambda(marker: Path, name: str = "evil_lambda") -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": name,
            "function": {
                "class_name": "__lambda__",
                "config": {"code": marshalled_lambda(marker), "defaults": None, "closure": None},
            },
            "arguments": {},
        },
        "registered_name": None,
    }


def keras2_lambda(marker: Path, name: str = "lambda") -> dict[str, Any]:
    """A Lambda layer as Keras 2 wrote it into HDF5 ``model_config``."""
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "function": [marshalled_lambda(marker), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }


def keras2_sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    dense = {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu", "use_bias": True}}
    return {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [dense, *layers]},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


def weights_h5() -> bytes:
    """A ``model.weights.h5`` in the layout Keras 3 writes."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("layers/dense/vars")
        h5["layers/dense/vars/0"] = np.zeros((4, 2), dtype=np.float32)
        h5["layers/dense/vars/1"] = np.zeros((2,), dtype=np.float32)
        h5.create_group("optimizer/vars")
    return buffer.getvalue()


def keras_archive(config: dict[str, Any] | bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """A ``.keras`` zip as Keras 3 writes it (stored members), with ``extra`` members added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps(KERAS_METADATA))
        archive.writestr("config.json", config if isinstance(config, bytes) else json.dumps(config))
        archive.writestr("model.weights.h5", weights_h5())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def keras_h5(model_config: dict[str, Any] | str, training_config: dict[str, Any] | None = None, **attrs: Any) -> bytes:
    """A Keras 2 ``.h5`` model file: root attributes and weight groups as Keras writes them."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["model_config"] = model_config if isinstance(model_config, str) else json.dumps(model_config)
        if training_config is not None:
            h5.attrs["training_config"] = json.dumps(training_config)
        weights = h5.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense"])
        dense = weights.create_group("dense/dense")
        dense["kernel:0"] = np.zeros((4, 2), dtype=np.float32)
        weights["dense"].attrs["weight_names"] = np.array([b"dense/kernel:0"])
        for key, value in attrs.items():
            h5.attrs[key] = value
    return buffer.getvalue()


# ------------------------------------------------------------------------------------- protobuf


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: an int as a varint, bytes or str length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def tf_attr(key: str, string: str | None = None, strings: list[str] | None = None) -> bytes:
    """A NodeDef.attr map entry holding AttrValue.s or AttrValue.list.s."""
    value = pb(2, string) if string is not None else pb(1, b"".join(pb(2, s) for s in strings or []))
    return pb(5, pb(1, key) + pb(2, value))


def tf_node(name: str, op: str, *attrs: bytes, inputs: tuple[str, ...] = ()) -> bytes:
    return pb(1, name) + pb(2, op) + b"".join(pb(3, i) for i in inputs) + b"".join(attrs)


def tf_function(name: str, *nodes: bytes) -> bytes:
    return pb(1, pb(1, name)) + b"".join(pb(3, node) for node in nodes)


def saved_model(nodes: Sequence[bytes], functions: Sequence[bytes] = (), user_metadata: Sequence[str] = ()) -> bytes:
    """SavedModel{schema_version, meta_graphs{graph_def{node, library{function}}, object_graph_def}}."""
    library = pb(2, b"".join(pb(1, f) for f in functions)) if functions else b""
    graph = b"".join(pb(1, n) for n in nodes) + library
    objects = b"".join(pb(1, pb(4, pb(1, "_tf_keras_layer") + pb(3, meta))) for meta in user_metadata)
    meta_graph = pb(1, pb(1, "serve")) + pb(2, graph) + (pb(7, objects) if objects else b"")
    return pb(1, 1) + pb(2, meta_graph)


def benign_saved_model() -> bytes:
    """A SavedModel graph with the saver subgraphs TensorFlow always writes (TF1 and TF2 style)."""
    nodes = [
        tf_node("x", "Placeholder"),
        tf_node("w", "VarHandleOp"),
        tf_node("matmul", "MatMul", inputs=("x", "w")),
        tf_node("out", "Identity", inputs=("matmul",)),
        tf_node("print", "PrintV2", tf_attr("output_stream", "stderr")),
        tf_node("saver_filename", "Placeholder"),
        tf_node("save/SaveV2", "SaveV2"),
        tf_node("save/RestoreV2", "RestoreV2"),
        tf_node("StatefulPartitionedCall", "StatefulPartitionedCall"),
    ]
    functions = [
        tf_function("__inference_serving_default_101", tf_node("dense/MatMul", "MatMul"), tf_node("dense/Relu", "Relu")),
        tf_function(
            "__inference__traced_save_152",
            tf_node("StaticRegexFullMatch", "StaticRegexFullMatch"),
            tf_node("ShardedFilename", "ShardedFilename"),
            tf_node("SaveV2", "SaveV2"),
            tf_node("MergeV2Checkpoints", "MergeV2Checkpoints"),
        ),
        tf_function(
            "__inference__traced_restore_170", tf_node("RestoreV2", "RestoreV2"), tf_node("AssignVariableOp", "AssignVariableOp")
        ),
    ]
    return saved_model(nodes, functions, [json.dumps({"class_name": "Dense", "config": {"name": "dense", "units": 2}})])


# ------------------------------------------------------------------------------------- GGUF

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA3 = """{{- bos_token }}
{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}
{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}
{%- endif %}
{%- if not tools is defined %}{%- set tools = none %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n" }}
{%- endif %}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '{"name": "' + tool_call.name + '", "parameters": ' }}{{- tool_call.arguments | tojson }}{{- "}<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {%- if message.content is mapping or message.content is iterable %}{{- message.content | tojson }}
        {%- else %}{{- message.content }}{%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

QWEN_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}
    {%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first)
        or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}{{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
        {{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

HERMES_TOOLS = """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"} %}
{%- if basic_type_map[json_spec.type] is defined %}{{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}{{- "list[" + json_to_python_type(json_spec|items) + "]" }}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']' }}
    {%- else %}{{- "dict" }}{%- endif %}
{%- else %}{{- "Any" }}{%- endif %}
{%- endmacro %}
{{- bos_token }}
{%- for tool in tools %}
    {%- if tool.function is defined %}{%- set tool = tool.function %}{%- endif %}
    {{- '{"type": "function", "function": {"name": "' + tool.name + '", "description": "' + tool.name + '(' }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {{- param_name + ": " + json_to_python_type(param_fields) }}{%- if not loop.last %}{{- ", " }}{%- endif %}
    {%- endfor %}
    {{- ")" }}{%- if tool.return is defined %}{{- " -> " + json_to_python_type(tool.return) }}{%- endif %}
    {{- " - " + tool.description + "\\n\\n" }}
    {%- for param_name, param_fields in tool.parameters.properties|dictsort %}
        {%- if loop.first %}{{- "    Args:\\n" }}{%- endif %}
        {{- "        " + param_name + "(" + json_to_python_type(param_fields) + "): " + param_fields.description|trim }}
    {%- endfor %}
    {{- '"}}' }}
{%- endfor %}
{%- set user_messages = messages | selectattr("role", "equalto", "user") | map(attribute="content") | list %}
{%- for message in messages %}
    {%- if message.role == "user" or message.role == "system" %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}{% generation %}{{ message.content }}{% endgeneration %}
        {%- for tool_call in message.tool_calls | default([]) %}
            {{- '<tool_call>\\n' }}{{- tool_call.function | tojson(indent=2) }}{{- '\\n</tool_call>' }}
            {%- if loop.last %}{% break %}{% endif %}
        {%- endfor %}
    {%- endif %}
{%- endfor %}
"""

STRUCTURED_TOOLS = """{%- macro render(value, quote=True) -%}
    {%- if value is string -%}{{- '"' + value + '"' if quote else value -}}
    {%- elif value is boolean -%}{{- 'true' if value else 'false' -}}
    {%- elif value is mapping -%}
        {%- set ns = namespace(first=true) -%}{{- '{' -}}
        {%- for key, item in value | dictsort -%}
            {%- if not ns.first %},{% endif -%}{%- set ns.first = false -%}{{- key }}:{{ render(item, quote=quote) -}}
        {%- endfor -%}{{- '}' -}}
    {%- elif value is sequence -%}[{%- for item in value -%}{{ render(item) }}{{ ',' if not loop.last }}{%- endfor -%}]
    {%- else -%}{{- value -}}{%- endif -%}
{%- endmacro -%}
{%- set ns = namespace(prev=None, last_user=-1) -%}
{%- for m in messages %}{% if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor -%}
{%- for tool in tools | default([]) -%}
    {{- '<tool>' + tool['function']['name'] + render(tool['function']['parameters'] | default({})) -}}
    {{- (tool['function'].get('tags', []) | map('upper') | list | join(',')) + '</tool>' -}}
{%- endfor -%}
{%- for message in messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {%- if message.content is string and '</think>' in message.content -%}
        {%- set parts = message.content.split('</think>') -%}
        {%- set content = (parts | last).strip('\n') -%}
    {%- else -%}{%- set content = message.content | default('', true) -%}{%- endif -%}
    {{- '<turn>' ~ role ~ '\n' ~ content | trim ~ '</turn>' -}}
    {%- if loop.index0 > ns.last_user and message.reasoning_content is defined -%}{{ message.reasoning_content }}{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<turn>model\n' -}}{%- endif -%}
"""

BENIGN_TEMPLATES = {
    "structured_tools": STRUCTURED_TOOLS,
    "chatml": CHATML,
    "llama3": LLAMA3,
    "mistral": MISTRAL,
    "gemma": GEMMA,
    "phi3": PHI3,
    "qwen_tools": QWEN_TOOLS,
    "deepseek_r1": DEEPSEEK_R1,
    "hermes_tools": HERMES_TOOLS,
}

# Template injections: (template, expected severity). All but the first two are obfuscations of the first.
SSTI_TEMPLATES: dict[str, tuple[str, str]] = {
    "cve_2024_34359": ("{{ ''.__class__.__mro__[1].__subclasses__() }}" + CHATML, "critical"),
    "popen_via_globals": ("{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}", "critical"),
    "cycler_init": ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "critical"),
    "subscript_dunder": ("{{ messages['__class__']['__mro__'] }}", "critical"),
    "attr_filter": ("{{ messages|attr('__class__')|attr('__base__') }}", "critical"),
    "attr_concat": ("{{ messages|attr('__cla' ~ 'ss__') }}", "critical"),
    "attr_escaped": ("{{ messages|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", "critical"),
    "join_list": ("{{ messages|attr(['_','_','class','_','_']|join) }}", "critical"),
    "set_pieces": ("{% set a = '__cla' %}{% set b = a ~ 'ss__' %}{{ messages[b] }}", "critical"),
    "reversed_slice": ("{{ messages['__ssalc__'[::-1]] }}", "critical"),
    "multiplied": ("{% set u = '_' * 2 %}{{ messages[u ~ 'class' ~ u] }}", "critical"),
    "map_attr": ("{{ messages|map('attr', '__class__')|list }}", "critical"),
    "map_attribute": ("{{ messages|map(attribute='__class__')|list }}", "critical"),
    "format_method": ("{{ '{0.__class__}'.format(messages) }}", "critical"),
    "mro_call": ("{{ messages.mro() }}", "critical"),
    "attr_computed": ("{% for name in names %}{{ messages|attr(name) }}{% endfor %}", "high"),
    "char_codes": ("{{ messages|attr('%c%c'|format(95, 95) ~ 'class' ~ '%c%c'|format(95, 95)) }}", "critical"),
    "private_context": ("{{ self._TemplateReference__context }}", "high"),
    "include": ("{% include '/etc/passwd' %}", "high"),
}


def gguf_file(path: Path, templates: dict[str, str] | str | None = None, tensors: int = 2) -> bytes:
    """A GGUF file written by the ``gguf`` package (llama.cpp's writer), with chat template(s)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(128)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["<s>", "</s>", "hello", "world"])
    writer.add_token_scores([0.0, 0.0, -1.0, -2.0])
    if isinstance(templates, str):
        writer.add_chat_template(templates)
    elif templates:
        writer.add_chat_template([{"name": name, "template": text} for name, text in templates.items()])
    for i in range(tensors):
        writer.add_tensor(f"blk.{i}.weight", np.full((4, 32), i, dtype=np.float32))
    writer.add_tensor("blk.q.weight", np.zeros((2, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def gguf_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def gguf_raw(
    kvs: Sequence[tuple[str, int, bytes]], tensors: Sequence[bytes] = (), version: int = 3, counts: tuple[int, int] | None = None
) -> bytes:
    """A hand-assembled GGUF header: ``kvs`` are (key, value type, encoded value)."""
    n_tensors, n_kvs = counts if counts is not None else (len(tensors), len(kvs))
    out = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kvs)
    for key, value_type, value in kvs:
        out += gguf_string(key) + struct.pack("<I", value_type) + value
    return out + b"".join(tensors)


def gguf_tensor(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        gguf_string(name)
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}q", *dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


# ------------------------------------------------------------------------------------- safetensors


def safetensors_raw(header: dict[str, Any] | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data
