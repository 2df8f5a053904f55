"""Jupyter notebooks: their text cell by cell, as the scanners see it, and the same notebook without outputs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_TEXT_MIME_PREFIXES = ("text/", "application/json", "application/javascript")


@dataclass(frozen=True, slots=True)
class NotebookSegment:
    member: str
    """``cell[N]`` for a cell's source, ``cell[N].outputs`` for what it printed."""
    text: str


class NotebookError(ValueError):
    """The notebook is not valid JSON or not shaped like a notebook."""


def notebook_segments(data: bytes) -> Iterator[NotebookSegment]:
    """Sources and text outputs (streams, display data, tracebacks) of every cell; base64 images are left out."""
    _document, cells = _parse(data)
    for index, cell in enumerate(cells):
        source = _text(cell.get("source"))
        if source:
            yield NotebookSegment(f"cell[{index}]", source)
        outputs = "\n".join(_output_text(output) for output in cell.get("outputs") or () if isinstance(output, dict))
        if outputs.strip():
            yield NotebookSegment(f"cell[{index}].outputs", outputs)


@dataclass(frozen=True, slots=True)
class StrippedNotebook:
    """A notebook with its outputs removed."""

    data: bytes
    """The new content: the same JSON, key order and indentation, without outputs and execution counts."""
    outputs_removed: int
    execution_counts_cleared: int

    @property
    def changed(self) -> bool:
        return bool(self.outputs_removed or self.execution_counts_cleared)


def strip_outputs(data: bytes) -> StrippedNotebook:
    """The notebook ``data`` without the outputs and execution counts of its code cells; ``NotebookError`` if malformed.

    Everything else is kept as it was: key order, metadata, the indentation (nbformat writes one space) and
    the final newline, so a stripped notebook diffs cleanly against the original.
    """
    import json

    document, cells = _parse(data)
    outputs = counts = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            outputs += len(cell["outputs"]) if isinstance(cell["outputs"], list) else 1
            cell["outputs"] = []
        if cell.get("execution_count") is not None:
            counts += 1
            cell["execution_count"] = None
    indent = _indent(data)
    text = json.dumps(document, indent=indent, ensure_ascii=False) + "\n"
    return StrippedNotebook(text.encode("utf-8"), outputs, counts)


def _parse(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import json

    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotebookError(f"not valid JSON: {exc}") from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("no 'cells' list; not a Jupyter notebook")
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotebookError(f"cell {index} is not an object")
    return document, cells


def _indent(data: bytes) -> int:
    """The indentation the notebook was written with (nbformat's one space by default)."""
    import re

    found = re.search(rb"\{\r?\n( +)\"", data[:4096])
    return len(found.group(1)) if found else 1


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(item for item in value if isinstance(item, str))
    return ""


def _output_text(output: dict[str, Any]) -> str:
    import json

    parts = [_text(output.get("text"))]
    data = output.get("data")
    if isinstance(data, dict):
        parts.extend(
            _text(value) if isinstance(value, (str, list)) else json.dumps(value)
            for mime, value in data.items()
            if mime.startswith(_TEXT_MIME_PREFIXES)
        )
    traceback = output.get("traceback")
    if isinstance(traceback, list):
        parts.append("\n".join(item for item in traceback if isinstance(item, str)))
    return "\n".join(part for part in parts if part)
