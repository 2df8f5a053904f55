"""Admission: the server loads only approved versions whose package is the registered one, signed by a trusted key,
with model files that pass the scanner; it refuses to start otherwise (exit 2, one line per refused model), and hot
reload admits a new version before switching to it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bastion.registry import Stage
from bastion.serve._server import AdmissionFailed, build_state
from bastion.serve.admission import AdmissionRefused, admit, resolve
from bastion.serve.config import ModelReference, ServeConfig
from bastion.signing import build_package, read_package, sign_model
from tests.serve.conftest import ApprovedModel, Instance, malicious_directory, model_directory, new_instance


@dataclass(frozen=True)
class Refusals:
    """One instance holding a served model and one model per way admission must refuse."""

    instance: Instance
    references: dict[str, str]
    """Why it is refused → the reference to serve."""


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[min(offset, len(data) - 1)] ^= 0x01
    path.write_bytes(bytes(data))


def _model_blob(package: Path) -> Path:
    kit = read_package(package)
    layer = next(layer for layer in kit.layers if ".model." in layer.media_type)
    return kit.blob(layer.digest)


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory, churn_source: Path) -> Iterator[Refusals]:
    root = tmp_path_factory.mktemp("refusals")
    with pytest.MonkeyPatch.context() as monkeypatch, new_instance(root, monkeypatch) as instance:
        instance.publish("good", churn_source)
        instance.publish("pending", churn_source, approve=False)
        # unsigned: the signature is gone after approval
        instance.publish("unsigned", churn_source)
        package = Path(resolve(instance.registry.engine, ModelReference("unsigned", Stage.PROD)).artifact_uri[7:])
        package.with_name(package.name + ".sig").unlink()
        # one byte of the model's layer blob changed after approval
        instance.publish("tampered-blob", churn_source)
        package = Path(resolve(instance.registry.engine, ModelReference("tampered-blob", Stage.PROD)).artifact_uri[7:])
        _flip_byte(_model_blob(package))
        # the package replaced after approval by one whose model differs by one byte, signed again with the trusted key
        instance.publish("tampered-model", churn_source)
        package = Path(resolve(instance.registry.engine, ModelReference("tampered-model", Stage.PROD)).artifact_uri[7:])
        changed = root / "changed"
        shutil.copytree(churn_source, changed)
        _flip_byte(changed / "model.skops", 40)
        shutil.rmtree(package)
        build_package(changed, package)
        sign_model(package, instance.signing_key.private_key, package.with_name(package.name + ".sig"))
        # a malicious pickle as the model, registered while the scanner was blind to it (simulated for registration
        # only: the server's own admission runs the real scanner)
        with pytest.MonkeyPatch.context() as blind:
            blind.setattr("bastion.registry.admission.scan_model_files", lambda package: None)
            instance.publish("malicious", malicious_directory(root, churn_source))
        yield Refusals(
            instance,
            {
                "not approved": "pending@dev",
                "no signature": "unsigned@prod",
                "changed since it was signed": "tampered-blob@prod",
                "replaced": "tampered-model@prod",
                "critical finding": "malicious@prod",
            },
        )


@pytest.mark.parametrize(
    "reason", ["not approved", "no signature", "changed since it was signed", "replaced", "critical finding"]
)
def test_admission_refuses(refusals: Refusals, reason: str) -> None:
    reference = ModelReference.parse(refusals.references[reason])
    record = resolve(refusals.instance.registry.engine, reference)
    with pytest.raises(AdmissionRefused, match=reason) as refused:
        admit(refusals.instance.registry.engine, record, tolerance=0.1, max_batch=10)
    assert str(refused.value).startswith(f"{reference.name}:1")


def test_admits_a_clean_approved_version(refusals: Refusals) -> None:
    engine = refusals.instance.registry.engine
    served = admit(engine, resolve(engine, ModelReference.parse("good")), tolerance=0.1, max_batch=10)
    assert served.version == 1 and [field.name for field in served.schema.inputs] == ["age", "income", "tenure"]
    assert hasattr(served.model, "predict_proba")


def test_the_server_refuses_to_start_naming_each_refused_model(refusals: Refusals) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bastion", "serve", "good", *refusals.references.values(), "--port", "9"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused ")]
    assert len(refused) == len(refusals.references), result.stderr
    for reason, reference in refusals.references.items():
        name = reference.split("@")[0]
        assert any(line.startswith(f"refused {name}:1") and reason in line for line in refused), (reason, result.stderr)


def test_unknown_model_refuses_to_start(refusals: Refusals) -> None:
    with pytest.raises(AdmissionFailed, match="no model 'nothing'"):
        build_state(ServeConfig(models=(ModelReference.parse("nothing"),)))


def test_hot_reload_switches_only_after_admission(approved_model: ApprovedModel, tmp_path: Path) -> None:
    instance = approved_model.instance
    state = build_state(ServeConfig(models=(ModelReference.parse("churn@prod"),)))
    catalog = state.catalog
    assert catalog.models["churn"].primary.version == 1
    version2 = instance.publish("churn", model_directory(tmp_path, seed=1))
    catalog.refresh()
    assert catalog.models["churn"].primary.version == version2
    # a newer prod version whose package was tampered with after approval: the server stays on version 2
    package = instance.package(model_directory(tmp_path / "v3", seed=2))
    version3 = instance.publish_package("churn", package)
    _flip_byte(_model_blob(package))
    catalog.refresh()
    assert catalog.models["churn"].primary.version == version2 != version3
    # a served version the registry stops approving is replaced by the newest approved one in prod, or unloaded
    registry = instance.registry
    approver = registry.authenticate(instance.tokens["approver2"])
    registry.reject(approver, "churn", version3, comment="tampered")
    registry.reject(approver, "churn", version2, comment="withdrawn")
    catalog.refresh()
    assert catalog.models["churn"].primary.version == 1
    registry.reject(approver, "churn", 1, comment="withdrawn")
    catalog.refresh()
    assert "churn" not in catalog.models
