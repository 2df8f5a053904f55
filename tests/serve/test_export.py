"""``bastion models export NAME VERSION --format onnx``: a valid ONNX file whose predictions, under ONNX Runtime, equal
the skops model's on fresh data; refused (no file) for unapproved versions and callers without model.deploy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from bastion.cli import main
from bastion.ml.persist import load_model
from bastion.registry import Stage
from tests.serve.conftest import FEATURES, ApprovedModel, model_directory, training_table


def bastion(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_onnx_export_matches_the_model(approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "churn.onnx"
    token = approved_model.instance.tokens["mlops"]
    status, out, err = bastion(
        capsys,
        "models",
        "export",
        "churn",
        "1",
        "--format",
        "onnx",
        "-o",
        str(output),
        "--token",
        token,
        "--output-format",
        "json",
    )
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["inputs"] == list(FEATURES) and report["rows_checked"] == 257
    assert 0 <= report["max_probability_difference"] <= 1e-4

    onnx.checker.check_model(onnx.load(output))
    table, _ = training_table(seed=21, rows=500)  # data neither the export nor its check has seen
    rows = np.column_stack([table.column(name).to_numpy().astype(float) for name in FEATURES])
    session = onnxruntime.InferenceSession(output.read_bytes(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"input": rows.astype(np.float32)})
    model = load_model(approved_model.source / "model.skops")
    expected = model.predict_proba(rows)
    assert np.max(np.abs(probabilities - expected)) < 1e-4
    decided = np.abs(expected[:, 1] - 0.5) > 1e-3
    assert decided.sum() > 450
    assert np.array_equal(labels[decided], model.predict(rows)[decided])


def test_export_is_refused_without_approval_or_permission(
    approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = approved_model.instance
    pending = instance.publish("churn", model_directory(tmp_path / "v2", 6), approve=False, stage=Stage.DEV)
    output = tmp_path / "out.onnx"
    for version, role, status, message in (
        (pending, "mlops", 1, "not approved"),
        (1, "data-scientist", 3, "model.deploy"),
    ):
        code, out, err = bastion(
            capsys, "models", "export", "churn", str(version), "-o", str(output), "--token", instance.tokens[role]
        )
        assert (code, out) == (status, "") and message in err and err.count("\n") == 1, err
        assert not output.exists()


def test_an_unwritable_output_is_one_line(
    approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "missing" / "churn.onnx"
    token = approved_model.instance.tokens["mlops"]
    status, _, err = bastion(capsys, "models", "export", "churn", "1", "--format", "onnx", "-o", str(output), "--token", token)
    assert status == 2 and f"{output}: cannot write the ONNX file" in err and "Traceback" not in err, err
