"""The policy file: severity thresholds, rule allow/deny lists, waivers and metric thresholds.

```yaml
version: 1
fail_on: high                  # findings at or above this fail the gate
categories:                    # per-category thresholds; "never" ignores a category
  secret: low
  data-quality: never
rules:
  deny: ["model.pickle.*"]     # fail at any severity
  allow: ["code.secret.test-*"]  # never fail
waivers:
  - rule: code.secret.aws-access-key-id
    path: "tests/fixtures/**"
    reason: revoked key kept as a fixture
    owner: alice@example.com
    expires: 2027-03-31
metrics:
  - recall >= 0.95
  - abs(dpl) <= 0.1
```
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bastion.core import BastionError, Category, Severity

_NEVER = "never"


class PolicyError(BastionError):
    """The policy file is missing, not YAML, or not a valid policy."""


_METRIC_THRESHOLD = re.compile(
    r"^\s*(?:(abs)\(\s*([A-Za-z_][\w.\-]*)\s*\)|([A-Za-z_][\w.\-]*))\s*(>=|<=|==|!=|>|<)\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def _parse_threshold(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().lower() == _NEVER:
            return _NEVER
        return Severity.parse(value)  # ValueError names the choices
    return value


Threshold = Annotated[Severity | Literal["never"], BeforeValidator(_parse_threshold)]
"""The lowest severity that fails the gate, or "never"."""


class MetricThreshold(BaseModel):
    """``metric op value``, optionally on the metric's absolute value: ``abs(dpl) <= 0.1``."""

    model_config = ConfigDict(frozen=True)

    metric: str
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    value: float
    absolute: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return cls._fields_of(value)
        return value

    @classmethod
    def parse(cls, text: str) -> MetricThreshold:
        return cls.model_validate(cls._fields_of(text))

    @staticmethod
    def _fields_of(text: str) -> dict[str, Any]:
        match = _METRIC_THRESHOLD.match(text)
        if match is None:
            raise ValueError(f"cannot read metric threshold {text!r}; write it as 'recall >= 0.95' or 'abs(dpl) <= 0.1'")
        absolute, abs_name, name, op, value = match.groups()
        return {"metric": abs_name or name, "op": op, "value": float(value), "absolute": bool(absolute)}

    def holds(self, measured: float) -> bool:
        x = abs(measured) if self.absolute else measured
        return {
            ">=": x >= self.value,
            "<=": x <= self.value,
            ">": x > self.value,
            "<": x < self.value,
            "==": x == self.value,
            "!=": x != self.value,
        }[self.op]

    def __str__(self) -> str:
        name = f"abs({self.metric})" if self.absolute else self.metric
        return f"{name} {self.op} {self.value:g}"


class Waiver(BaseModel):
    """Lets matching findings through the gate until ``expires``, with a named owner and reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Annotated[str, Field(min_length=1)]
    """A rule id or glob (``code.secret.*``)."""
    path: str = "**"
    """A path glob: ``*`` stays within a directory, ``**`` crosses directories."""
    reason: Annotated[str, Field(min_length=1)]
    owner: Annotated[str, Field(min_length=1)]
    expires: dt.date


class RuleLists(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deny: tuple[str, ...] = ()
    """Rule globs that fail the gate at any severity."""
    allow: tuple[str, ...] = ()
    """Rule globs that never fail the gate."""


class Policy(BaseModel):
    """A gate's rules for findings and metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    fail_on: Threshold = Severity.HIGH
    categories: dict[Category, Threshold] = {}
    rules: RuleLists = RuleLists()
    waivers: tuple[Waiver, ...] = ()
    metrics: tuple[MetricThreshold, ...] = ()

    def threshold(self, category: Category) -> Severity | None:
        """The lowest severity that fails the gate for ``category``; None when it never fails."""
        value = self.categories.get(category, self.fail_on)
        return None if value == _NEVER else Severity(value)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc}") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML text; ``source`` names it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{source}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: a policy is a mapping of settings (fail_on, categories, rules, waivers, metrics)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(part for part in error["loc"] if part != "[key]")  # pydantic marks bad mapping keys so
        line = _line_of(node, loc)
        where = ".".join(str(part) for part in loc) or "policy"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting; check its spelling"
        raise PolicyError(f"{source}:{line}: {where}: {message}") from None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc``, or of the nearest enclosing one."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if match is None:
                return line
            node = match
            line = (key or match).start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
