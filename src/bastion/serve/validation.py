"""Requests checked against the model's schema before the model sees them: field names, types, training ranges
(with a tolerance), categories, unknown and missing fields. The checks are compiled once per model version.

Tolerance: a number is accepted within ``[minimum - t·span, maximum + t·span]`` where ``span`` is the training range
(``maximum - minimum``, or 1 when every training value was equal) and ``t`` is ``--range-tolerance`` (default 0.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError

if TYPE_CHECKING:
    import numpy as np

    from bastion.ml.schema import InputField, ModelSchema


class InvalidInput(BastionError):
    """A request the schema refuses: 422 naming the field and the row."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class BatchTooLarge(BastionError):
    """More rows than ``--max-batch``: 413."""


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed validation."""

    rows: list[dict[str, Any]]
    """One mapping per row, in the schema's field order (what capture records)."""
    matrix: np.ndarray
    """The rows as the model takes them: float64 when every input is numeric or boolean, object otherwise."""


_Check = Callable[[Any], Any]  # returns the value the model gets, or raises ValueError with the reason


class RequestValidator:
    """The compiled checks of one model schema."""

    def __init__(self, schema: ModelSchema, *, tolerance: float, max_batch: int, checked: bool = True) -> None:
        """``checked=False`` only converts values (types, ranges and categories unchecked): the benchmark's
        "security layers off" server, never ``bastion serve``."""
        self._names = tuple(field.name for field in schema.inputs)
        self._known = frozenset(self._names)
        self._checks = tuple(_check_for(field, tolerance) if checked else _conversion(field) for field in schema.inputs)
        self._numeric = all(field.type != "string" for field in schema.inputs)
        self._max_batch = max_batch

    def validate(self, body: Any) -> ValidRequest:
        """Check a decoded JSON body, ``{"records": [{…}, …]}`` or ``{"columns": {"field": […], …}}``."""
        import numpy as np

        rows = self._rows(body)
        values: list[list[Any]] = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InvalidInput(f"row {index}: expected an object of field values", row=index)
            if row.keys() != self._known:
                self._refuse_fields(row, index)
            converted = []
            for name, check in zip(self._names, self._checks, strict=True):
                try:
                    converted.append(check(row[name]))
                except ValueError as exc:
                    raise InvalidInput(f"row {index}, field {name!r}: {exc}", field=name, row=index) from None
            values.append(converted)
        ordered = [dict(zip(self._names, (row[name] for name in self._names), strict=True)) for row in rows]
        matrix = np.array(values, dtype=np.float64 if self._numeric else object).reshape(len(values), len(self._names))
        return ValidRequest(ordered, matrix)

    def _rows(self, body: Any) -> Sequence[Any]:
        if not isinstance(body, dict) or len(body) != 1 or not ({"records", "columns"} & body.keys()):
            raise InvalidInput('expected {"records": [{field: value, …}, …]} or {"columns": {field: [values…], …}}')
        if "records" in body:
            records = body["records"]
            if not isinstance(records, list) or not records:
                raise InvalidInput('"records" must be a non-empty list of objects', field="records")
            self._check_batch(len(records))
            return records
        columns = body["columns"]
        if not isinstance(columns, dict) or not columns:
            raise InvalidInput('"columns" must be an object of equally long lists', field="columns")
        lengths = set()
        for name, column in columns.items():
            if not isinstance(column, list):
                raise InvalidInput(f"column {name!r} must be a list of values", field=name)
            lengths.add(len(column))
        if len(lengths) != 1 or 0 in lengths:
            raise InvalidInput('every column in "columns" must be a non-empty list of the same length', field="columns")
        count = lengths.pop()
        self._check_batch(count)
        return [{name: column[i] for name, column in columns.items()} for i in range(count)]

    def _check_batch(self, count: int) -> None:
        if count > self._max_batch:
            raise BatchTooLarge(f"{count} rows in one request; at most {self._max_batch} (split the batch)")

    def _refuse_fields(self, row: Mapping[str, Any], index: int) -> None:
        unknown = sorted(set(row) - self._known)
        if unknown:
            raise InvalidInput(
                f"row {index}: unknown field {unknown[0]!r}; the model takes {', '.join(self._names)}",
                field=unknown[0],
                row=index,
            )
        missing = next(name for name in self._names if name not in row)
        raise InvalidInput(f"row {index}: missing field {missing!r}", field=missing, row=index)


def _check_for(field: InputField, tolerance: float) -> _Check:
    nullable = field.nullable
    if field.type in ("number", "integer"):
        low, high = _bounds(field, tolerance)
        integral = field.type == "integer"

        def number(value: Any) -> Any:
            if value is None:
                if nullable:
                    return math.nan
                raise ValueError("null is not allowed (training data had no missing values here)")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected {'an integer' if integral else 'a number'}, got {_json_type(value)}")
            if integral and isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected an integer, got {value!r}")
            try:
                number = float(value)
            except OverflowError:  # a JSON integer literal too long for a float
                raise ValueError(f"{str(value)[:20]}… is too large for a number") from None
            if not math.isfinite(number) or number < low or number > high:
                raise ValueError(f"{value!r} is outside the accepted range [{low:g}, {high:g}] (training range with tolerance)")
            return number

        return number
    if field.type == "boolean":

        def boolean(value: Any) -> Any:
            if value is None and nullable:
                return math.nan
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {_json_type(value)}")
            return float(value)

        return boolean
    categories = frozenset(field.categories) if field.categories is not None else None
    shown = sorted(categories or ())
    listed = ", ".join(shown[:10]) + (", …" if len(shown) > 10 else "")

    def string(value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_json_type(value)}")
        if categories is not None and value not in categories:
            raise ValueError(f"{value!r} is not a category seen in training ({listed})")
        return value

    return string


def _conversion(field: InputField) -> _Check:
    return (lambda value: value) if field.type == "string" else float


def _bounds(field: InputField, tolerance: float) -> tuple[float, float]:
    if field.minimum is None or field.maximum is None:
        return -math.inf, math.inf
    span = (field.maximum - field.minimum) or 1.0
    return field.minimum - tolerance * span, field.maximum + tolerance * span


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )
