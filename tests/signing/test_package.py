"""``bastion package build/unpack``: ModelKit OCI layouts, reproducible layers, generated Kitfiles and the ML-BOM."""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bastion.signing import build_package, hash_model, read_package
from tests.conftest import RunBastion

KITOPS = "application/vnd.kitops.modelkit"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project: a safetensors model in a directory, a CSV dataset, code, requirements and a README."""
    import numpy as np
    from safetensors.numpy import save_file

    root = tmp_path / "churn"
    for directory in ("model", "data", "src"):
        (root / directory).mkdir(parents=True)
    save_file({"weight": np.arange(4096, dtype=np.float32)}, str(root / "model" / "model.safetensors"))
    (root / "model" / "config.json").write_text('{"hidden_size": 8}\n')
    (root / "data" / "train.csv").write_text("age,income,churned\n34,52000,0\n51,61000,1\n29,40000,0\n")
    (root / "src" / "train.py").write_text("import numpy\nprint('training')\n")
    (root / "src" / "serve.sh").write_text("#!/bin/sh\nexec python -m serve\n")
    (root / "src" / "serve.sh").chmod(0o755)
    (root / "requirements.txt").write_text("numpy==1.26.4\n")
    (root / "README.md").write_text("# Churn model\n")
    return root


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _blob(package: Path, digest: str) -> bytes:
    return (package / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def _manifest(package: Path) -> dict[str, Any]:
    index = json.loads((package / "index.json").read_text())
    manifest: dict[str, Any] = json.loads(_blob(package, index["manifests"][0]["digest"]))
    return manifest


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_build_writes_an_oci_layout_kit_reads_and_unpack_restores_every_file(
    project: Path, tmp_path: Path, run_bastion: RunBastion
) -> None:
    out = tmp_path / "churn.modelkit"
    result = run_bastion("package", "build", str(project), "-o", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kitfile"] == "generated"

    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["manifests"][0]["digest"] == report["digest"]
    manifest = _manifest(out)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == f"{KITOPS}.manifest.v1+json"
    assert manifest["config"]["mediaType"] == f"{KITOPS}.config.v1+json"
    assert [(layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"]) for layer in manifest["layers"]] == [
        (f"{KITOPS}.model.v1.tar", "model"),
        (f"{KITOPS}.code.v1.tar", "requirements.txt"),
        (f"{KITOPS}.code.v1.tar", "src"),
        (f"{KITOPS}.dataset.v1.tar", "data"),
        (f"{KITOPS}.docs.v1.tar", "README.md"),
        ("application/vnd.cyclonedx+json", "bom.cdx.json"),
    ]
    assert [layer["digest"] for layer in report["layers"]] == [layer["digest"] for layer in manifest["layers"]]
    # Every blob is named by its digest, and the config is the Kitfile with each entry's layer digest, as kit writes it.
    for descriptor in [manifest["config"], *manifest["layers"]]:
        data = _blob(out, descriptor["digest"])
        assert f"sha256:{hashlib.sha256(data).hexdigest()}" == descriptor["digest"]
        assert len(data) == descriptor["size"]
    config = json.loads(_blob(out, manifest["config"]["digest"]))
    entries = [config["model"], *config["code"], *config["datasets"], *config["docs"]]
    assert [entry["digest"] for entry in entries] == [layer["digest"] for layer in manifest["layers"][:-1]]
    assert all(entry["diffId"] == entry["digest"] for entry in entries)
    assert config["model"]["format"] == "safetensors"

    target = tmp_path / "unpacked"
    result = run_bastion("package", "unpack", str(out), "-o", str(target), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["digest"] == report["digest"]
    unpacked = _files(target)
    kitfile = unpacked.pop("Kitfile").decode()
    assert unpacked == _files(project)
    assert "path: model" in kitfile and "format: safetensors" in kitfile
    assert (target / "src" / "serve.sh").stat().st_mode & 0o777 == 0o755
    assert (target / "src" / "train.py").stat().st_mode & 0o777 == 0o644


def test_layers_are_reproducible_tars_with_paths_below_the_package(project: Path, tmp_path: Path) -> None:
    built = build_package(project, tmp_path / "out")
    model_layer = (tmp_path / "out" / "blobs" / "sha256" / built.layers[0].digest.removeprefix("sha256:")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(model_layer)) as tar:
        members = tar.getmembers()
    assert [(m.name, m.type) for m in members] == [
        ("model", tarfile.DIRTYPE),
        ("model/config.json", tarfile.REGTYPE),
        ("model/model.safetensors", tarfile.REGTYPE),
    ]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert [m.mode for m in members] == [0o755, 0o644, 0o644]


def test_the_same_inputs_give_the_same_digest_wherever_and_whenever_they_are_packed(project: Path, tmp_path: Path) -> None:
    first = build_package(project, tmp_path / "first")
    second = build_package(project, tmp_path / "second")
    assert second.digest == first.digest
    copy = tmp_path / "elsewhere" / "churn"
    shutil.copytree(project, copy)
    for path in [copy, *copy.rglob("*")]:
        os.utime(path, (1_000_000_000, 1_000_000_000))
        os.chown(path, 4242, 4242)
    assert build_package(copy, tmp_path / "third").digest == first.digest
    (copy / "data" / "train.csv").write_text("age,income,churned\n34,52000,1\n")
    assert build_package(copy, tmp_path / "fourth").digest != first.digest


def test_generated_kitfile_sorts_entries_by_content_and_is_packed_as_the_config(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    root = tmp_path / "mixed"
    (root / "adapter").mkdir(parents=True)
    (root / "notes").mkdir()
    save_file({"w": np.zeros(2048, dtype=np.float32)}, str(root / "base.safetensors"))
    save_file({"w": np.zeros(16, dtype=np.float32)}, str(root / "adapter" / "lora.safetensors"))
    (root / "eval.csv").write_text("x,y\n1,2\n3,4\n")
    (root / "notes" / "LICENSE").write_text("Apache-2.0\n")
    (root / "notes" / "design.md").write_text("# Design\n")
    (root / "notebook.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (root / ".env").write_text("TOKEN=x\n")

    built = build_package(root, tmp_path / "out")
    kitfile = built.kitfile
    assert built.kitfile_source == "generated"
    assert kitfile.package.name == "mixed"
    assert kitfile.model is not None
    assert (kitfile.model.path, kitfile.model.format) == ("base.safetensors", "safetensors")
    assert [part.path for part in kitfile.model.parts] == ["adapter"]
    assert [(d.name, d.path) for d in kitfile.datasets] == [("eval", "eval.csv")]
    assert [c.path for c in kitfile.code] == ["notebook.ipynb"]
    assert [d.path for d in kitfile.docs] == ["notes"]
    assert read_package(tmp_path / "out").kitfile == kitfile
    assert [layer.media_type.removeprefix(f"{KITOPS}.") for layer in built.layers[:-1]] == [
        "model.v1.tar",
        "modelpart.v1.tar",
        "code.v1.tar",
        "dataset.v1.tar",
        "docs.v1.tar",
    ]
    packed = {layer.path for layer in built.layers}
    assert ".env" not in packed


def test_a_kitfile_in_the_directory_is_used_and_nested_entries_get_their_own_layer(project: Path, tmp_path: Path) -> None:
    (project / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage: {name: churn, version: 1.2.0}\nmodel: {name: churn, path: ./model/}\n"
        "code: [{path: .}]\n"
    )
    built = build_package(project, tmp_path / "out")
    assert built.kitfile_source == "directory"
    code = (tmp_path / "out" / "blobs" / "sha256" / built.layers[1].digest.removeprefix("sha256:")).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(code)) as tar:
        names = tar.getnames()
    assert "model/model.safetensors" not in names and "model" not in names
    assert {"Kitfile", "README.md", "data/train.csv", "src/train.py"} <= set(names)
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1.2.0"


def _ml_bom(package: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(read_package(package).bom())
    return document


def test_ml_bom_is_valid_cyclonedx_with_the_oms_digests_and_the_model_card(project: Path, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    kitfile = tmp_path / "Kitfile"
    kitfile.write_text(
        """manifestVersion: 1.0.0
