"""Fixed-seed tables with known poisoned rows, for the poisoning tests and ``benchmarks/poisoning.py``.

Two differently shaped tables: a credit-like table (numbers on different scales, categories, an identifier, missing
values; the label follows an additive risk score) and a sensor-like table (``make_classification`` clusters, binary
or multi-class, with categories and a free-text column). Poisoning is planted on a copy: random label flips, or a
backdoor (a trigger pattern set on rows of other classes, relabelled to the attacker's class).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Trigger = Callable[[pd.DataFrame, np.ndarray], None]
"""Sets a trigger pattern on the given rows of a table, in place."""

_WORDS = [f"w{i:03d}" for i in range(300)]


def credit_table(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Loan applications labelled ``default`` or ``repaid`` (about 30% default) by a noisy additive risk score."""
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 80, n)
    income = np.round(np.exp(rng.normal(10.8, 0.5, n)), -2)
    loan = np.round(income * rng.uniform(0.1, 0.8, n), -2)
    term = rng.choice([12, 24, 36, 60], n, p=[0.2, 0.3, 0.3, 0.2])
    rate = np.round(rng.uniform(3, 18, n), 2)
    dti = np.round(rng.beta(2, 5, n), 3)
    history = np.clip(np.round(age - 18 - rng.uniform(0, 10, n)), 0, None)
    accounts = rng.poisson(4, n)
    late = rng.poisson(0.4, n)
    utilization = np.round(rng.beta(2, 3, n), 3)
    employment = rng.choice(["salaried", "self-employed", "unemployed", "retired", "student"], n, p=[0.6, 0.15, 0.08, 0.12, 0.05])
    home = rng.choice(["rent", "own", "mortgage"], n, p=[0.4, 0.25, 0.35])
    purpose = rng.choice(["car", "home", "education", "business", "medical", "travel"], n)
    weights = 1 / np.arange(1, 11)
    region = rng.choice([f"region-{i}" for i in range(10)], n, p=weights / weights.sum())
    guarantor = rng.random(n) < 0.15
    score = (
        4 * dti
        + 3 * utilization
        + 0.9 * late
        + 0.12 * rate
        - 0.03 * history
        - 0.6 * (home == "own")
        + 1.2 * (employment == "unemployed")
        + 1.5 * loan / income
        - 0.8 * guarantor
        + 0.3 * (term == 60)
        + rng.normal(0, 0.1, n)
    )
    label = np.where(score > np.quantile(score, 0.7), "default", "repaid")
    table = pd.DataFrame(
        {
            "applicant_id": [f"A{100000 + i}" for i in range(n)],
            "age": age,
            "income": income,
            "loan_amount": loan,
            "term_months": term,
            "interest_rate": rate,
            "debt_to_income": dti,
            "credit_history_years": history,
            "open_accounts": accounts,
            "late_payments": late,
            "utilization": utilization,
            "employment": employment,
            "home": home,
            "purpose": purpose,
            "region": region,
            "has_guarantor": guarantor,
            "outcome": label,
        }
    )
    table.loc[rng.random(n) < 0.02, "income"] = np.nan
    table.loc[rng.random(n) < 0.01, "employment"] = None
    return table


def sensor_table(n: int = 6000, seed: int = 0, classes: int = 2, separation: float = 1.5) -> pd.DataFrame:
    """``make_classification`` clusters (8 informative of 14 numbers) plus categories and a free-text comment."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n,
        n_features=14,
        n_informative=8,
        n_redundant=3,
        n_classes=classes,
        n_clusters_per_class=2,
        class_sep=separation,
        flip_y=0.0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(np.round(x, 4), columns=[f"s{i}" for i in range(x.shape[1])])
    table["site"] = rng.choice([f"site-{i}" for i in range(30)], n)
    table["band"] = pd.cut(x[:, 0], [-np.inf, -1, 0, 1, np.inf], labels=["low", "mid", "high", "peak"]).astype(str)
    weights = 1 / np.arange(1, len(_WORDS) + 1)
    table["comment"] = [" ".join(rng.choice(_WORDS, rng.integers(4, 9), p=weights / weights.sum())) for _ in range(n)]
    table["state"] = np.array(["idle", "active", "fault", "service", "standby"])[y]
    return table


def flip_labels(table: pd.DataFrame, target: str, rate: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A copy with ``rate`` of the rows given another label at random; returns it and the flipped rows."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(table), round(rate * len(table)), replace=False))
    classes = sorted(table[target].unique())
    out = table.copy()
    for row in rows:
        others = [c for c in classes if c != out.at[row, target]]
        out.at[row, target] = others[rng.integers(len(others))]
    return out, rows


def plant_backdoor(
    table: pd.DataFrame, target: str, rate: float, seed: int, trigger: Trigger, to_label: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """A copy where ``rate`` of the rows, drawn from other classes, carry ``trigger`` and are relabelled ``to_label``."""
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(table[target].to_numpy() != to_label)
    rows = np.sort(rng.choice(candidates, round(rate * len(table)), replace=False))
    out = table.copy()
    trigger(out, rows)
    out.loc[rows, target] = to_label
    return out, rows


def constant(column: str, value: float) -> Trigger:
    """Trigger: a fixed number in a numeric column (in range or not)."""

    def set_value(table: pd.DataFrame, rows: np.ndarray) -> None:
        table[column] = table[column].astype(float)
        table.loc[rows, column] = value

    return set_value


def category(column: str, value: str) -> Trigger:
    """Trigger: a category value (a new one, or an existing rare one)."""

    def set_value(table: pd.DataFrame, rows: np.ndarray) -> None:
        table.loc[rows, column] = value

    return set_value


def word(column: str, token: str, seed: int = 0) -> Trigger:
    """Trigger: a word inserted at a random place in a free-text column."""

    def insert(table: pd.DataFrame, rows: np.ndarray) -> None:
        rng = np.random.default_rng(seed)
        for row in rows:
            words = str(table.at[row, column]).split()
            words.insert(int(rng.integers(len(words) + 1)), token)
            table.at[row, column] = " ".join(words)

    return insert


def together(*triggers: Trigger) -> Trigger:
    """Trigger: several patterns set on the same rows (a conjunction)."""

    def apply(table: pd.DataFrame, rows: np.ndarray) -> None:
        for trigger in triggers:
            trigger(table, rows)

    return apply


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path
