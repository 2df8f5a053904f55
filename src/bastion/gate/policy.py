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

The policy objects are plain frozen dataclasses, so the default gate costs no import; pydantic
validates them only when a policy file is read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bastion.core import BastionError, Category, Severity

if TYPE_CHECKING:
    from bastion.core.yaml_document import YamlDocument

NEVER = "never"

# A metric name may end in a bracketed qualifier: the facet of a bias metric, ``DPPL[sex]``.
_METRIC_NAME = r"[A-Za-z_][\w.\-]*(?:\[[^\]\s]+\])?"
_METRIC_THRESHOLD = (
    rf"^\s*(?:(abs)\(\s*({_METRIC_NAME})\s*\)|({_METRIC_NAME}))\s*(>=|<=|==|!=|>|<)\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class PolicyError(BastionError):
    """The policy file is missing, not YAML, or not a valid policy."""


@dataclass(frozen=True)
class MetricThreshold:
    """``metric op value``, optionally on the metric's absolute value: ``abs(dpl) <= 0.1``."""

    metric: str
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    value: float
    absolute: bool = False

    @classmethod
    def parse(cls, text: str) -> MetricThreshold:
        match = re.match(_METRIC_THRESHOLD, text)  # re caches it; most scans read no policy file
        if match is None:
            raise ValueError(f"cannot read metric threshold {text!r}; write it as 'recall >= 0.95' or 'abs(dpl) <= 0.1'")
        absolute, abs_name, name, op, value = match.groups()
        return cls(abs_name or name, op, float(value), bool(absolute))  # type: ignore[arg-type]  # op matched the regex

    def holds(self, measured: float) -> bool:
        return _OPERATORS[self.op](abs(measured) if self.absolute else measured, self.value)

    def __str__(self) -> str:
        name = f"abs({self.metric})" if self.absolute else self.metric
        return f"{name} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Waiver:
    """Lets matching findings through the gate until ``expires``, with a named owner and reason."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "str_min_length": 1}

    rule: str
    """A rule id or glob (``code.secret.*``)."""
    reason: str
    owner: str
    expires: dt.date
    path: str = "**"
    """A path glob: ``*`` stays within a directory, ``**`` crosses directories."""


@dataclass(frozen=True)
class RuleLists:
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    deny: tuple[str, ...] = ()
    """Rule globs that fail the gate at any severity."""
    allow: tuple[str, ...] = ()
    """Rule globs that never fail the gate."""


@dataclass(frozen=True)
class Policy:
    """A gate's rules for findings and metrics; ``Policy()`` fails on high and above."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    version: Literal[1] = 1
    fail_on: Severity | Literal["never"] = Severity.HIGH
    categories: Mapping[Category, Severity | Literal["never"]] = field(default_factory=dict)
    rules: RuleLists = field(default_factory=RuleLists)
    waivers: tuple[Waiver, ...] = ()
    metrics: tuple[MetricThreshold, ...] = ()

    def threshold(self, category: Category) -> Severity | None:
        """The lowest severity that fails the gate for ``category``; None when it never fails."""
        value = self.categories.get(category, self.fail_on)
        return None if value == NEVER else Severity(value)

    def with_fail_on(self, severity: Severity) -> Policy:
        return dataclasses.replace(self, fail_on=severity)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; errors name the file and line."""
    from bastion.core.yaml_document import read_yaml

    return _validate(read_yaml(Path(path), what="policy file", error=PolicyError))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML text; ``source`` names it in errors."""
    from bastion.core.yaml_document import parse_yaml

    return _validate(parse_yaml(text, source, error=PolicyError))


def _validate(document: YamlDocument) -> Policy:
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise PolicyError(
            f"{document.source}:1: a policy is a mapping of settings (fail_on, categories, rules, waivers, metrics)"
        )
    # Severity names are case-insensitive and metric thresholds are written as text:
    # both are normalised here, where the YAML location is still known.
    try:
        data = _normalise(data)
    except _NormaliseError as exc:
        raise PolicyError(document.message(exc.loc, exc.message)) from None
    from bastion.core.yaml_document import validate

    return validate(document, Policy, data, error=PolicyError)


class _NormaliseError(Exception):
    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        self.loc, self.message = loc, message


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if "fail_on" in data:
        data["fail_on"] = _threshold(data["fail_on"], ("fail_on",))
    if isinstance(data.get("categories"), dict):
        data["categories"] = {k: _threshold(v, ("categories", k)) for k, v in data["categories"].items()}
    if isinstance(data.get("metrics"), list):
        metrics = []
        for i, item in enumerate(data["metrics"]):
            try:
                metrics.append(MetricThreshold.parse(item) if isinstance(item, str) else item)
            except ValueError as exc:
                raise _NormaliseError(("metrics", i), str(exc)) from None
        data["metrics"] = metrics
    return data


def _threshold(value: Any, loc: tuple[Any, ...]) -> Any:
    if not isinstance(value, str):
        return value
    if value.strip().lower() == NEVER:
        return NEVER
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise _NormaliseError(loc, str(exc)) from None
