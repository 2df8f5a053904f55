"""``bastion predict``: CSV and Parquet scored with an admitted model equal the model's own predictions, in record
batches, on a local Dask cluster too; refusals (unapproved, no permission, a missing column) end in one line, the
right exit status and no output file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as pq
import pytest

from bastion.cli import main
from bastion.ml.persist import load_model
from bastion.registry import Stage
from tests.serve.conftest import FEATURES, ApprovedModel, model_directory, training_table

ROWS = 1_000


def inputs(directory: Path) -> tuple[Path, Path, pa.Table]:
    """The same rows as CSV and Parquet, with a column the model does not take (kept in the output)."""
    table, _ = training_table(seed=5, rows=ROWS)
    table = table.select(list(FEATURES)).append_column("customer", pa.array([f"c{i}" for i in range(ROWS)]))
    directory.mkdir(exist_ok=True)
    csv.write_csv(table, directory / "in.csv")
    pq.write_table(table, directory / "in.parquet", row_group_size=300)
    return directory / "in.csv", directory / "in.parquet", table


def expected(source: Path, table: pa.Table) -> tuple[list[str], np.ndarray]:
    model = load_model(source / "model.skops")
    matrix = np.column_stack([table.column(name).to_numpy().astype(float) for name in FEATURES])
    probabilities = model.predict_proba(matrix)
    return [str(model.classes_[i]) for i in probabilities.argmax(axis=1)], probabilities[:, 1]


def bastion(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.mark.parametrize(("given", "written"), [("csv", "parquet"), ("parquet", "csv"), ("parquet", "parquet")])
def test_batch_scores_equal_the_models_predictions(
    approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, written: str
) -> None:
    csv_input, parquet_input, table = inputs(tmp_path / "data")
    source = csv_input if given == "csv" else parquet_input
    output = tmp_path / f"scored.{written}"
    token = approved_model.instance.tokens["client"]
    status, out, err = bastion(capsys, "predict", "churn", str(source), "-o", str(output), "--token", token, "--format", "json")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert (report["model"], report["version"], report["rows"], report["format"]) == ("churn", 1, ROWS, written)

    scored = pq.read_table(output) if written == "parquet" else csv.read_csv(output)
    assert scored.column_names == [*FEATURES, "customer", "prediction", "score"]
    predictions, scores = expected(approved_model.source, table)
    assert [str(p) for p in scored.column("prediction").to_pylist()] == predictions
    assert np.allclose(scored.column("score").to_numpy(), scores, rtol=0, atol=1e-12)
    assert scored.column("customer").to_pylist() == table.column("customer").to_pylist()


def test_batch_scoring_on_a_local_dask_cluster(approved_model: ApprovedModel, tmp_path: Path) -> None:
    from bastion.scanners.cluster import cluster_executor
    from bastion.serve.admission import admit, version_record
    from bastion.serve.batch import predict_file

    _, parquet_input, table = inputs(tmp_path / "data")
    engine = approved_model.instance.registry.engine
    served = admit(engine, version_record(engine, "churn", 1), tolerance=0.1, max_batch=1000)
    with cluster_executor("local") as executor:
        report = predict_file(served, parquet_input, tmp_path / "scored.parquet", executor=executor, batch_rows=128)
    assert report.rows == ROWS
    predictions, scores = expected(approved_model.source, table)
    scored = pq.read_table(tmp_path / "scored.parquet")
    assert scored.column("prediction").to_pylist() == predictions
    assert np.allclose(scored.column("score").to_numpy(), scores, rtol=0, atol=1e-12)


def refusal(capsys: pytest.CaptureFixture[str], output: Path, *argv: str, status: int, message: str) -> None:
    code, out, err = bastion(capsys, *argv, "-o", str(output))
    assert code == status and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and not output.exists()


def test_refusals_leave_no_output(approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    instance = approved_model.instance
    csv_input, _, table = inputs(tmp_path / "data")
    output = tmp_path / "out.parquet"
    unapproved = instance.publish("churn", model_directory(tmp_path / "v2", 4), approve=False, stage=Stage.DEV)
    client, scientist = instance.tokens["client"], instance.tokens["data-scientist"]
    refusal(capsys, output, "predict", f"churn:{unapproved}", str(csv_input), "--token", client, status=1, message="not approved")
    refusal(capsys, output, "predict", "churn", str(csv_input), "--token", scientist, status=3, message="model.predict")
    no_tenure = tmp_path / "no-tenure.csv"
    csv.write_csv(table.drop_columns(["tenure"]), no_tenure)
    refusal(capsys, output, "predict", "churn", str(no_tenure), "--token", client, status=2, message="no column 'tenure'")
    text = tmp_path / "text.csv"
    text.write_text("age,income,tenure\n30,abc,1\n")
    refusal(capsys, output, "predict", "churn", str(text), "--token", client, status=2, message=f"{text}: cannot read it as CSV")
    refusal(
        capsys, tmp_path / "out.json", "predict", "churn", str(csv_input), "--token", client, status=2, message=".parquet or .csv"
    )


def test_an_output_in_a_missing_directory_is_one_line(
    approved_model: ApprovedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_input, _, _ = inputs(tmp_path / "data")
    output = tmp_path / "missing" / "out.parquet"
    client = approved_model.instance.tokens["client"]
    status, _, err = bastion(capsys, "predict", "churn", str(csv_input), "-o", str(output), "--token", client)
    assert status == 2 and f"{output}: cannot write" in err and "Traceback" not in err, err
    assert not output.parent.exists()
