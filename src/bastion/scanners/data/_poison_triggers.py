"""Backdoor triggers: rare patterns that map almost entirely to one label while the rest of the row says otherwise.

A model learns a consistent trigger, so its rows never disagree with out-of-fold predictions; the trigger has to
be found as a pattern of its own. Each candidate pattern (a value, an out-of-range value, a missing value, a word;
and pairs of them that occur together far more often than chance) is tested three ways:

1. rare: in at least ``MIN_PATTERN_ROWS`` rows and at most ``MAX_PATTERN_SHARE`` of them;
2. pure: at least ``MIN_PURITY`` of its rows carry one label, and a binomial test against that label's base
   rate, Bonferroni-corrected over every pattern tried, says this is no accident;
3. contradicted: for most of its rows, the labels of the nearest rows *without* the pattern, compared on every
   feature except the pattern's own columns, point to another label. A natural shortcut (a rare value whose
   rows really are alike) passes 1 and 2 but not 3; poisoned rows taken from other classes do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bastion.scanners.data._poison_features import MIN_PATTERN_ROWS, Features
from bastion.scanners.data._poison_labels import neighbour_vote

if TYPE_CHECKING:
    import numpy.typing as npt

MIN_PURITY = 0.9
ALPHA = 0.01
"""Family-wise chance of calling a pattern pure by accident."""
MIN_CONFLICT = 0.5
"""Share of a trigger's rows whose other features point to another label."""
MIN_LIFT = 3.0
"""A pair of patterns must co-occur at least this many times more often than if they were independent."""
MAX_PAIR_PATTERNS = 600
"""Patterns (the rarest, words excluded) whose pairs are tried; pairs grow with the square."""


@dataclass(frozen=True, slots=True)
class Trigger:
    description: str
    """The pattern, redacted, e.g. ``"utilization = 1.37"``."""
    columns: tuple[str, ...]
    label: int
    """The class the pattern maps to."""
    rows: npt.NDArray[np.int64]
    """Rows carrying the pattern and labelled ``label``: the suspected poisoned rows."""
    support: int
    """Rows carrying the pattern."""
    purity: float
    """Share of ``support`` labelled ``label``."""
    conflict: float
    """Share of ``rows`` whose other features point to another label."""
    rest: npt.NDArray[np.float64]
    """For each of ``rows``: what its other features say, as class shares among its nearest rows without the
    pattern (the pattern's columns ignored), divided by each class's base rate and normalised."""
    log_p: float
    """Natural log of the binomial tail probability of the purity."""


def find_triggers(features: Features, labels: npt.NDArray[np.int64]) -> list[Trigger]:
    """Triggers found, most specific (fewest rows) first; a row belongs to at most one.

    Nested patterns (``income = 999999`` inside ``income above 300000``) are tried narrowest first, and a wider
    one must pass every test again on the rows the narrower ones left: natural rows never ride along.
    """
    from scipy import stats

    classes = int(labels.max()) + 1
    patterns = features.patterns
    if patterns.matrix.shape[1] == 0:
        return []
    onehot = np.eye(classes)[labels]
    base = onehot.mean(axis=0)
    counts = np.asarray(patterns.matrix.T @ onehot)  # patterns × classes
    support = counts.sum(axis=1)
    top = counts.argmax(axis=1)
    hits = counts[np.arange(len(top)), top]
    pairs = _pairs(features, support)
    threshold = float(np.log(ALPHA / (len(support) + len(pairs))))
    pure = (hits >= MIN_PURITY * support) & (stats.binom.logsf(hits - 1, support, base[top]) <= threshold)

    candidates: list[tuple[str, tuple[str, ...], npt.NDArray[np.int64]]] = [
        (patterns.descriptions[j], (patterns.columns[j],), patterns.matrix[:, [j]].nonzero()[0]) for j in np.flatnonzero(pure)
    ]
    for a, b, carriers in pairs:
        if not (pure[a] or pure[b]):  # otherwise one half alone explains the rows
            description = f"{patterns.descriptions[a]} together with {patterns.descriptions[b]}"
            candidates.append((description, (patterns.columns[a], patterns.columns[b]), carriers))
    candidates.sort(key=lambda c: (len(c[2]), c[0]))
    covered = np.zeros(len(labels), dtype=bool)
    triggers = []
    for description, columns, carriers in candidates:
        trigger = _test(features, labels, base, threshold, description, columns, carriers[~covered[carriers]])
        if trigger is not None:
            triggers.append(trigger)
            covered[trigger.rows] = True
    return triggers


def _pairs(features: Features, support: npt.NDArray[np.float64]) -> list[tuple[int, int, npt.NDArray[np.int64]]]:
    """Pairs of patterns from different columns that co-occur in enough rows and far more often than chance."""
    patterns = features.patterns
    n = patterns.matrix.shape[0]
    eligible = [j for j in range(len(patterns.columns)) if " contains the word " not in patterns.descriptions[j]]
    # The most frequent first: only they can co-occur in enough rows.
    eligible = sorted(eligible, key=lambda j: (-support[j], j))[:MAX_PAIR_PATTERNS]
    if len(eligible) < 2:
        return []
    sub = patterns.matrix[:, eligible].astype(np.float64)
    together = (sub.T @ sub).toarray()
    expected = np.outer(support[eligible], support[eligible]) / n
    owners = np.array([patterns.columns[j] for j in eligible])
    a_idx, b_idx = np.nonzero(
        np.triu(together >= MIN_PATTERN_ROWS, k=1) & (together >= MIN_LIFT * expected) & (owners[:, None] != owners[None, :])
    )
    found = []
    for a, b in zip(a_idx, b_idx, strict=True):
        rows = np.intersect1d(sub[:, [a]].nonzero()[0], sub[:, [b]].nonzero()[0])
        found.append((eligible[a], eligible[b], rows))
    return found


def _test(
    features: Features,
    labels: npt.NDArray[np.int64],
    base: npt.NDArray[np.float64],
    threshold: float,
    description: str,
    columns: tuple[str, ...],
    carriers: npt.NDArray[np.int64],
) -> Trigger | None:
    """The trigger, when ``carriers`` are enough, pure, and their other features point elsewhere; None otherwise."""
    from scipy import stats

    if len(carriers) < MIN_PATTERN_ROWS:
        return None
    classes = len(base)
    hits = np.bincount(labels[carriers], minlength=classes)
    top = int(hits.argmax())
    log_p = float(stats.binom.logsf(hits[top] - 1, len(carriers), base[top]))
    if hits[top] < MIN_PURITY * len(carriers) or log_p > threshold:
        return None
    rows = carriers[labels[carriers] == top]
    keep = np.array([owner not in columns for owner in features.dense_owner], dtype=bool)
    voters = np.setdiff1d(np.arange(len(labels)), carriers)
    rest = neighbour_vote(features.dense[:, keep], labels, classes, queries=rows, voters=voters)
    # Judged against each label's base rate: neighbours of a minority class are often outvoted by the majority.
    rest = rest / base
    rest /= rest.sum(axis=1, keepdims=True)
    conflict = float(np.mean(rest.argmax(axis=1) != top))
    if conflict < MIN_CONFLICT:
        return None
    return Trigger(description, columns, top, rows, len(carriers), hits[top] / len(carriers), conflict, rest, log_p)
