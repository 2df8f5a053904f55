"""Small real ML projects for the pipeline tests, an initialised instance to run them in, and a helper that runs
the real steps of ``default_steps`` in graph order.

    home = tmp / "home"; token = init_home(home)          # bastion init + an offline advisory mirror
    project = write_project(tmp / "project", anonymize=True, params={"kind": "tree"})
    results = run_steps(project, home, until="gate-post")  # name -> StepResult of that step and all it needs

The table (``data/patients.csv``) has a target ``label`` (0/1, ~15% of labels flipped so that a model can
memorize), a facet ``sex`` (F is the disadvantaged facet), numeric features ``age``, ``x1``..``x3`` and two PII
columns: ``patient_name`` (PERSON) and ``email`` (EMAIL_ADDRESS). ``anon.yaml`` drops ``patient_name`` and
pseudonymizes ``email``; ``train.py`` holds ``build_model(kind="logistic"|"tree", C=1.0)`` and ``broken_model()``,
which raises. The BASTION_HOME environment variable must point at ``home`` while steps run (use monkeypatch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bastion.pipeline.interface import Step, StepContext, StepResult
from bastion.pipeline.load import load_spec
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps import default_steps

FEATURES = ("age", "x1", "x2", "x3")
TRAIN_PY = '''\
"""The project's estimators."""

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier


def build_model(kind="logistic", C=1.0):
    if kind == "tree":
        return DecisionTreeClassifier(random_state=0)  # no depth limit: it memorizes every training row
    return LogisticRegression(C=C, max_iter=1000)


def broken_model():
    raise RuntimeError("the feature store is unreachable")
'''
ANON_YAML = """\
version: 1
columns:
  patient_name: drop
  email: {action: pseudonymize, prefix: "em_"}
"""


def write_table(path: Path, *, rows: int = 300, seed: int = 0) -> Path:
    """The patients table: a learnable label with some flipped, a facet, numeric features and two PII columns."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, rows)
    x = rng.normal(size=(rows, 3))
    sex = rng.choice(["F", "M"], rows)
    signal = 1.5 * x[:, 0] - x[:, 1] + 0.02 * (age - 50)
    label = (signal + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    flipped = rng.random(rows) < 0.15
    label[flipped] = 1 - label[flipped]
    lines = ["patient_name,email,sex,age,x1,x2,x3,label"]
    for i in range(rows):
        name = fake.name()
        email = f"{name.lower().replace(' ', '.').replace(',', '')}@example.org"
        lines.append(f"{name},{email},{sex[i]},{age[i]},{x[i, 0]:.4f},{x[i, 1]:.4f},{x[i, 2]:.4f},{label[i]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_project(
    directory: Path,
    *,
    anonymize: bool = False,
    estimator: str = "train:build_model",
    params: Mapping[str, Any] | None = None,
    target: str = "label",
    register: bool = True,
    features: tuple[str, ...] | None = FEATURES,
    extra: str = "",
) -> Path:
    """A project directory with ``bastion.yaml``; returns the directory. ``features=None`` leaves ``inputs.features``
    out (the default: every column but the target and the facets); ``extra`` is appended to the YAML."""
    directory.mkdir(parents=True, exist_ok=True)
    write_table(directory / "data" / "patients.csv")
    (directory / "src").mkdir(exist_ok=True)
    (directory / "src" / "train.py").write_text(TRAIN_PY, encoding="utf-8")
    (directory / "requirements.txt").write_text("scikit-learn==1.9.1\nnumpy==2.4.6\n", encoding="utf-8")
    (directory / "anon.yaml").write_text(ANON_YAML, encoding="utf-8")
    policy = "  anonymize: {policy: anon.yaml}\n" if anonymize else ""
    listed = f"  features: [{', '.join(features)}]\n" if features is not None else ""
    yaml = f"""\
name: patients
inputs:
  datasets: [data/patients.csv]
  target: {target}
  facets: [{{column: sex, sensitive: [F]}}]
{listed}  code: [src]
  requirements: [requirements.txt]
steps:
{policy}  split: {{test_size: 0.3, seed: 0}}
  train:
    estimator: {estimator}
    params: {json.dumps(dict(params or {}))}
    folds: 3
  register: {{enabled: {str(register).lower()}}}
{extra}"""
    (directory / "bastion.yaml").write_text(yaml, encoding="utf-8")
    return directory


def spec_of(project: Path) -> PipelineSpec:
    return load_spec(project / PipelineSpec.FILE_NAME)


def init_home(home: Path) -> str:
    """``bastion init`` in ``home`` (keyring, signing key, registry, audit log) and an offline advisory mirror from
    the test fixtures; returns the first admin's API token."""
    from bastion.scanners.code.advisories import update_mirror
    from tests.code.osv_server import osv_archive

    environment = {**os.environ, "BASTION_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "bastion", "init", "--format", "json"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        timeout=120,
    )
    archive = home / "osv-all.zip"
    archive.write_bytes(osv_archive())
    update_mirror(home / "vulndb" / "osv.sqlite", osv_url=archive.as_uri(), pypa_url=None)
    token: str = json.loads(done.stdout)["token"]
    return token


def context_for(project: Path, home: Path, step: Step, upstream: Mapping[str, StepResult], *, run_id: str) -> StepContext:
    """What the runner hands ``step``: a fresh workdir, the real store of ``home``, the upstream results."""
    from bastion.store import open_store

    workdir = home.parent / "work" / run_id / step.name
    workdir.mkdir(parents=True)
    return StepContext(
        run_id=run_id,
        spec=spec_of(project),
        project=project,
        workdir=workdir,
        upstream={name: upstream[name] for name in step.needs},
        store=open_store(),
        home=home,
    )


def run_steps(project: Path, home: Path, *, until: str, run_id: str = "run-1") -> dict[str, StepResult]:
    """Run ``until`` and every step it needs (in ``default_steps`` order); stops early when a gate fails."""
    steps = {step.name: step for step in default_steps(spec_of(project))}
    wanted = _ancestors(steps, until)
    results: dict[str, StepResult] = {}
    for name, step in steps.items():
        if name in wanted:
            results[name] = step.run(context_for(project, home, step, results, run_id=run_id))
            if results[name].status == "failed":
                break
    return results


def _ancestors(steps: Mapping[str, Step], name: str) -> set[str]:
    found = {name}
    for need in steps[name].needs:
        found |= _ancestors(steps, need)
    return found
