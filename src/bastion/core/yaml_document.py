"""YAML settings files read safely, keeping each value's line so errors can point at it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bastion.core.errors import BastionError

T = TypeVar("T")
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file together with its node tree."""

    source: str
    """The name errors give the file: its path, or a placeholder such as ``<policy>``."""
    data: Any
    """The content as plain Python values (``yaml.safe_load``); ``None`` for an empty file."""
    root: Any
    """The composed node tree (``yaml.compose``), which knows the line of every key and item."""

    def line_of(self, loc: Sequence[Any]) -> int:
        """The 1-based line of the value at ``loc`` (keys and list indexes), or of the nearest enclosing one."""
        import yaml

        node = self.root
        line: int = node.start_mark.line + 1 if node is not None else 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if pair is None:
                    return line
                key, node = pair
                line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def message(self, loc: Sequence[Any], text: str, *, whole: str = "policy") -> str:
        """``source:line: dotted.loc: text``; ``whole`` names the document when ``loc`` is empty."""
        where = ".".join(str(part) for part in loc) or whole
        return f"{self.source}:{self.line_of(loc)}: {where}: {text}"


def read_yaml(path: Path, *, what: str, error: type[BastionError]) -> YamlDocument:
    """Read and parse the YAML file at ``path``; ``what`` names it in errors ("policy file")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    return parse_yaml(text, str(path), error=error)


def parse_yaml(text: str, source: str, *, error: type[BastionError]) -> YamlDocument:
    """Parse YAML text with the safe loader; syntax errors name ``source`` and the line."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    return YamlDocument(source, data, root)


def validate(
    document: YamlDocument,
    schema: type[T],
    data: Any,
    *,
    error: type[BastionError],
    adjust_loc: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
) -> T:
    """``data`` validated by pydantic as ``schema``; the first problem is raised as ``error`` with its line.

    ``adjust_loc`` rewrites pydantic's location of the problem into the document's keys (dropping a
    tagged union's tag, say) before the line is looked up.
    """
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(schema).validate_python(data)
    except ValidationError as exc:
        # A misspelt key also makes the key it was meant to be "missing": name the misspelling, the cause.
        problem = min(exc.errors(), key=lambda e: e["type"] not in _UNKNOWN_KEY)
        loc = tuple(part for part in problem["loc"] if part != "[key]")  # pydantic marks bad mapping keys so
        if adjust_loc is not None:
            loc = adjust_loc(loc)
        text = problem["msg"].removeprefix("Value error, ")
        if problem["type"] in _UNKNOWN_KEY:
            text = "unknown setting; check its spelling"
        raise error(document.message(loc, text)) from None