package: {name: churn, version: 1.2.0}
model:
  name: churn-classifier
  path: model
  version: 1.2.0
  parameters:
    learning_rate: 0.1
    modelCard:
      task: classification
      approach: supervised
      architectureFamily: gradient-boosted trees
      considerations:
        useCases: [scoring customers for retention offers]
        technicalLimitations: [trained on one market only]
        ethicalConsiderations: [income is a proxy for protected attributes]
datasets:
  - {name: train, path: data/train.csv, description: training split}
code: [{path: src}]
"""
    )
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": 0.93, "f1": 0.875}')
    build_package(project, tmp_path / "out", kitfile, metrics)
    bom_text = read_package(tmp_path / "out").bom().decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom_text) is None
    bom = json.loads(bom_text)
    assert bom["specVersion"] == "1.6"
    components = {component["bom-ref"]: component for component in bom["components"]}
    model = components["model"]
    assert (model["type"], model["name"], model["version"]) == ("machine-learning-model", "churn-classifier", "1.2.0")
    # The model's file hashes are the OMS digests of the model directory, and the files' real SHA-256.
    oms = {f"model/{r.name}": r.digest for r in hash_model(project / "model").resources}
    listed = {file["name"]: file["hashes"][0]["content"] for file in model["components"]}
    assert listed == oms
    assert listed["model/model.safetensors"] == hashlib.sha256((project / "model" / "model.safetensors").read_bytes()).hexdigest()
    card = model["modelCard"]
    assert card["modelParameters"]["approach"] == {"type": "supervised"}
    assert card["modelParameters"]["task"] == "classification"
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:data/train.csv"}]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.93"},
        {"type": "f1", "value": "0.875"},
    ]
    assert card["considerations"]["ethicalConsiderations"] == [{"name": "income is a proxy for protected attributes"}]
    dataset = components["dataset:data/train.csv"]
    assert dataset["type"] == "data"
    assert dataset["data"] == [{"type": "dataset", "name": "train", "description": "training split"}]
    assert dataset["hashes"][0]["content"] == hashlib.sha256((project / "data" / "train.csv").read_bytes()).hexdigest()


def test_ml_bom_of_a_generated_kitfile_lists_the_packed_dependencies(project: Path, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    build_package(project, tmp_path / "out")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(read_package(tmp_path / "out").bom().decode()) is None
    bom = _ml_bom(tmp_path / "out")
    assert "timestamp" not in bom["metadata"]
    # The packed requirements' components, as `bastion sbom` writes them, with paths relative to the package.
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert [(c["purl"], c["properties"][0]) for c in libraries] == [
        ("pkg:pypi/numpy@1.26.4", {"name": "bastion:declared-in", "value": "requirements.txt"})
    ]
    package = next(d for d in bom["dependencies"] if d["ref"] == "package")
    assert package["dependsOn"] == ["dataset:data", "model", "pkg:pypi/numpy@1.26.4"]


def test_an_error_during_the_build_leaves_no_package_behind(project: Path, tmp_path: Path, run_bastion: RunBastion) -> None:
    # The model layer is written before the dataset's link out of the directory is found.
    (project / "data" / "secrets.csv").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    result = run_bastion("package", "build", str(project), "-o", str(out))
    _one_line_error(result, "secrets.csv", "outside")
    assert not out.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda root: (root / "outside").symlink_to("/etc"), ("outside", "/etc", "copy the files in or remove the link")),
        (lambda root: os.mkfifo(root / "data" / "pipe"), ("pipe", "not a regular file")),
        (lambda root: (root / "src" / "loop").symlink_to("."), ("loop", "symbolic link loop")),
    ],
    ids=["top-level-link-out", "fifo", "link-loop"],
)
def test_files_that_cannot_be_packed_are_one_line_errors(
    project: Path, tmp_path: Path, run_bastion: RunBastion, make: Any, fragments: tuple[str, ...]
) -> None:
    make(project)
    out = tmp_path / "out"
    _one_line_error(run_bastion("package", "build", str(project), "-o", str(out)), *fragments)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_a_full_disk_during_the_build_leaves_no_package_behind(project: Path, tmp_path: Path) -> None:
    (project / "model" / "big.bin").write_bytes(os.urandom(3 << 20))
    out = tmp_path / "out"

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    result = subprocess.run(
        [sys.executable, "-m", "bastion", "package", "build", str(project), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        timeout=300,
    )
    _one_line_error(result, str(out), "cannot write", "nothing was written")
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_bad_kitfiles_and_targets_are_one_line_errors(project: Path, tmp_path: Path, run_bastion: RunBastion) -> None:
    kitfile = tmp_path / "Kitfile"
    kitfile.write_text("manifestVersion: 1.0.0\nmodel:\n  path: ../../etc\n")
    result = run_bastion("package", "build", str(project), "--kitfile", str(kitfile), "-o", str(tmp_path / "a"))
    _one_line_error(result, f"{kitfile}:3", "model.path", "leaves the package directory")
    kitfile.write_text("manifestVersion: 1.0.0\nmodel: {path: missing.onnx}\n")
    result = run_bastion("package", "build", str(project), "--kitfile", str(kitfile), "-o", str(tmp_path / "b"))
    _one_line_error(result, "missing.onnx", "no such file")
    result = run_bastion("package", "build", str(project), "-o", str(project / "pkg"))
    _one_line_error(result, "inside", "write the package elsewhere")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    result = run_bastion("package", "build", str(project), "-o", str(tmp_path / "taken"))
    _one_line_error(result, "already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Kitfile", "churn", "taken"]


def _rewrite_layer(package: Path, position: int, layer: bytes) -> None:
    """Put ``layer`` in place of layer ``position`` with every digest that names it updated, as an attacker with write
    access to the layout would: the digests all match, so only the member checks can stop it."""

    manifest = _manifest(package)
    config = json.loads(_blob(package, manifest["config"]["digest"]))
    digest = _put(package, layer)
    manifest["layers"][position].update(digest=digest, size=len(layer))
    entries = [config["model"], *config.get("code", []), *config.get("datasets", []), *config.get("docs", [])]
    entries[position]["digest"] = entries[position]["diffId"] = digest
    _republish(package, manifest, config)


def _put(package: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (package / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def _republish(package: Path, manifest: dict[str, Any], config: dict[str, Any]) -> None:
    """Store ``config`` and ``manifest`` as blobs and point the index at them: every digest matches again."""
    config_bytes = json.dumps(config).encode()
    manifest["config"].update(digest=_put(package, config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest).encode()
    index = json.loads((package / "index.json").read_text())
    index["manifests"][0].update(digest=_put(package, manifest_bytes), size=len(manifest_bytes))
    (package / "index.json").write_text(json.dumps(index))


def _tar(*members: tuple[str, bytes, str]) -> bytes:
    """A tar of (name, content, link target or "" for a file, "hardlink:" prefix for a hard link)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link.startswith("hardlink:"):
                info.type, info.linkname = tarfile.LNKTYPE, link.removeprefix("hardlink:")
                tar.addfile(info)
            elif link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (_tar(("../escaped.txt", b"pwned", "")), "outside the target directory"),
        (_tar(("model/../../escaped.txt", b"pwned", "")), "outside the target directory"),
        (_tar(("/tmp/escaped.txt", b"pwned", "")), "outside the target directory"),
        (_tar(("model/link", b"", "../../escaped.txt"), ("model/link", b"pwned", "")), "link or special file"),
        (_tar(("model/hard", b"", "hardlink:/etc/passwd")), "link or special file"),
        (_tar(("src/train.py", b"import os; os.system('id')", "")), "outside the layer's path"),
        (_tar(("model/a.bin", b"1", ""), ("model/a.bin", b"2", "")), "written twice"),
    ],
    ids=["dot-dot", "dot-dot-inside", "absolute", "symlink", "hardlink", "other-entry", "duplicate"],
)
def test_unpack_refuses_crafted_layers(
    project: Path, tmp_path: Path, run_bastion: RunBastion, layer: bytes, message: str
) -> None:
    package = tmp_path / "package"
    build_package(project, package)
    _rewrite_layer(package, 0, layer)
    target = tmp_path / "work" / "unpacked"
    target.parent.mkdir()
    result = run_bastion("package", "unpack", str(package), "-o", str(target))
    _one_line_error(result, message, "do not use" if message != "written twice" else "damaged")
    assert not target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/escaped.txt").exists()


