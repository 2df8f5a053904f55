"""Training, evaluation, the model security tests and the post-training gate, then package, sign and register,
on a real project with a regularized and an overfit model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.pipeline.interface import StepError, StepResult
from bastion.pipeline.steps import PostTrainingGate, RegisterStep, TrainStep
from tests.pipeline.project import FEATURES, context_for, init_home, run_steps, write_project


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("instance") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BASTION_HOME", str(home))
        patch.delenv("BASTION_TOKEN", raising=False)
        token = init_home(home)
        yield home, token


@pytest.fixture(scope="module")
def regularized(instance: tuple[Path, str]) -> tuple[Path, dict[str, StepResult]]:
    home, _ = instance
    project = write_project(home.parent / "regularized", anonymize=True, params={"kind": "logistic", "C": 0.5})
    return project, run_steps(project, home, until="sign", run_id="regularized")


@pytest.fixture(scope="module")
def overfit(instance: tuple[Path, str]) -> dict[str, StepResult]:
    home, _ = instance
    project = write_project(home.parent / "overfit", anonymize=True, params={"kind": "tree"})
    return run_steps(project, home, until="gate-post", run_id="overfit")


def test_training_records_cross_validation_and_isolation(regularized: tuple[Path, dict[str, StepResult]]) -> None:
    _, results = regularized
    train = results["train"]
    assert train.outputs["model"].suffix == ".skops"
    assert set(train.details["cv"]) >= {"accuracy", "roc_auc"}
    assert all(len(scores) == 3 for scores in train.details["cv"].values())
    isolation = train.details["isolation"]
    assert "network_isolated" in isolation
    if isolation["network_isolated"]:
        assert "without network" in (train.message or "")
    else:
        assert "WITHOUT network isolation" in (train.message or "") and isolation["reason"] in (train.message or "")


def test_evaluation_measures_the_test_split(regularized: tuple[Path, dict[str, StepResult]]) -> None:
    _, results = regularized
    evaluate = results["evaluate"]
    values = evaluate.metrics
    for name in ("accuracy", "precision", "recall", "specificity", "npv", "f1", "balanced_accuracy", "roc_auc"):
        assert 0 <= (values[name] or 0) <= 1
    assert {"DPPL[sex]", "DI[sex]", "FT[sex]"} <= set(values)
    counts = evaluate.details["confusion_matrix"]["counts"]
    assert sum(map(sum, counts)) == 90
    assert values["accuracy"] == pytest.approx((counts[0][0] + counts[1][1]) / 90)
    assert evaluate.details["roc_curve"]["auc"] == pytest.approx(values["roc_auc"])
    assert tuple(evaluate.details["attributions"]["features"]) == FEATURES
    json.dumps(dict(evaluate.details))  # report sections are JSON as they are


def test_the_regularized_model_passes_the_post_training_gate(regularized: tuple[Path, dict[str, StepResult]]) -> None:
    _, results = regularized
    tests = results["model-tests"]
    assert tests.metrics["mia_auc"] is not None and tests.metrics["mia_auc"] <= 0.6
    assert tests.metrics["pii_features"] == 0
    assert [f.rule_id for f in tests.findings if f.severity >= "high"] == []
    gate = results["gate-post"]
    assert gate.status == "passed", gate.message
    thresholds = {t["metric"]: t for t in gate.details["metrics"]["thresholds"]}
    assert thresholds["mia_auc"]["passed"] and thresholds["mia_auc"]["measured"] == tests.metrics["mia_auc"]


def test_the_overfit_model_fails_on_membership_inference(overfit: dict[str, StepResult]) -> None:
    tests = overfit["model-tests"]
    assert tests.metrics["mia_auc"] is not None and tests.metrics["mia_auc"] > 0.6
    gate = overfit["gate-post"]
    assert gate.status == "failed"
    assert gate.details["gate"]["name"] == "post-training"
    assert any(reason.startswith("metric mia_auc = ") for reason in gate.details["gate"]["reasons"])
    assert "mia_auc" in (gate.message or "")


def test_a_post_training_policy_file_gates_bias_per_facet(
    instance: tuple[Path, str], regularized: tuple[Path, dict[str, StepResult]]
) -> None:
    home, _ = instance
    _, results = regularized
    project = write_project(home.parent / "strict", anonymize=True, extra="gates: {post_training: post.yaml}\n")
    (project / "post.yaml").write_text("version: 1\nmetrics:\n  - abs(DPPL[sex]) <= 0\n  - DI[sex] >= 0\n")
    gate = PostTrainingGate().run(context_for(project, home, PostTrainingGate(), results, run_id="strict"))
    dppl = results["evaluate"].metrics["DPPL[sex]"]
    assert dppl is not None and dppl != 0
    assert gate.status == "failed"
    assert gate.details["gate"]["reasons"] == [f"metric DPPL[sex] = {dppl:.4g} fails abs(DPPL[sex]) <= 0"]
    assert [t["passed"] for t in gate.details["metrics"]["thresholds"]] == [False, True]


def test_a_training_function_that_raises_is_one_clear_line(
    instance: tuple[Path, str], regularized: tuple[Path, dict[str, StepResult]]
) -> None:
    home, _ = instance
    _, results = regularized
    project = write_project(home.parent / "broken", anonymize=True, estimator="train:broken_model")
    with pytest.raises(StepError) as raised:
        TrainStep().run(context_for(project, home, TrainStep(), results, run_id="broken"))
    message = str(raised.value)
    assert "\n" not in message
    assert "train:broken_model" in message and "RuntimeError" in message and "the feature store is unreachable" in message
    # The log it points to is kept with the run, not in the work area that is removed when the run ends.
    log = home / "runs" / "broken" / "train.log"
    assert f"(full output: {log})" in message
    assert "Traceback (most recent call last)" in log.read_text()


def test_the_package_holds_the_model_code_reports_and_data_references_only(
    regularized: tuple[Path, dict[str, StepResult]],
) -> None:
    from bastion.signing import read_package, unpack_package

    project, results = regularized
    package = results["package"].outputs["package"]
    assert results["package"].details["package"]["digest"] == read_package(package).digest
    unpacked = package.parent / "unpacked"
    unpack_package(package, unpacked)
    names = sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file())
    assert "model.skops" in names and "code/src/train.py" in names and "code/requirements.txt" in names
    assert {"reports/scan.json", "reports/metrics.json", "reports/sbom.cdx.json", "data/references.json"} <= set(names)
    references = json.loads((unpacked / "data" / "references.json").read_text())
    assert set(references["inputs"]) == {"data/patients.csv", "src/train.py", "requirements.txt"}
    raw = (project / "data" / "patients.csv").read_text().splitlines()[1].split(",")[0]
    assert not any(raw.encode() in p.read_bytes() for p in unpacked.rglob("*") if p.is_file())  # no raw data packed
    sbom = json.loads((unpacked / "reports" / "sbom.cdx.json").read_text())
    assert {c["name"] for c in sbom["components"]} >= {"scikit-learn", "numpy"}
    from bastion.ml.schema import ModelSchema

    schema = ModelSchema.read(unpacked / "schema.json")  # what serving validates requests against
    features = json.loads(results["split"].outputs["features"].read_text())
    assert [field.name for field in schema.inputs] == features and schema.model_file == "model.skops"
    assert all(field.type in ("number", "integer") and field.minimum is not None for field in schema.inputs)


def test_the_signature_verifies_with_the_instance_key(
    instance: tuple[Path, str], regularized: tuple[Path, dict[str, StepResult]]
) -> None:
    from bastion.signing import verify_model

    home, _ = instance
    _, results = regularized
    sign = results["sign"]
    package, signature = results["package"].outputs["package"], sign.outputs["signature"]
    details = sign.details["signature"]
    assert details["verified"] is True and details["path"] == str(signature)
    assert verify_model(package, home / "keys" / "signing" / "public.pem", signature).valid
    index = package / "index.json"
    original = index.read_bytes()
    index.write_bytes(original.replace(b"schemaVersion", b"schemaversion"))
    try:
        assert not verify_model(package, home / "keys" / "signing" / "public.pem", signature).valid
    finally:
        index.write_bytes(original)


def test_register_gives_a_pending_version_with_a_token(
    instance: tuple[Path, str], regularized: tuple[Path, dict[str, StepResult]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.registry import Registry
    from bastion.signing import verify_model

    home, token = instance
    project, results = regularized
    monkeypatch.setenv("BASTION_TOKEN", token)
    first = RegisterStep().run(context_for(project, home, RegisterStep(), results, run_id="register-1"))
    assert first.details["registry"] == {"name": "patients", "version": 1, "status": "PENDING"}
    registry = Registry.open()
    try:
        version = registry.show_version(registry.authenticate(token), "patients", 1)
    finally:
        registry.close()
    assert version.source_run == "register-1"
    assert version.package_digest == results["package"].details["package"]["digest"]
    # The run's work area is temporary: the signed package is kept in the instance, where the registry points.
    kept, signature = Path(first.details["package"]["path"]), Path(first.details["signature"]["path"])
    assert version.artifact_uri == kept.resolve().as_uri()
    assert kept.is_relative_to(home / "packages") and signature == kept.parent / "package.sig"
    assert verify_model(kept, home / "keys" / "signing" / "public.pem", signature).valid
    # A rerun of the unchanged pipeline finds its version instead of failing on the duplicate package.
    again = RegisterStep().run(context_for(project, home, RegisterStep(), results, run_id="register-2"))
    assert again.details["registry"] == first.details["registry"]


def test_register_is_skipped_cleanly_without_a_token_or_when_disabled(
    instance: tuple[Path, str], regularized: tuple[Path, dict[str, StepResult]], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, token = instance
    project, results = regularized
    monkeypatch.delenv("BASTION_TOKEN", raising=False)
    skipped = RegisterStep().run(context_for(project, home, RegisterStep(), results, run_id="no-token"))
    assert skipped.status == "passed" and skipped.details["registry"] is None
    assert skipped.message is not None and skipped.message.startswith("skipped: no BASTION_TOKEN")
    assert skipped.details["package"]["path"] in skipped.message  # where the signed package is kept
    monkeypatch.setenv("BASTION_TOKEN", token)
    disabled = write_project(home.parent / "disabled", anonymize=True, register=False)
    off = RegisterStep().run(context_for(disabled, home, RegisterStep(), results, run_id="disabled"))
    assert off.details["registry"] is None and "steps.register.enabled: false" in (off.message or "")


def test_a_pii_column_among_the_features_fails_the_post_training_gate(instance: tuple[Path, str]) -> None:
    """Defence in depth: a waiver let an SSN column through the first gate, and the model was built on it."""
    import numpy as np

    home, _ = instance
    project = write_project(
        home.parent / "pii-feature",
        anonymize=True,
        features=(*FEATURES, "customer_ssn"),
        extra="gates:\n  pre_training: waived.yaml\n",
    )
    (project / "waived.yaml").write_text(
        "fail_on: high\nwaivers:\n  - rule: data.pii.us-ssn\n    reason: the data owner accepted it\n"
        "    owner: dpo@example.org\n    expires: 2099-01-01\n"
    )
    table = project / "data" / "patients.csv"
    lines = table.read_text().splitlines()
    numbers = np.random.default_rng(5).integers(100_000_000, 665_999_999, len(lines) - 1)
    rows = [f"{line},{number}" for line, number in zip(lines[1:], numbers, strict=True)]
    table.write_text("\n".join([f"{lines[0]},customer_ssn", *rows]) + "\n")

    results = run_steps(project, home, until="gate-post", run_id="pii-feature")
    assert results["gate-pre"].status == "passed"
    tests = results["model-tests"]
    assert tests.metrics["pii_features"] == 1
    assert [(f.rule_id, f.location.field) for f in tests.findings if f.rule_id == "model.pii-feature"] == [
        ("model.pii-feature", "customer_ssn")
    ]
    gate = results["gate-post"]
    assert gate.status == "failed"
    assert any("pii_features" in reason for reason in gate.details["gate"]["reasons"])
