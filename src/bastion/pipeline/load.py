"""Reading ``bastion.yaml``: validated against the spec models, every problem named with its line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core.errors import BastionError
from bastion.ml.train import ESTIMATOR_PATTERN

if TYPE_CHECKING:
    from bastion.core.yaml_document import YamlDocument
    from bastion.pipeline.spec import PipelineSpec

# The registry's rule for a model name, which the pipeline's name is by default; it also names the package's
# directory and its Kitfile, so it can never be a path ("team/churn", "..").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class SpecError(BastionError):
    """``bastion.yaml`` is missing, not YAML, or not a valid pipeline."""


def load_spec(path: Path) -> PipelineSpec:
    """Read and validate the pipeline file at ``path``; relative paths in it must exist beside it."""
    from bastion.core.yaml_document import read_yaml, validate
    from bastion.pipeline.spec import PipelineSpec

    document = read_yaml(path, what="pipeline file", error=SpecError)
    if not isinstance(document.data, dict):
        raise SpecError(
            f"{path}:1: a pipeline file is a mapping of settings (name, inputs, steps); see `bastion init --template tabular`"
        )
    spec = validate(document, PipelineSpec, document.data, error=SpecError)
    if not spec.inputs.datasets:
        raise SpecError(document.message(("inputs", "datasets"), "name at least one dataset (the first is the training table)"))
    if not _NAME.fullmatch(spec.name):
        raise SpecError(
            document.message(
                ("name",),
                f"{spec.name!r} is not a valid pipeline name; use letters, digits, '.', '_' and '-' (at most 128), "
                "starting with a letter or digit",
            )
        )
    _check_estimator(document, spec)
    _check_paths(document, spec, path.parent)
    return spec


def _check_estimator(document: YamlDocument, spec: PipelineSpec) -> None:
    train = spec.steps.train
    if train is not None and not ESTIMATOR_PATTERN.fullmatch(train.estimator):
        raise SpecError(
            document.message(
                ("steps", "train", "estimator"),
                f"{train.estimator!r} is not module:function; name the function that builds the estimator (train:build_model)",
            )
        )


def _check_paths(document: YamlDocument, spec: PipelineSpec, project: Path) -> None:
    for loc, value in _paths(spec):
        if not (project / value).exists():
            raise SpecError(document.message(loc, f"{value}: no such file or directory (relative to {project}); check the path"))


def _paths(spec: PipelineSpec) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every path setting with its location in the document."""
    inputs = spec.inputs
    for key in ("datasets", "code", "notebooks", "requirements", "models"):
        for index, value in enumerate(getattr(inputs, key)):
            yield ("inputs", key, index), value
    optional = (
        (("steps", "anonymize", "policy"), spec.steps.anonymize.policy),
        (("steps", "sign", "key"), spec.steps.sign.key),
        (("gates", "pre_training"), spec.gates.pre_training),
        (("gates", "post_training"), spec.gates.post_training),
    )
    for loc, setting in optional:
        if setting is not None:
            yield loc, setting
