"""Starter projects for ``bastion init --template``: a commented bastion.yaml, its policies, code and data."""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path

from bastion.core.errors import BastionError

TEMPLATES = ("tabular",)

_FIRST = ("Anna", "Boris", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena")
_LAST = ("Ivanova", "Smith", "Wang", "Garcia", "Novak", "Okafor", "Larsen", "Petrov", "Silva", "Kowalski")


def write_starter(template: str, directory: Path) -> list[Path]:
    """Write the ``template`` project into ``directory``; refuses to overwrite anything. The files written."""
    source = resources.files("bastion.pipeline") / "starters" / template
    files = {name: (source / name).read_bytes() for name in _names(template)}
    files["data/patients.csv"] = _patients().encode("utf-8")
    taken = [name for name in files if (directory / name).exists()]
    if taken:
        raise BastionError(f"{directory / taken[0]}: already exists; give `bastion init --template` an empty or new directory")
    from bastion.core.atomic import atomic_write

    written = []
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, content)
        written.append(path)
    return written


def _names(template: str) -> tuple[str, ...]:
    if template != "tabular":
        raise BastionError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    return ("bastion.yaml", "train.py", "policies/gate-pre.yaml", "policies/gate-post.yaml", "policies/anonymize.yaml")


def _patients(rows: int = 400, seed: int = 0) -> str:
    """Synthetic patients with identities (for the scan and the anonymization) and a learnable outcome."""
    import math

    rng = random.Random(seed)
    lines = ["patient_id,name,email,sex,age,bmi,blood_pressure,glucose,outcome"]
    for index in range(rows):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        age = rng.randint(20, 85)
        bmi = round(rng.gauss(27, 4), 1)
        pressure = int(rng.gauss(125, 15))
        glucose = int(rng.gauss(105, 25))
        risk = 0.06 * (glucose - 105) + 0.15 * (bmi - 27) + 0.03 * (age - 50) + rng.gauss(0, 1)
        outcome = int(1 / (1 + math.exp(-risk)) > 0.5)
        email = f"{first.lower()}.{last.lower()}{index}@example.com"
        lines.append(f"P{index:05d},{first} {last},{email},{rng.choice('FM')},{age},{bmi},{pressure},{glucose},{outcome}")
    return "\n".join(lines) + "\n"
