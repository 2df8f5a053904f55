"""Row-level checks that need no model: exact duplicates with conflicting labels, and outliers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

MAX_DUPLICATED_SHARE = 0.10
"""When more rows than this share a feature vector, the features do not identify a row and conflicts are expected."""
MAX_OUTLIER_SHARE = 0.005
"""At most this share of rows is reported as outliers (the most distant ones)..."""
OUTLIER_SPREAD = 20.0
"""...and only rows whose distance to their neighbours is this many robust spreads above the median row's."""
OUTLIER_NEIGHBOURS = 10


@dataclass(frozen=True, slots=True)
class Conflict:
    """A row whose exact duplicates mostly carry another label."""

    row: int
    consensus: int
    """The label the duplicate group agrees on."""
    others: npt.NDArray[np.int64]
    """The other rows of the group."""
    share: float
    """Share of the group labelled ``consensus``."""


def conflicting_duplicates(
    keys: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], probabilities: npt.NDArray[np.float64]
) -> list[Conflict]:
    """Rows outvoted by their exact duplicates; a tie is broken by the models' summed probabilities."""
    order = np.argsort(keys, kind="stable")
    boundaries = np.flatnonzero(np.diff(keys[order])) + 1
    groups = [g for g in np.split(order, boundaries) if len(g) > 1]
    if sum(len(g) for g in groups) > MAX_DUPLICATED_SHARE * len(keys):
        return []
    found = []
    for group in groups:
        votes = np.bincount(labels[group], minlength=probabilities.shape[1]).astype(np.float64)
        if np.count_nonzero(votes) < 2:
            continue
        tied = votes == votes.max()
        consensus = int(np.argmax(np.where(tied, probabilities[group].sum(axis=0), -np.inf)))
        share = float(votes[consensus] / len(group))
        for row in group[labels[group] != consensus]:
            found.append(Conflict(int(row), consensus, np.sort(group[group != row]), share))
    return found


def outliers(unclipped: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Rows far from all others and how far, in robust spreads of the mean distance to their nearest rows.

    Distances are taken with numbers robust-scaled but not clipped, so a value ten times out of range counts as
    such; an isolation forest was tried and saturates (an absurd row scored like the tail of a skewed column).
    """
    from sklearn.neighbors import NearestNeighbors

    n = len(unclipped)
    if n <= OUTLIER_NEIGHBOURS or unclipped.shape[1] == 0:
        return np.array([], dtype=np.int64), np.array([])
    distances, _ = NearestNeighbors(n_neighbors=OUTLIER_NEIGHBOURS + 1).fit(unclipped).kneighbors(unclipped)
    score = distances[:, 1:].mean(axis=1)
    median = float(np.median(score))
    spread = float(np.median(np.abs(score - median))) * 1.4826 or float(np.std(score))
    if spread == 0:
        return np.array([], dtype=np.int64), np.array([])
    depth = (score - median) / spread
    ranked = np.argsort(-depth, kind="stable")[: int(MAX_OUTLIER_SHARE * n)]
    chosen = np.sort(ranked[depth[ranked] >= OUTLIER_SPREAD])
    return chosen, depth[chosen]


def unusual_columns(dense_row: npt.NDArray[np.float64], owners: list[str], top: int = 3) -> list[str]:
    """The columns where a row is furthest from the median (robust units), most unusual first."""
    strength: dict[str, float] = {}
    for value, owner in zip(np.abs(dense_row), owners, strict=True):
        strength[owner] = max(strength.get(owner, 0.0), float(value))
    return sorted(strength, key=lambda c: (-strength[c], c))[:top]
