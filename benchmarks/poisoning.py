"""Poisoning benchmark: Bastion's poisoning analysis against the cleanlab-default anchor, on the same tables, in one run.

    .venv/bin/python benchmarks/poisoning.py [--quick] [--json FILE]

The tables are the fixed-seed generators of the tests (``tests/data/poisoning_data.py``) with known poisoned rows:
random label flips and backdoors (a trigger set on rows of other classes, relabelled to the attacker's class).

Anchor (issue 4): ``cleanlab.filter.find_label_issues`` with its default settings on 5-fold cross-validated
probabilities of ``HistGradientBoostingClassifier`` with its default settings, fitted on the feature matrix Bastion
builds from the same file (numbers as they are, categories as codes), so only the method differs. cleanlab is the
library Bastion itself uses, so the anchor runs in this venv. Both run single-threaded (see ``poisoning.py``).

Bastion's figures count every row it reports (all rules); the anchor has only label issues. Precision and recall
are over the planted rows; on a clean table the flagged share is the false-positive rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the generators live with the tests

from tests.data import poisoning_data as gen  # noqa: E402

from bastion.scanners.data._poison_features import build_features  # noqa: E402
from bastion.scanners.data._poison_table import class_counts, read_table, usable  # noqa: E402
from bastion.scanners.data.dataset import Dataset  # noqa: E402
from bastion.scanners.data.poisoning import PoisoningAnalysis  # noqa: E402
from bastion.scanners.interface import ScanOptions  # noqa: E402

Make = Callable[[], tuple[pd.DataFrame, np.ndarray]]


@dataclass
class Result:
    scenario: str
    kind: str
    """clean | flips | backdoor"""
    rows: int
    planted: int
    bastion_flagged: int
    bastion_precision: float | None
    bastion_recall: float | None
    bastion_wall_s: float
    bastion_cpu_s: float
    anchor_flagged: int
    anchor_precision: float | None
    anchor_recall: float | None
    anchor_wall_s: float


def scenarios(quick: bool) -> list[tuple[str, str, str, Make]]:
    """(name, kind, target, make) — make returns the table and its planted rows."""
    credit = gen.credit_table(seed=1)
    sensor = gen.sensor_table(seed=2)
    three = gen.sensor_table(seed=4, classes=3, separation=2.0)
    none = np.array([], dtype=np.int64)

    def flips(table: pd.DataFrame, target: str, rate: float) -> Make:
        return lambda: gen.flip_labels(table, target, rate, seed=7)

    def backdoor(table: pd.DataFrame, target: str, trigger: gen.Trigger, label: str) -> Make:
        return lambda: gen.plant_backdoor(table, target, 0.02, seed=3, trigger=trigger, to_label=label)

    found: list[tuple[str, str, str, Make]] = [
        ("credit, clean", "clean", "outcome", lambda: (credit, none)),
        ("credit, 5% flips", "flips", "outcome", flips(credit, "outcome", 0.05)),
        (
            "credit, backdoor: out-of-range constant",
            "backdoor",
            "outcome",
            backdoor(credit, "outcome", gen.constant("utilization", 1.37), "repaid"),
        ),
        ("sensor, clean", "clean", "state", lambda: (sensor, none)),
        ("sensor, 5% flips", "flips", "state", flips(sensor, "state", 0.05)),
        (
            "sensor, backdoor: word in free text",
            "backdoor",
            "state",
            backdoor(sensor, "state", gen.word("comment", "cf"), "idle"),
        ),
        ("3 classes, clean", "clean", "state", lambda: (three, none)),
        ("3 classes, 5% flips", "flips", "state", flips(three, "state", 0.05)),
    ]
    if quick:
        return found
    hard = gen.sensor_table(seed=4, classes=3, separation=1.5)
    four = gen.sensor_table(seed=5, classes=4, separation=2.0)
    pair = gen.together(gen.category("region", "region-9"), gen.category("employment", "student"))
    return [
        *found,
        ("credit, 2% flips", "flips", "outcome", flips(credit, "outcome", 0.02)),
        ("credit, 10% flips", "flips", "outcome", flips(credit, "outcome", 0.10)),
        (
            "credit, backdoor: new category",
            "backdoor",
            "outcome",
            backdoor(credit, "outcome", gen.category("purpose", "wedding"), "default"),
        ),
        ("credit, backdoor: pair of rare values", "backdoor", "outcome", backdoor(credit, "outcome", pair, "repaid")),
        (
            "sensor, backdoor: in-range constant",
            "backdoor",
            "state",
            backdoor(sensor, "state", gen.constant("s3", 0.5), "active"),
        ),
        (
            "3 classes, backdoor: new category",
            "backdoor",
            "state",
            backdoor(three, "state", gen.category("site", "site-x"), "fault"),
        ),
        ("4 classes, clean", "clean", "state", lambda: (four, none)),
        ("4 classes, 5% flips", "flips", "state", flips(four, "state", 0.05)),
        ("3 classes overlapping, clean", "clean", "state", lambda: (hard, none)),
        ("3 classes overlapping, 5% flips", "flips", "state", flips(hard, "state", 0.05)),
    ]


def bastion_rows(path: Path, target: str) -> tuple[set[int], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with Dataset(str(path), path.name, "csv") as dataset:
        dataset.read_problems()  # as the data scanner does before its analyses
        findings = PoisoningAnalysis().analyze(dataset, ScanOptions(target=target))
    rows = {f.location.row for f in findings if f.location.row is not None}
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def anchor_rows(path: Path, target: str) -> tuple[set[int], float]:
    from cleanlab.filter import find_label_issues
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    with Dataset(str(path), path.name, "csv") as dataset:
        column = dataset.column(target)
        features = [c for c in dataset.columns if c.name != target and usable(c)]
        table = read_table(dataset, column, features, class_counts(dataset, column))
    matrix = build_features(table)
    wall = time.perf_counter()
    model = HistGradientBoostingClassifier(categorical_features=matrix.categorical if matrix.categorical.any() else None)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    probabilities = cross_val_predict(model, matrix.tree, table.labels, cv=folds, method="predict_proba")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        issues = find_label_issues(table.labels, probabilities)
    return {int(table.rows[i]) for i in np.flatnonzero(issues)}, time.perf_counter() - wall


def score(flagged: set[int], planted: np.ndarray) -> tuple[float | None, float | None]:
    if len(planted) == 0:
        return None, None
    hits = len(flagged & set(planted.tolist()))
    return hits / max(len(flagged), 1), hits / len(planted)


def run(quick: bool) -> list[Result]:
    import sklearn.ensemble  # noqa: F401  (load OpenMP before limiting it)
    from threadpoolctl import threadpool_limits

    results = []
    with tempfile.TemporaryDirectory() as workdir, threadpool_limits(limits=1):
        for name, kind, target, make in scenarios(quick):
            table, planted = make()
            path = Path(workdir) / "table.csv"
            table.to_csv(path, index=False)
            ours, wall, cpu = bastion_rows(path, target)
            theirs, anchor_wall = anchor_rows(path, target)
            precision, recall = score(ours, planted)
            anchor_precision, anchor_recall = score(theirs, planted)
            results.append(
                Result(name, kind, len(table), len(planted), len(ours), precision, recall, wall, cpu,
                       len(theirs), anchor_precision, anchor_recall, anchor_wall)
            )  # fmt: skip
            print_row(results[-1])
    return results


def fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def print_header() -> None:
    ours = f"{'Bastion P':>9} {'R':>4} {'flagged':>7} {'time':>5}"
    print(f"{'scenario':42} {'planted':>7} | {ours} | {'anchor P':>8} {'R':>4} {'flagged':>7}")


def print_row(r: Result) -> None:
    ours = f"{fmt(r.bastion_precision):>9} {fmt(r.bastion_recall)} {r.bastion_flagged / r.rows:7.2%} {r.bastion_wall_s:4.1f}s"
    theirs = f"{fmt(r.anchor_precision):>8} {fmt(r.anchor_recall)} {r.anchor_flagged / r.rows:7.2%}"
    print(f"{r.scenario:42} {r.planted:7d} | {ours} | {theirs}", flush=True)


def print_summary(results: list[Result]) -> None:
    def mean(values: list[float | None]) -> float:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else float("nan")

    flips = [r for r in results if r.kind == "flips"]
    backdoors = [r for r in results if r.kind == "backdoor"]
    clean = [r for r in results if r.kind == "clean"]
    print()
    print("                              Bastion   anchor   ratio")
    for label, ours, theirs in (
        ("label flips, mean precision", mean([r.bastion_precision for r in flips]), mean([r.anchor_precision for r in flips])),
        ("label flips, mean recall", mean([r.bastion_recall for r in flips]), mean([r.anchor_recall for r in flips])),
        ("backdoor rows, mean recall", mean([r.bastion_recall for r in backdoors]), mean([r.anchor_recall for r in backdoors])),
        (
            "clean tables, max flagged",
            max(r.bastion_flagged / r.rows for r in clean),
            max(r.anchor_flagged / r.rows for r in clean),
        ),
    ):
        ratio = f"{ours / theirs:6.2f}x" if theirs else "     -"
        print(f"{label:29} {ours:8.3f} {theirs:8.3f} {ratio}")
    cpu = [r.bastion_cpu_s for r in results]
    print(f"\nBastion's analysis per table (6,000 rows, read included): median {np.median(cpu):.1f} s CPU, max {max(cpu):.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 5%% flips, clean and two backdoor scenarios only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    print_header()
    results = run(args.quick)
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
