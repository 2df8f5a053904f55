"""Kind detection decides by content: real files of every kind, some under misleading names."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bastion.core import Kind
from bastion.scanners import detect
from bastion.scanners.detect import HEAD_SIZE


def detect_file(path: Path) -> tuple[Kind, str | None]:
    data = path.read_bytes()
    detection = detect(path, data[:HEAD_SIZE], len(data))
    return detection.kind, detection.format


@pytest.mark.parametrize("protocol", range(6))
def test_pickles_of_every_protocol_are_models_whatever_their_name(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(pickle.dumps({"weights": [1.5, 2.5], "name": "m", "shape": (2, 3)}, protocol=protocol))
    assert detect_file(path) == (Kind.MODEL, "pickle")


def test_torch_zip_and_legacy_formats(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {"layer.weight": torch.zeros(3, 4), "layer.bias": torch.ones(3)}
    torch.save(state, tmp_path / "m.bin")
    torch.save(state, tmp_path / "legacy.bin", _use_new_zipfile_serialization=False)
    assert detect_file(tmp_path / "m.bin") == (Kind.MODEL, "pytorch-zip")
    assert detect_file(tmp_path / "legacy.bin") == (Kind.MODEL, "pytorch-legacy")


def test_joblib_dumps_raw_and_compressed(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    expected = {
        None: "pickle",
        "zlib": "pickle-zlib",
        "gzip": "pickle-gzip",
        "bz2": "pickle-bz2",
        "xz": "pickle-xz",
        "lzma": "pickle-lzma",
    }
    for method, fmt in expected.items():
        path = tmp_path / f"model-{method}.joblib"
        joblib.dump(model, path, compress=(method, 3) if method else 0)
        assert detect_file(path) == (Kind.MODEL, fmt), method


def test_gzip_wrapped_pickle_and_plain_gzip(tmp_path: Path) -> None:
    (tmp_path / "a.gz").write_bytes(gzip.compress(pickle.dumps([1, 2, 3], protocol=4)))
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"just some text\n" * 10))
    assert detect_file(tmp_path / "a.gz") == (Kind.MODEL, "pickle-gzip")
    assert detect_file(tmp_path / "b.gz") == (Kind.ARCHIVE, "gzip")


def test_numpy_npy_and_npz(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(10))
    np.savez(tmp_path / "b.npz", x=np.arange(3), y=np.ones(2))
    assert detect_file(tmp_path / "a.npy") == (Kind.MODEL, "numpy-npy")
    assert detect_file(tmp_path / "b.npz") == (Kind.MODEL, "numpy-npz")


def test_hdf5(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "weights.dat", "w") as handle:
        handle.create_dataset("dense/kernel", data=np.zeros((2, 2)))
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential"})
    assert detect_file(tmp_path / "weights.dat") == (Kind.MODEL, "hdf5")


def test_keras_v3_zip(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    assert detect_file(path) == (Kind.MODEL, "keras-v3")


def test_onnx_model(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "model.bin")
    assert detect_file(tmp_path / "model.bin") == (Kind.MODEL, "onnx")


def test_tensorflow_saved_model_protobuf(tmp_path: Path) -> None:
    # SavedModel { saved_model_schema_version: 1, meta_graphs { meta_info_def { tags: "serve" } } }
    meta_info = b"\x22\x05serve"  # MetaInfoDef.tags (field 4)
    meta_graph = b"\x0a" + bytes([len(meta_info)]) + meta_info  # MetaGraphDef.meta_info_def (field 1)
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01\x12" + bytes([len(meta_graph)]) + meta_graph)
    assert detect_file(tmp_path / "saved_model.pb") == (Kind.MODEL, "tf-savedmodel")


def test_gguf(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    writer.add_tensor("w", np.zeros((2, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert detect_file(path) == (Kind.MODEL, "gguf")


def test_safetensors(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((2, 3), dtype=np.float32)}, str(tmp_path / "model.bin"))
    assert detect_file(tmp_path / "model.bin") == (Kind.MODEL, "safetensors")


def test_torch_legacy_tar_and_plain_tar(tmp_path: Path) -> None:
    torch_tar = tmp_path / "old.tar"
    with tarfile.open(torch_tar, "w") as archive:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            payload = pickle.dumps({"name": name}, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    plain = tmp_path / "docs.tar"
    with tarfile.open(plain, "w") as archive:
        info = tarfile.TarInfo("README")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    assert detect_file(torch_tar) == (Kind.MODEL, "pytorch-tar")
    assert detect_file(plain) == (Kind.ARCHIVE, "tar")


def test_plain_zip_is_an_archive(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        archive.writestr("docs/readme.md", "# hi\n")
    (tmp_path / "empty.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    assert detect_file(tmp_path / "bundle.zip") == (Kind.ARCHIVE, "zip")
    assert detect_file(tmp_path / "empty.zip") == (Kind.ARCHIVE, "zip")


def test_datasets(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (tmp_path / "patients.data").write_text('id,name,notes\n1,Ann,"likes\ncats"\n2,Bob,ok\n3,Cy,"a, b"\n')
    (tmp_path / "table.txt").write_text("id\tname\n1\tAnn\n2\tBob\n")
    (tmp_path / "rows.log").write_text('{"a": 1}\n{"a": 2, "b": "x"}\n')
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "t.bin")
    assert detect_file(tmp_path / "patients.data") == (Kind.DATASET, "csv")
    assert detect_file(tmp_path / "table.txt") == (Kind.DATASET, "tsv")
    assert detect_file(tmp_path / "rows.log") == (Kind.DATASET, "jsonl")
    assert detect_file(tmp_path / "t.bin") == (Kind.DATASET, "parquet")


def test_notebook(tmp_path: Path) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "source": "print(1)", "outputs": []}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "analysis.json").write_text(json.dumps(notebook))
    assert detect_file(tmp_path / "analysis.json") == (Kind.NOTEBOOK, "ipynb")


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("requirements.txt", "numpy==2.0.0\nrequests[socks]>=2.31 ; python_version > '3.8'\n-r base.txt\n", "requirements"),
        ("requirements-dev.txt", "pytest>=8\n", "requirements"),
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["numpy"]\n', "pyproject"),
        ("poetry.lock", '[[package]]\nname = "numpy"\nversion = "2.0.0"\n', "poetry-lock"),
        ("Pipfile.lock", '{"_meta": {"hash": {}}, "default": {}, "develop": {}}\n', "pipfile-lock"),
        ("uv.lock", 'version = 1\n\n[[package]]\nname = "numpy"\nversion = "2.0.0"\n', "uv-lock"),
    ],
)
def test_dependency_manifests(tmp_path: Path, name: str, content: str, fmt: str) -> None:
    (tmp_path / name).write_text(content)
    assert detect_file(tmp_path / name) == (Kind.DEPENDENCIES, fmt)


def test_a_manifest_name_alone_does_not_make_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    (tmp_path / "pyproject.toml").write_text("just prose, no tables\n")
    assert detect_file(tmp_path / "requirements.txt") == (Kind.MODEL, "pickle")
    assert detect_file(tmp_path / "pyproject.toml") == (Kind.CODE, "text")


def test_code_and_text(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("def f(a, b):\n    return a, b\n\nx, y = f(1, 2)\n")
    (tmp_path / "run").write_text("#!/usr/bin/env python3\nprint('hi')\n")
    (tmp_path / "notes.md").write_text("# Notes\n\nSome prose here.\n")
    assert detect_file(tmp_path / "train.py") == (Kind.CODE, "python")
    assert detect_file(tmp_path / "run") == (Kind.CODE, "python")
    assert detect_file(tmp_path / "notes.md") == (Kind.CODE, "text")


def test_binary_garbage_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.pt").write_bytes(b"")
    assert detect_file(tmp_path / "model.pkl") == (Kind.UNKNOWN, "binary")
    assert detect_file(tmp_path / "empty.pt") == (Kind.UNKNOWN, "empty")


def test_pickles_without_a_protocol_header_are_models(tmp_path: Path) -> None:
    # The unpickler needs no PROTO opcode: a stream starting straight with SHORT_BINUNICODE still runs.
    (tmp_path / "a.bin").write_bytes(b"\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.")
    # A first string longer than the detection window must not hide what follows it.
    (tmp_path / "b.bin").write_bytes(b"V" + b"a" * 70_000 + b"\ncos\nsystem\n(Vid\ntR.")
    # The loader runs os.system before it trips over the garbage after it: no STOP is needed.
    (tmp_path / "c.bin").write_bytes(b"cos\nsystem\n(S'id'\ntR\xff\xfe garbage")
    (tmp_path / "d.txt").write_bytes(b"cos\nsystem\nnothing calls it, but the import alone is dangerous\n")
    assert detect_file(tmp_path / "a.bin") == (Kind.MODEL, "pickle")
    assert detect_file(tmp_path / "b.bin") == (Kind.MODEL, "pickle")
    assert detect_file(tmp_path / "c.bin") == (Kind.MODEL, "pickle")
    assert detect_file(tmp_path / "d.txt") == (Kind.MODEL, "pickle")


def test_text_starting_with_opcode_letters_stays_text(tmp_path: Path) -> None:
    for name, text in [
        ("config", "config\nvalue\nmore text that is not a pickle\n"),
        ("license", "Copyright (c) 2026 Example\nPermission is hereby granted\n"),
        ("list", "]\n"),
        ("Makefile", "INSTALL = install\nall:\n\techo hi\n"),
        ("customers", "customer_name,email,notes\nAnn Lee,ann@example.com,Born 1939-01-06. Phone 555-0100.\n"),
        ("cities.txt", "city,population\nOslo,709037\nBergen,291940\n"),
    ]:
        (tmp_path / name).write_text(text)
        assert detect_file(tmp_path / name)[0] is not Kind.MODEL, name


def test_minified_text_without_newlines_stays_text(tmp_path: Path) -> None:
    (tmp_path / "bundle.js").write_text("const a=1;" * 10_000)
    (tmp_path / "notes.txt").write_text("Version 1.0\nSome notes\n")
    assert detect_file(tmp_path / "bundle.js") == (Kind.CODE, "text")
    assert detect_file(tmp_path / "notes.txt") == (Kind.CODE, "text")


def test_a_csv_whose_header_starts_with_c_is_a_dataset(tmp_path: Path) -> None:
    # "c" is GLOBAL: the header and first row read as a module and a name that no loader can import.
    path = tmp_path / "customers.csv"
    path.write_text("customer_name,email,description\nPietro Pastine,p@example.net,Country reveal body.\n" * 50)
    assert detect_file(path) == (Kind.DATASET, "csv")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("header-only.csv", "id,name,email\n"),
        ("one-column.csv", "name\nAnn\nBob\n"),
        ("wide.csv", ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" for _ in range(10_000)) + "\n"),
        ("quoted.csv", 'id,notes\n1,"this quote never closes\n2,x\n'),
    ],
)
def test_text_named_as_a_table_goes_to_the_dataset_reader(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content)
    assert detect_file(tmp_path / name) == (Kind.DATASET, "csv")
