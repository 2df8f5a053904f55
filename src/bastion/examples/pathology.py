"""The demo project: breast-cancer diagnosis from digitized biopsy images (the PathAI seed's digital-pathology case).

The measurements are scikit-learn's Wisconsin diagnostic data, which ships inside the installed package; each
case is joined with a synthetic patient identity (Faker, fixed seed) the way a hospital export would carry one.
Problems are planted for the first gate to find: raw identifiers in the table, a token leaked in a notebook's
output, a dependency pinned to a version with a known advisory. ``apply_fixes`` then does what the team would do.
The planted token is random and made when the project is built, so none is ever committed or live.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import secrets
import string
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

TARGET = "diagnosis"
POSITIVE = "malignant"
VULNERABLE_PIN = "requests==2.19.1"
FIXED_PIN = "requests==2.32.4"
_IDENTITY_COLUMNS = ("patient_name", "email", "phone", "ssn", "birth_date", "address", "clinician_note")
_REFERENCE_DAY = dt.date(2026, 1, 1)  # ages are computed at a fixed day so the project is the same every time

SPEC = """\
# The demo pipeline: scan everything, gate, anonymize, train, evaluate, test the model, gate, package, sign, register.
version: 1
name: breast-cancer-diagnosis
inputs:
  datasets: [data/patients.csv]
  target: diagnosis
  positive_label: malignant
  facets:                         # bias is measured for these before and after training
    - {column: sex, sensitive: [F]}
    - {column: age, threshold: 60}
  code: [src]
  notebooks: [notebooks]
  requirements: [requirements.txt]
gates:
  pre_training: policies/pre-training.yaml    # PASS = Security AND Compliance
  post_training: policies/post-training.yaml  # PASS = Security (and the metric thresholds)
steps:
  scan: {offline: true}           # dependencies are matched against the local advisory mirror
%(anonymize)s  split: {test_size: 0.25, seed: 7}
  train:
    estimator: "train:build_model"
    params: {C: 0.5}
    folds: 5
    seed: 7
"""

_ANONYMIZE_STEP = "  anonymize: {policy: policies/anonymize.yaml}\n"

PRE_TRAINING_POLICY = """\
# Before training: nothing at or above high from any scanner (secrets, PII, vulnerable dependencies, unsafe models).
version: 1
fail_on: high
"""

POST_TRAINING_POLICY = """\
# After the model tests: no unsafe model file, no PII among the features, a model that generalizes and does not
# leak its training patients, and no more than a bounded gap between the facets.
version: 1
fail_on: high
metrics:
  - roc_auc >= 0.95
  - recall >= 0.9
  - mia_auc <= 0.6
  - robustness_flip_rate <= 0.05
  - pii_features <= 0
  - abs(DPPL[sex]) <= 0.2
  - abs(DPPL[age]) <= 0.3
"""

ANONYMIZATION_POLICY = """\
# Direct identifiers and free-text notes never reach training. Sex and age stay (the bias facets); k-anonymity is
# measured over them.
version: 1
quasi_identifiers: [sex, age]
columns:
  patient_name: drop
  email: drop
  phone: drop
  ssn: drop
  address: drop
  birth_date: drop
  clinician_note: drop
"""

TRAIN_MODULE = '''\
"""The team's model: standardized measurements into a regularized logistic regression."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build_model(C: float = 1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
'''


@dataclass(frozen=True)
class DemoProject:
    """Where the demo project's parts are."""

    root: Path
    """The project directory."""
    spec: Path
    """Its ``bastion.yaml``."""
    advisories: Path
    """A zip of the real OSV advisories for the project's pins, to fill the offline advisory mirror from."""


def build_pathology_project(root: Path) -> DemoProject:
    """Write the demo project, with its planted problems, into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("data", "src", "notebooks", "policies"):
        (root / folder).mkdir(exist_ok=True)
    _write_patients(root / "data" / "patients.csv")
    (root / "src" / "train.py").write_text(TRAIN_MODULE)
    (root / "notebooks" / "explore.ipynb").write_text(_notebook())
    (root / "requirements.txt").write_text(f"scikit-learn>=1.4\n{VULNERABLE_PIN}\n")
    (root / "policies" / "pre-training.yaml").write_text(PRE_TRAINING_POLICY)
    (root / "policies" / "post-training.yaml").write_text(POST_TRAINING_POLICY)
    spec = root / "bastion.yaml"
    spec.write_text(SPEC % {"anonymize": ""})
    return DemoProject(root, spec, _advisory_archive(root / ".advisories.zip"))


def apply_fixes(project: DemoProject) -> list[str]:
    """What the team does after the first gate: anonymize, strip the notebook, upgrade the pin. One line per fix."""
    from bastion.scanners.code.notebook import strip_outputs

    (project.root / "policies" / "anonymize.yaml").write_text(ANONYMIZATION_POLICY)
    project.spec.write_text(SPEC % {"anonymize": _ANONYMIZE_STEP})
    notebook = project.root / "notebooks" / "explore.ipynb"
    stripped = strip_outputs(notebook.read_bytes())
    notebook.write_bytes(stripped.data)
    requirements = project.root / "requirements.txt"
    requirements.write_text(requirements.read_text().replace(VULNERABLE_PIN, FIXED_PIN))
    return [
        "added policies/anonymize.yaml (drops direct identifiers and the clinician notes) to bastion.yaml",
        f"stripped {stripped.outputs_removed} output(s) from notebooks/explore.ipynb (bastion notebooks strip)",
        f"upgraded {VULNERABLE_PIN} to {FIXED_PIN} in requirements.txt",
    ]


def _write_patients(path: Path) -> None:
    """569 biopsies with their 30 measurements, the diagnosis, and a synthetic identity per patient."""
    from faker import Faker
    from sklearn.datasets import load_breast_cancer

    cases = load_breast_cancer()
    measurements = [str(name).replace(" ", "_") for name in cases.feature_names]
    fake = Faker("en_US")
    fake.seed_instance(2026)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*_IDENTITY_COLUMNS[:-1], "sex", "age", *measurements, TARGET, _IDENTITY_COLUMNS[-1]])
        for values, label in zip(cases.data, cases.target, strict=True):
            name, phone = fake.name(), fake.phone_number()
            born = fake.date_of_birth(minimum_age=25, maximum_age=85)
            age = _REFERENCE_DAY.year - born.year - ((_REFERENCE_DAY.month, _REFERENCE_DAY.day) < (born.month, born.day))
            note = f"Biopsy reviewed with {name}; results to be discussed by phone at {phone}."
            writer.writerow(
                [
                    name,
                    fake.email(),
                    phone,
                    fake.ssn(),
                    born.isoformat(),
                    fake.address().replace("\n", ", "),
                    fake.random_element(["F", "M"]),
                    age,
                    *(f"{value:.6g}" for value in values),
                    cases.target_names[label],
                    note,
                ]
            )


def _notebook() -> str:
    token = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Exploring the biopsy measurements\n"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": ["import os\n", "os.environ['GITHUB_TOKEN']  # to pull the labelled slides\n"],
            "outputs": [
                {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": [f"'{token}'"]}}
            ],
        },
    ]
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    return json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def _advisory_archive(path: Path) -> Path:
    """The shipped advisories as the zip ``bastion vulndb update`` reads (OSV's all.zip has the same layout)."""
    with zipfile.ZipFile(path, "w") as archive:
        for record in sorted(resources.files("bastion.examples").joinpath("advisories").iterdir(), key=lambda r: r.name):
            if record.name.endswith(".json"):
                archive.writestr(record.name, record.read_bytes())
    return path
