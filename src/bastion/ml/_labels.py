"""Labels as text: the one form in which observed labels, predictions and a positive label are compared.

Tables reach us as lists, numpy arrays or pandas Series, and the same label may arrive as ``1``, ``1.0``,
``np.int64(1)`` or ``"1"`` (a YAML value against a Parquet column); comparing their text makes them one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from bastion.core.errors import BastionError


def column(values: object, name: str) -> npt.NDArray[Any]:
    """``values`` (a list, numpy array or pandas Series) as a 1-D object array; anything else is a ``BastionError``."""
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise BastionError(f"{name} must be one column of values, got an array of shape {array.shape}")
    return array


def label_text(value: object) -> str:
    """The text of one label: integral floats lose their ``.0`` so that ``1.0`` and ``1`` are the same label."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def label_texts(values: object, name: str) -> npt.NDArray[np.str_]:
    """Every label of a column as text (see ``label_text``)."""
    return np.array([label_text(v) for v in column(values, name)], dtype=str)


def sorted_labels(*texts: npt.NDArray[np.str_]) -> tuple[str, ...]:
    """The distinct labels of all ``texts``: numbers in numeric order first, then the rest alphabetically."""
    distinct = set().union(*(np.unique(t).tolist() for t in texts))
    return tuple(sorted(distinct, key=_order))


def require_positive(positive: str, labels: tuple[str, ...], name: str) -> None:
    """Refuse a positive label that is not among two or more observed labels: every rate would silently be 0."""
    if len(labels) >= 2 and positive not in labels:
        shown = ", ".join(labels[:10]) + (", …" if len(labels) > 10 else "")
        raise BastionError(f"positive label {positive!r} is not one of the {name} ({shown}); set positive_label to one of them")


def _order(text: str) -> tuple[int, float, str]:
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, text) if math.isfinite(number) else (1, 0.0, text)
