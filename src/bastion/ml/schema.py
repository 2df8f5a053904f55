"""A model's input schema: what each feature is, the range and categories seen in training, and an example value.

The package step writes it next to the model (``schema.json``); serving validates requests against it and
shows it to clients, so that a client can build a valid request without seeing the training data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bastion.core.errors import BastionError

if TYPE_CHECKING:
    import pyarrow as pa

InputType = Literal["number", "integer", "string", "boolean"]
FILE_NAME = "schema.json"
_MAX_CATEGORIES = 50  # a string column with more distinct values is free text: no category check


class SchemaError(BastionError):
    """A schema file that is missing or not a schema."""


@dataclass(frozen=True)
class InputField:
    """One model input."""

    name: str
    type: InputType
    example: str | int | float | bool | None
    """A value from the training data (its median for numbers, most frequent value otherwise)."""
    minimum: float | None = None
    """The smallest value seen in training (numbers only)."""
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    """Every value seen in training, for a string column with few distinct values; None for free text."""
    nullable: bool = False
    """Whether training data had missing values in this column."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "example": self.example,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "categories": list(self.categories) if self.categories is not None else None,
            "nullable": self.nullable,
        }


@dataclass(frozen=True)
class ModelSchema:
    """What a packaged model takes and gives."""

    inputs: tuple[InputField, ...]
    """The features, in the order the model takes them."""
    target: str
    classes: tuple[str, ...]
    """The model's classes as text, in the order of its probability columns."""
    positive_label: str | None
    """The class whose probability is the model's score (binary models)."""
    model_file: str
    """The model's file name in the package (a safe format: skops)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [field.to_dict() for field in self.inputs],
            "target": self.target,
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "model_file": self.model_file,
        }

    def write(self, directory: Path) -> Path:
        from bastion.core.atomic import atomic_write

        path = directory / FILE_NAME
        atomic_write(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())
        return path

    @classmethod
    def read(cls, path: Path) -> ModelSchema:
        """The schema in ``path`` (a package's ``schema.json``); ``SchemaError`` naming the file when it is not one."""
        from pydantic import TypeAdapter, ValidationError

        try:
            data = json.loads(path.read_bytes())
            return TypeAdapter(cls).validate_python(data, strict=False)
        except FileNotFoundError:
            raise SchemaError(f"{path}: the package has no model schema; rebuild it with `bastion run`") from None
        except (OSError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise SchemaError(f"{path}: not a model schema ({reason})") from None


def describe_inputs(table: pa.Table, features: Sequence[str]) -> tuple[InputField, ...]:
    """The schema of ``features`` as they appear in the training ``table``."""
    return tuple(_describe(name, table.column(name)) for name in features)


def _describe(name: str, column: Any) -> InputField:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    nullable = column.null_count > 0
    if pa.types.is_boolean(kind):
        return InputField(name, "boolean", _mode(column), nullable=nullable)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        bounds: Mapping[str, Any] = pc.min_max(column).as_py()
        median = pc.approximate_median(column).as_py()
        if pa.types.is_integer(kind):
            example: int | float | None = None if median is None else round(median)
            return InputField(name, "integer", example, _float(bounds["min"]), _float(bounds["max"]), nullable=nullable)
        return InputField(name, "number", median, _float(bounds["min"]), _float(bounds["max"]), nullable=nullable)
    text = pc.cast(column, pa.string())
    distinct = pc.unique(text.drop_null()).to_pylist()
    categories = tuple(sorted(distinct)) if len(distinct) <= _MAX_CATEGORIES else None
    return InputField(name, "string", _mode(text), categories=categories, nullable=nullable)


def _mode(column: Any) -> Any:
    """The most frequent value (the smallest among ties, so the schema is the same on every run)."""
    import pyarrow.compute as pc

    counts = pc.value_counts(column.drop_null())
    if not len(counts):
        return None
    values, frequencies = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    top = max(frequencies)
    return min(value for value, frequency in zip(values, frequencies, strict=True) if frequency == top)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
