"""The model schema written beside a packaged model: types, ranges, categories and examples from training."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from bastion.ml.schema import InputField, ModelSchema, SchemaError, describe_inputs


def test_inputs_are_described_from_the_training_table() -> None:
    table = pa.table(
        {
            "age": [30, 40, None, 70, 50],
            "radius": [1.5, 2.5, 3.0, 0.5, 2.0],
            "sex": ["F", "M", "F", "F", None],
            "smoker": [True, False, True, True, False],
            "note": [f"free text {i}" for i in range(5)],
        }
    )
    fields = {field.name: field for field in describe_inputs(table, ["age", "radius", "sex", "smoker"])}
    assert fields["age"] == InputField("age", "integer", 45, 30.0, 70.0, nullable=True)
    assert fields["radius"] == InputField("radius", "number", 2.0, 0.5, 3.0)
    assert fields["sex"] == InputField("sex", "string", "F", categories=("F", "M"), nullable=True)
    assert fields["smoker"] == InputField("smoker", "boolean", True)


def test_free_text_has_no_categories_and_ties_pick_the_smallest_value() -> None:
    table = pa.table({"note": [f"n{i:03d}" for i in range(60)]})
    (field,) = describe_inputs(table, ["note"])
    assert field.categories is None
    assert field.example == "n000"


def test_a_schema_round_trips_and_a_bad_file_is_one_line(tmp_path: Path) -> None:
    schema = ModelSchema(
        (InputField("age", "integer", 40, 30.0, 70.0),), "diagnosis", ("benign", "malignant"), "malignant", "m.skops"
    )
    assert ModelSchema.read(schema.write(tmp_path)) == schema
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "schema.json").write_text('{"inputs": 3}')
    with pytest.raises(SchemaError, match=r"bad/schema.json: not a model schema"):
        ModelSchema.read(tmp_path / "bad" / "schema.json")
    with pytest.raises(SchemaError, match="has no model schema"):
        ModelSchema.read(tmp_path / "missing" / "schema.json")
