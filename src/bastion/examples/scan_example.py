"""A small project with planted problems, for ``bastion demo`` and the README's tour.

The planted credentials are random and made when the project is built, so none is ever
committed or live.
"""

from __future__ import annotations

import json
import secrets
import string
import tempfile
from pathlib import Path

_BASE32 = string.ascii_uppercase + "234567"
_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def build_scan_example(workdir: Path | None = None) -> Path:
    """Write the example project into ``workdir`` (a new temporary directory by default)."""
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="bastion-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(
        "import os\n\n"
        f'AWS_ACCESS_KEY_ID = "AKIA{_random(_BASE32, 16)}"\n'
        'BUCKET = os.environ.get("BUCKET", "datasets")\n\n\n'
        "def main() -> None:\n"
        '    print("training on", BUCKET)\n'
    )
    (root / "requirements.txt").write_text("scikit-learn==1.5.2\npandas>=2.2\n")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Exploration\n"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "source": ["import os\n", "os.environ['GITHUB_TOKEN']\n"],
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/plain": [f"'ghp_{_random(_ALNUM, 36)}'"]},
                    },
                ],
            },
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "explore.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
    _write_patients(root / "patients.csv")
    (root / "README.md").write_text("# Example project\n\nA tiny project with problems planted for `bastion demo`.\n")
    return root


def _write_patients(path: Path, rows: int = 200) -> None:
    """Synthetic patient identities (Faker, fixed seed) beside a diagnostic measurement: PII to find."""
    import csv

    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_name", "email", "ssn", "birth_date", "mean_radius", "diagnosis"])
        for _ in range(rows):
            writer.writerow(
                [
                    fake.name(),
                    fake.email(),
                    fake.ssn(),
                    fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
                    round(fake.pyfloat(min_value=6, max_value=28), 2),
                    fake.random_element(["benign", "malignant"]),
                ]
            )