@pytest.mark.parametrize("what", ["layer", "manifest", "config", "missing"])
def test_unpack_refuses_a_package_changed_after_the_build(
    project: Path, tmp_path: Path, run_bastion: RunBastion, what: str
) -> None:
    package = tmp_path / "package"
    built = build_package(project, package)
    manifest = _manifest(package)
    digest = {
        "layer": built.layers[3].digest,
        "manifest": built.digest,
        "config": manifest["config"]["digest"],
        "missing": built.layers[-1].digest,
    }[what]
    blob = package / "blobs" / "sha256" / digest.removeprefix("sha256:")
    if what == "missing":
        blob.unlink()
    else:
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(bytes(data))
    target = tmp_path / "unpacked"
    result = run_bastion("package", "unpack", str(package), "-o", str(target))
    _one_line_error(result, "missing" if what == "missing" else "altered")
    assert not target.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("change", ["config-names-another-layer", "layer-dropped"])
def test_unpack_refuses_a_manifest_that_disagrees_with_its_kitfile(
    project: Path, tmp_path: Path, run_bastion: RunBastion, change: str
) -> None:
    package = tmp_path / "package"
    build_package(project, package)
    manifest = _manifest(package)
    config = json.loads(_blob(package, manifest["config"]["digest"]))
    if change == "config-names-another-layer":
        config["model"]["digest"] = manifest["layers"][4]["digest"]
    else:
        del manifest["layers"][3]
    _republish(package, manifest, config)
    target = tmp_path / "unpacked"
    result = run_bastion("package", "unpack", str(package), "-o", str(target))
    _one_line_error(result, "name different layers" if change == "config-names-another-layer" else "no layer for data")
    assert not target.exists()
    assert _leftovers(tmp_path) == []
