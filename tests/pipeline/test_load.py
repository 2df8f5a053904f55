"""Reading bastion.yaml: a valid file, and every kind of mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.pipeline.load import SpecError, load_spec

VALID = """\
name: clinic
inputs:
  datasets: [data/patients.csv]
  target: diagnosis
  facets:
    - column: sex
      sensitive: [F]
  code: [src]
steps:
  anonymize:
    policy: anonymize.yaml
  train:
    estimator: model:build_model
    params: {max_depth: 3}
gates:
  pre_training: gate-pre.yaml
"""


def _project(tmp_path: Path, text: str = VALID) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "patients.csv").write_text("sex,diagnosis\nF,1\nM,0\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "anonymize.yaml").write_text("columns: {}\n")
    (tmp_path / "gate-pre.yaml").write_text("fail_on: high\n")
    spec = tmp_path / "bastion.yaml"
    spec.write_text(text)
    return spec


def test_valid_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(_project(tmp_path))

    assert spec.name == "clinic"
    assert spec.inputs.datasets == ("data/patients.csv",)
    assert spec.inputs.facets[0].column == "sex"
    assert spec.inputs.facets[0].sensitive == ("F",)
    assert spec.steps.train is not None
    assert spec.steps.train.estimator == "model:build_model"
    assert spec.steps.train.params == {"max_depth": 3}
    assert spec.steps.split.test_size == 0.2
    assert spec.gates.pre_training == "gate-pre.yaml"


@pytest.mark.parametrize("name", ["team/churn", "..", "-x", ""])
def test_a_name_that_is_not_a_plain_name_is_refused_with_its_line(tmp_path: Path, name: str) -> None:
    path = _project(tmp_path, VALID.replace("name: clinic", f"name: {name!r}"))

    with pytest.raises(SpecError, match=r"bastion\.yaml:1: .* is not a valid pipeline name"):
        load_spec(path)


def test_misspelt_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("  target: diagnosis", "  target: diagnosis\n  facts: []"))

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    assert str(caught.value) == f"{path}:5: inputs.facts: unknown setting; check its spelling"


def test_misspelt_nested_step_setting(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("    params: {max_depth: 3}", "    parms: {max_depth: 3}"))

    with pytest.raises(SpecError, match=r":14: steps\.train\.parms: unknown setting; check its spelling$"):
        load_spec(path)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("  target: diagnosis\n", ""))

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    assert str(caught.value).startswith(f"{path}:2: inputs.target: ")
    assert "required" in str(caught.value).lower()


def test_missing_top_level_section(tmp_path: Path) -> None:
    path = _project(tmp_path, "name: clinic\nsteps: {}\n")

    with pytest.raises(SpecError, match=r":1: inputs: .*required"):
        load_spec(path)


def test_nonexistent_input_is_named_with_its_line(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("data/patients.csv", "data/patient.csv"))

    with pytest.raises(SpecError) as caught:
        load_spec(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:3: inputs.datasets.0: data/patient.csv: no such file or directory")
    assert "check the path" in message


def test_nonexistent_policy_file(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("pre_training: gate-pre.yaml", "pre_training: gate.yaml"))

    with pytest.raises(SpecError, match=r":16: gates\.pre_training: gate\.yaml: no such file"):
        load_spec(path)


def test_estimator_must_be_module_colon_function(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("model:build_model", "model.build_model"))

    with pytest.raises(SpecError, match=r":13: steps\.train\.estimator: 'model\.build_model' is not module:function"):
        load_spec(path)


def test_no_dataset(tmp_path: Path) -> None:
    path = _project(tmp_path, VALID.replace("[data/patients.csv]", "[]"))

    with pytest.raises(SpecError, match=r":3: inputs\.datasets: name at least one dataset"):
        load_spec(path)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    broken = _project(tmp_path, "name: [unclosed\n")
    with pytest.raises(SpecError, match=r"bastion\.yaml:\d+: not valid YAML"):
        load_spec(broken)
    broken.write_text("- a list\n")
    with pytest.raises(SpecError, match=r"bastion\.yaml:1: a pipeline file is a mapping"):
        load_spec(broken)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"bastion\.yaml: pipeline file not found; check the path"):
        load_spec(tmp_path / "bastion.yaml")
