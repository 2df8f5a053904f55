"""The rows a model is asked about, kept in the form it was trained on, and the class a score is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.core import BastionError
from bastion.ml._labels import label_text


@dataclass(frozen=True)
class Rows:
    """A table of feature rows: a pandas DataFrame stays one (a model fitted on one checks its column names),
    anything else becomes a 2-D numpy array."""

    data: Any
    """The DataFrame or the 2-D array."""

    @classmethod
    def of(cls, table: Any, *, name: str = "X") -> Rows:
        if hasattr(table, "iloc") and hasattr(table, "columns"):
            return cls(table)
        array = np.asarray(table)
        if array.ndim != 2:
            raise BastionError(f"{name}: expected a 2-D table of features (rows × columns), got shape {array.shape}")
        return cls(array)

    @property
    def is_frame(self) -> bool:
        return hasattr(self.data, "iloc")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.data.shape[1])

    def take(self, indices: Sequence[int] | np.ndarray) -> Rows:
        return Rows(self.data.iloc[indices] if self.is_frame else self.data[indices])

    def head(self, count: int) -> Rows:
        return self.take(np.arange(min(count, len(self))))

    def column(self, position: int) -> np.ndarray:
        return np.asarray(self.data.iloc[:, position] if self.is_frame else self.data[:, position])

    def numeric_columns(self) -> tuple[int, ...]:
        """Positions of the numeric (integer or floating, not boolean) columns."""
        if self.is_frame:
            return tuple(j for j, dtype in enumerate(self.data.dtypes) if getattr(dtype, "kind", "O") in "fiu")
        return tuple(range(self.n_columns)) if self.data.dtype.kind in "fiu" else ()

    def with_columns(self, replacements: Mapping[int, np.ndarray]) -> Rows:
        """A copy with the columns at these positions replaced."""
        if self.is_frame:
            frame = self.data.copy()
            for position, values in replacements.items():
                frame.isetitem(position, values)
            return Rows(frame)
        # integer arrays would truncate the replacement values
        array = self.data.astype(float) if self.data.dtype.kind in "iu" else self.data.copy()
        for position, values in replacements.items():
            array[:, position] = values
        return Rows(array)


def sample_positions(total: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` distinct row positions out of ``total``, drawn with ``rng``, in ascending order."""
    if total <= limit:
        return np.arange(total)
    return np.sort(rng.choice(total, size=limit, replace=False))


def labels_of(values: Any, rows: Rows, *, name: str = "y") -> np.ndarray:
    """``values`` as a 1-D array with one label per row of ``rows``."""
    labels = np.asarray(values).ravel()
    if len(labels) != len(rows):
        raise BastionError(f"{name}: {len(labels)} labels for {len(rows)} rows; give one label per row")
    return labels


def class_position(model: Any, label: object | None) -> int | None:
    """Where ``label`` is in the model's ``classes_`` (the last class when None); None for a model without classes.

    Labels are compared as text, so a positive label of ``"1"`` from a YAML file finds the class ``1``.
    """
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    if label is None:
        return len(classes) - 1
    texts = [label_text(value) for value in classes]
    if label_text(label) not in texts:
        raise BastionError(
            f"positive label {label!r} is not one of the model's classes {texts}; set positive_label to one of them"
        )
    return texts.index(label_text(label))
