"""Reading baselines: statistics.json and constraints.json as Model Monitor documents them, whoever wrote them.

Only the fields the check uses are required; unknown fields are ignored (Model Monitor's own files
carry more). A file of another shape is refused with the first field that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    from bastion.scanners.data import KLLSketch

TYPES = ("Integral", "Fractional", "String", "Unknown")


@dataclass(frozen=True, slots=True)
class FeatureStatistics:
    """One feature of statistics.json."""

    name: str
    inferred_type: str
    """Integral, Fractional, String or Unknown."""
    present: int
    """``common.num_present``."""
    missing: int
    """``common.num_missing``."""
    mean: float | None = None
    std_dev: float | None = None
    min: float | None = None
    max: float | None = None
    sketch: KLLSketch | None = None
    """The KLL sketch of a numeric feature (``distribution.kll.sketch``)."""
    categories: Mapping[str, float] | None = None
    """Value counts of a text feature (``distribution.categorical.buckets``)."""


@dataclass(frozen=True, slots=True)
class Statistics:
    """A statistics.json."""

    item_count: int
    features: Mapping[str, FeatureStatistics]
    """By name, in file order."""


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    """``monitoring_config`` of constraints.json (a feature's ``monitoringConfigOverrides`` applied)."""

    evaluate_constraints: bool = True
    datatype_check_threshold: float = 1.0
    """The least share of a feature's values that must have its baseline type."""
    domain_content_threshold: float = 1.0
    """The least share of a text feature's values that must lie in its domain."""
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    """The largest distance between numeric distributions (L-infinity of their CDFs)."""
    comparison_method: str = "Robust"
    """Simple: the distance itself; Robust: the distance less the two-sample KS margin at the 95 % level."""
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: str = "LInfinity"
    """LInfinity (largest difference of a value's share) or ChiSquared (the test's p-value must stay above the threshold)."""


@dataclass(frozen=True, slots=True)
class FeatureConstraints:
    """One feature of constraints.json."""

    name: str
    inferred_type: str
    completeness: float | None
    """The least share of rows with a value."""
    is_non_negative: bool | None
    domains: tuple[str, ...] | None
    """The values a text feature may take."""
    config: MonitoringConfig
    """The monitoring configuration for this feature."""


@dataclass(frozen=True, slots=True)
class Constraints:
    """A constraints.json."""

    features: Mapping[str, FeatureConstraints]
    config: MonitoringConfig


def load_statistics(path: Path) -> Statistics:
    document = _load(path)
    features: dict[str, FeatureStatistics] = {}
    dataset = _object(document.get("dataset"), path, "dataset")
    for index, raw in enumerate(_list(document.get("features"), path, "features")):
        where = f"features[{index}]"
        feature = _object(raw, path, where)
        name, kind = _name(feature, path, where), _type(feature, path, where)
        if "numerical_statistics" in feature:
            features[name] = _numeric(
                name, kind, _object(feature["numerical_statistics"], path, f"{where}.numerical_statistics"), path, where
            )
        elif "string_statistics" in feature:
            features[name] = _text(
                name, kind, _object(feature["string_statistics"], path, f"{where}.string_statistics"), path, where
            )
        elif kind == "Unknown":
            features[name] = FeatureStatistics(name, kind, 0, 0)
        else:
            raise MonitorError(
                f"{path}: {where} has neither numerical_statistics nor string_statistics; is this a statistics.json?"
            )
    return Statistics(int(_number(dataset.get("item_count"), path, "dataset.item_count")), features)


def load_constraints(path: Path) -> Constraints:
    document = _load(path)
    raw_config = document.get("monitoring_config", {})
    config = _config(_object(raw_config, path, "monitoring_config"), MonitoringConfig(), path, "monitoring_config")
    features: dict[str, FeatureConstraints] = {}
    for index, raw in enumerate(_list(document.get("features"), path, "features")):
        where = f"features[{index}]"
        feature = _object(raw, path, where)
        name = _name(feature, path, where)
        numbers = _object(feature.get("num_constraints", {}), path, f"{where}.num_constraints")
        strings = _object(feature.get("string_constraints", {}), path, f"{where}.string_constraints")
        domains = strings.get("domains")
        overrides = _object(feature.get("monitoringConfigOverrides", {}), path, f"{where}.monitoringConfigOverrides")
        features[name] = FeatureConstraints(
            name=name,
            inferred_type=_type(feature, path, where),
            completeness=_number(feature["completeness"], path, f"{where}.completeness") if "completeness" in feature else None,
            is_non_negative=bool(numbers["is_non_negative"]) if "is_non_negative" in numbers else None,
            domains=tuple(str(v) for v in _list(domains, path, f"{where}.string_constraints.domains"))
            if domains is not None
            else None,
            config=_config(overrides, config, path, f"{where}.monitoringConfigOverrides"),
        )
    return Constraints(features, config)


def _numeric(name: str, kind: str, stats: dict[str, Any], path: Path, where: str) -> FeatureStatistics:
    from bastion.scanners.data import KLLSketch

    present, missing = _common(stats, path, f"{where}.numerical_statistics")
    sketch = None
    kll = _object(_object(stats.get("distribution", {}), path, f"{where}.distribution").get("kll", {}), path, f"{where}.kll")
    if "sketch" in kll:
        raw = _object(kll["sketch"], path, f"{where}.kll.sketch")
        parameters = _object(raw.get("parameters", {}), path, f"{where}.kll.sketch.parameters")
        levels = [
            [_number(v, path, f"{where}.kll.sketch.data") for v in _list(level, path, f"{where}.kll.sketch.data")]
            for level in _list(raw.get("data"), path, f"{where}.kll.sketch.data")
        ]
        sketch = KLLSketch.from_levels(
            levels,
            k=int(_number(parameters.get("k", 2048), path, f"{where}.kll.sketch.parameters.k")),
            c=_number(parameters.get("c", 0.64), path, f"{where}.kll.sketch.parameters.c"),
        )
    return FeatureStatistics(
        name,
        kind,
        present,
        missing,
        mean=_optional(stats.get("mean"), path, f"{where}.mean"),
        std_dev=_optional(stats.get("std_dev"), path, f"{where}.std_dev"),
        min=_optional(stats.get("min"), path, f"{where}.min"),
        max=_optional(stats.get("max"), path, f"{where}.max"),
        sketch=sketch,
    )


def _text(name: str, kind: str, stats: dict[str, Any], path: Path, where: str) -> FeatureStatistics:
    present, missing = _common(stats, path, f"{where}.string_statistics")
    distribution = _object(stats.get("distribution", {}), path, f"{where}.distribution")
    categorical = _object(distribution.get("categorical", {}), path, f"{where}.categorical")
    categories: dict[str, float] = {}
    for index, raw in enumerate(_list(categorical.get("buckets", []), path, f"{where}.categorical.buckets")):
        bucket = _object(raw, path, f"{where}.categorical.buckets[{index}]")
        value = str(bucket.get("value"))
        categories[value] = categories.get(value, 0.0) + _number(
            bucket.get("count"), path, f"{where}.categorical.buckets[{index}].count"
        )
    return FeatureStatistics(name, kind, present, missing, categories=categories)


def _common(stats: dict[str, Any], path: Path, where: str) -> tuple[int, int]:
    common = _object(stats.get("common"), path, f"{where}.common")
    return (
        int(_number(common.get("num_present"), path, f"{where}.common.num_present")),
        int(_number(common.get("num_missing", 0), path, f"{where}.common.num_missing")),
    )


def _config(raw: dict[str, Any], base: MonitoringConfig, path: Path, where: str) -> MonitoringConfig:
    distribution = _object(raw.get("distribution_constraints", {}), path, f"{where}.distribution_constraints")
    method = str(distribution.get("comparison_method", base.comparison_method))
    categorical = str(distribution.get("categorical_drift_method", base.categorical_drift_method))
    if method not in ("Simple", "Robust"):
        raise MonitorError(f"{path}: {where}.distribution_constraints.comparison_method is {method!r}; use Simple or Robust")
    if categorical not in ("LInfinity", "ChiSquared"):
        raise MonitorError(
            f"{path}: {where}.distribution_constraints.categorical_drift_method is {categorical!r}; use LInfinity or ChiSquared"
        )

    def number(source: dict[str, Any], key: str, default: float, at: str) -> float:
        return _number(source[key], path, f"{at}.{key}") if key in source else default

    return MonitoringConfig(
        evaluate_constraints=str(raw.get("evaluate_constraints", "Enabled" if base.evaluate_constraints else "Disabled"))
        == "Enabled",
        datatype_check_threshold=number(raw, "datatype_check_threshold", base.datatype_check_threshold, where),
        domain_content_threshold=number(raw, "domain_content_threshold", base.domain_content_threshold, where),
        perform_comparison=str(distribution.get("perform_comparison", "Enabled" if base.perform_comparison else "Disabled"))
        == "Enabled",
        comparison_threshold=number(
            distribution, "comparison_threshold", base.comparison_threshold, f"{where}.distribution_constraints"
        ),
        comparison_method=method,
        categorical_comparison_threshold=number(
            distribution,
            "categorical_comparison_threshold",
            base.categorical_comparison_threshold,
            f"{where}.distribution_constraints",
        ),
        categorical_drift_method=categorical,
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MonitorError(f"{path}: no such file; create the baseline with 'bastion monitor baseline DATA -o DIR'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MonitorError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise MonitorError(f"{path}: not JSON ({exc}); give Model Monitor's {path.name}") from None
    return _object(document, path, "the document")


def _object(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MonitorError(f"{path}: {where} must be an object; is this Model Monitor's {path.name}?")
    return value


def _list(value: Any, path: Path, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MonitorError(f"{path}: {where} must be a list; is this Model Monitor's {path.name}?")
    return value


def _name(feature: dict[str, Any], path: Path, where: str) -> str:
    name = feature.get("name")
    if not isinstance(name, str):
        raise MonitorError(f"{path}: {where}.name must be a string; is this Model Monitor's {path.name}?")
    return name


def _type(feature: dict[str, Any], path: Path, where: str) -> str:
    kind = feature.get("inferred_type")
    if kind not in TYPES:
        raise MonitorError(f"{path}: {where}.inferred_type is {kind!r}; Model Monitor's types are {', '.join(TYPES)}")
    return str(kind)


def _number(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MonitorError(f"{path}: {where} must be a number; is this Model Monitor's {path.name}?")
    return float(value)


def _optional(value: Any, path: Path, where: str) -> float | None:
    return None if value is None else _number(value, path, where)
