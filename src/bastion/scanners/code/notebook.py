"""The text of a Jupyter notebook, cell by cell, as the scanners see it."""

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
    """Sources and text outputs of every cell; base64 images are left out."""
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
        source = _text(cell.get("source"))
        if source:
            yield NotebookSegment(f"cell[{index}]", source)
        outputs = "\n".join(_output_text(output) for output in cell.get("outputs") or () if isinstance(output, dict))
        if outputs.strip():
            yield NotebookSegment(f"cell[{index}].outputs", outputs)


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
