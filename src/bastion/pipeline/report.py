"""The run report: ``report.json`` (checked against report.schema.json) and a self-contained ``report.html``.

The HTML opens offline and runs nothing: styles are inline, charts are SVG drawn here from the numbers, a
Content-Security-Policy forbids scripts and every fetch, and every string from the run (column names,
finding messages, step names — all of it user-controlled) goes through Jinja's autoescaping.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.core.atomic import atomic_write
from bastion.core.errors import BastionError
from bastion.core.finding import Location

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"

# A stage's findings beyond this many are counted in the HTML but listed only in report.json: a poisoning
# scan reports one finding per suspicious row, and a page of ten thousand rows helps nobody.
_FINDINGS_SHOWN_PER_STAGE = 200
_FEATURES_SHOWN = 20
_SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# Arrays of one section that pair up entry by entry.
_PARALLEL_ARRAYS = (("roc_curve", "fpr", "tpr"), ("attributions", "features", "global_importance"))
_STATUS_CLASS = {
    "passed": "ok",
    "pass": "ok",
    "failed": "bad",
    "fail": "bad",
    "interrupted": "warn",
    "cached": "info",
    "skipped": "muted",
}


def write_report(data: Mapping[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``directory``; returns their paths.

    ``data`` must match report.schema.json (a ``BastionError`` names the first place it does not); both
    files are rendered before either is written, and each is written atomically.
    """
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise BastionError(f"{directory / REPORT_JSON}: the run's results are not plain JSON ({exc})") from None
    document: dict[str, Any] = json.loads(text)
    _validate(document, directory / REPORT_JSON)
    html = _render_html(document)
    json_path, html_path = directory / REPORT_JSON, directory / REPORT_HTML
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(json_path, text.encode("utf-8"))
        atomic_write(html_path, html.encode("utf-8"))
    except OSError as exc:
        raise BastionError(f"{directory}: cannot write the run's report: {exc.strerror or exc}") from None
    return json_path, html_path


def report_schema() -> dict[str, Any]:
    """The JSON Schema that ``report.json`` follows (draft 2020-12)."""
    from importlib.resources import files

    schema: dict[str, Any] = json.loads(files("bastion.pipeline").joinpath("report.schema.json").read_text("utf-8"))
    return schema


def _validate(document: Mapping[str, Any], path: Path) -> None:
    # jsonschema-rs, not the jsonschema package: importing jsonschema loads its format checkers, which took
    # seconds of every run where an RFC 3987 grammar package is installed beside it.
    import jsonschema_rs

    error = next(jsonschema_rs.validator_for(report_schema()).iter_errors(document), None)
    if error is not None:
        where = "/".join(str(part) for part in error.instance_path) or "(top level)"
        raise BastionError(f"{path}: the run's results do not match report.schema.json at {where}: {error.message}")
    # What a JSON Schema cannot say: arrays that must line up with each other.
    for section, first, second in _PARALLEL_ARRAYS:
        part = document.get(section)
        if part and len(part[first]) != len(part[second]):
            raise BastionError(f"{path}: {section}: {first} has {len(part[first])} entries but {second} has {len(part[second])}")
    matrix = document.get("confusion_matrix")
    if matrix:
        size = len(matrix["labels"])
        if len(matrix["counts"]) != size or any(len(row) != size for row in matrix["counts"]):
            raise BastionError(f"{path}: confusion_matrix: counts must be {size} rows of {size} (one per label)")


def _render_html(document: Mapping[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("bastion.pipeline", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(num=_number, seconds=_seconds, digest=_short_digest, status=_status_class)
    template = environment.get_template("report.html.j2")
    return template.render(report=document, view=_view(document))


def _view(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the template needs beyond the document itself: charts, groupings and joined tables."""
    metrics = document.get("metrics", {})
    thresholds: list[dict[str, Any]] = metrics.get("thresholds", [])
    view: dict[str, Any] = {
        "timeline": _timeline(document["run"], document["steps"]),
        "findings": _findings_by_stage(document.get("findings", [])),
        "metric_rows": _metric_rows(metrics.get("values", {}), thresholds),
        "cv_rows": [_cv_row(name, folds) for name, folds in document.get("cv", {}).items()],
        "bias": [_bias_charts(report, thresholds) for report in document.get("bias", [])],
    }
    if "bias" in document:
        from bastion.ml.bias import BIAS_METRICS

        codes = {code for report in document["bias"] for code in (*report["pre"], *report["post"])}
        view["bias_glossary"] = [(code, text) for code, text in BIAS_METRICS.items() if code in codes]
    if "roc_curve" in document:
        view["roc"] = _roc_chart(document["roc_curve"])
    if "confusion_matrix" in document:
        view["confusion"] = _confusion_chart(document["confusion_matrix"])
    if "attributions" in document:
        view["attributions"] = _attribution_chart(document["attributions"])
    return view


# ---- formatting filters -------------------------------------------------------------------------------------


def _number(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def _short_digest(digest: str | None) -> str:
    return "—" if digest is None else digest[:12]


def _status_class(status: str) -> str:
    return _STATUS_CLASS.get(status, "muted")


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# ---- tables -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StageFindings:
    """One stage's findings, worst first."""

    stage: str
    """The step that made them."""
    shown: tuple[dict[str, Any], ...]
    """Each finding's JSON plus ``where``, its location as one line; at most ``_FINDINGS_SHOWN_PER_STAGE``."""
    total: int
    """How many the stage made."""
    by_severity: tuple[tuple[str, int], ...]
    """(severity, count), worst first, only severities that occur."""


def _findings_by_stage(findings: Iterable[Mapping[str, Any]]) -> list[_StageFindings]:
    stages: dict[str, list[Mapping[str, Any]]] = {}
    for finding in findings:
        stages.setdefault(finding["stage"], []).append(finding)
    grouped = []
    for stage, items in stages.items():
        items.sort(key=lambda f: _SEVERITY_ORDER.index(f["severity"]))
        counts = [(s, sum(1 for f in items if f["severity"] == s)) for s in _SEVERITY_ORDER]
        shown = tuple({**f, "where": _where(f["location"])} for f in items[:_FINDINGS_SHOWN_PER_STAGE])
        grouped.append(_StageFindings(stage, shown, len(items), tuple((s, n) for s, n in counts if n)))
    return grouped


def _where(location: Mapping[str, Any]) -> str:
    optional = ("member", "offset", "line", "column", "field", "row")
    return str(Location(location["path"], **{name: location.get(name) for name in optional}))


@dataclass(frozen=True)
class _MetricRow:
    """A measured metric and the gate's thresholds on it."""

    name: str
    value: float | None
    thresholds: tuple[dict[str, Any], ...]
    """Each threshold's JSON plus ``rule``, its text as written in the policy (``abs(dpl) <= 0.1``)."""


def _metric_rows(values: Mapping[str, float | None], thresholds: Sequence[Mapping[str, Any]]) -> list[_MetricRow]:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for threshold in thresholds:
        name = threshold["metric"]
        rule = f"abs({name})" if threshold.get("absolute") else name
        by_metric.setdefault(name, []).append({**threshold, "rule": f"{rule} {threshold['op']} {threshold['value']:g}"})
    rows = [_MetricRow(name, value, tuple(by_metric.pop(name, ()))) for name, value in values.items()]
    # Thresholds on metrics that are not in ``values`` (a bias or privacy metric, or one never measured).
    rows += [_MetricRow(name, items[0]["measured"], tuple(items)) for name, items in by_metric.items()]
    return rows


def _cv_row(name: str, folds: Sequence[float | None]) -> dict[str, Any]:
    measured = [f for f in folds if f is not None]
    mean = sum(measured) / len(measured) if measured else None
    spread = math.sqrt(sum((f - mean) ** 2 for f in measured) / len(measured)) if mean is not None else None
    return {"name": name, "folds": list(folds), "mean": mean, "std": spread}


# ---- charts -------------------------------------------------------------------------------------------------

_ROW = 24.0
_LABEL_WIDTH = 170.0
_PLOT_WIDTH = 330.0
_VALUE_WIDTH = 90.0
_TOP = 8.0
_AXIS = 26.0


@dataclass(frozen=True)
class _Bar:
    """One row of a horizontal bar chart, in SVG user units."""

    label: str
    """The row's label as drawn (clipped to fit)."""
    title: str
    """The full label and value, shown on hover."""
    text: str
    """The value, printed after the bar."""
    x: float
    width: float
    y: float
    css: str
    """Extra class: the colour of the bar (``ok``, ``bad``, ``neg`` …)."""
    marks: tuple[float, ...] = ()
    """x of threshold lines drawn across the row."""


@dataclass(frozen=True)
class _BarChart:
    """A horizontal bar chart with a labelled value axis."""

    width: float
    height: float
    bars: tuple[_Bar, ...]
    ticks: tuple[tuple[float, str], ...]
    """(x, label) of the axis ticks, with grid lines."""
    zero: float | None
    """x of the zero line of a chart with negative values."""
    row: float = _ROW
    plot_left: float = _LABEL_WIDTH


@dataclass(frozen=True)
class _Row:
    """A bar to draw, in data units."""

    label: str
    start: float
    end: float
    text: str
    css: str
    marks: tuple[float, ...] = ()
    note: str | None = None
    """Shown on hover after the value (what a metric means)."""


def _bar_chart(rows: Sequence[_Row], low: float, high: float, ticks: Iterable[tuple[float, str]]) -> _BarChart:
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return round(_LABEL_WIDTH + (min(max(value, low), high) - low) / span * _PLOT_WIDTH, 2)

    bars = []
    for i, row in enumerate(rows):
        left, right = x(min(row.start, row.end)), x(max(row.start, row.end))
        bars.append(
            _Bar(
                label=_clip(row.label, 26),
                title=f"{row.label}: {row.text}" + (f" — {row.note}" if row.note else ""),
                text=row.text,
                x=left,
                # A zero-length bar (a cached step, a metric of 0) still shows where it is.
                width=max(round(right - left, 2), 1.5),
                y=_TOP + i * _ROW,
                css=row.css,
                marks=tuple(x(mark) for mark in row.marks if low <= mark <= high),
            )
        )
    height = _TOP + len(rows) * _ROW + _AXIS
    zero = x(0.0) if low < 0 < high else None
    return _BarChart(_LABEL_WIDTH + _PLOT_WIDTH + _VALUE_WIDTH, height, tuple(bars), tuple((x(v), t) for v, t in ticks), zero)


def _timeline(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> _BarChart:
    # A step's bar starts at its own start time when the runner recorded one (parallel branches overlap),
    # otherwise where the steps before it (in graph order) had all ended.
    run_start = _timestamp(run.get("started"))
    rows, previous_end = [], 0.0
    for step in steps:
        duration = step["duration_s"] or 0.0
        started = _timestamp(step.get("started"))
        start = (started - run_start).total_seconds() if started and run_start else previous_end
        rows.append(_Row(step["name"], start, start + duration, _seconds(duration), _status_class(step["status"])))
        previous_end = max(previous_end, start + duration)
    total = max((row.end for row in rows), default=0.0) or 1.0
    return _bar_chart(rows, 0.0, total, ((t, _seconds(t)) for t in _ticks(0.0, total)))


def _timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    # A time without a zone is UTC, the runner's clock; aware and naive times cannot be subtracted.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _attribution_chart(attributions: Mapping[str, Any]) -> _BarChart:
    pairs = [(f, v) for f, v in zip(attributions["features"], attributions["global_importance"], strict=False) if v is not None]
    pairs.sort(key=lambda pair: -abs(pair[1]))
    pairs = pairs[:_FEATURES_SHOWN]
    rows = [_Row(feature, 0.0, value, _number(value), "info" if value >= 0 else "neg") for feature, value in pairs]
    low = min((v for _, v in pairs), default=0.0)
    high = max((v for _, v in pairs), default=0.0)
    low, high = min(low, 0.0), max(high, 0.0) or 1.0
    return _bar_chart(rows, low, high, ((v, _number(v)) for v in _ticks(low, high)))


@dataclass(frozen=True)
class _FacetCharts:
    """A facet's bias report with its pre- and post-training charts."""

    report: Mapping[str, Any]
    pre: _BarChart | None
    post: _BarChart | None


def _bias_charts(report: Mapping[str, Any], thresholds: Sequence[Mapping[str, Any]]) -> _FacetCharts:
    from bastion.ml.bias import BIAS_METRICS

    def chart(values: Mapping[str, float | None]) -> _BarChart | None:
        if not values:
            return None
        rows, extent = [], 0.0
        for code, value in values.items():
            marks = _bias_thresholds(code, report["facet"], thresholds)
            extent = max(extent, abs(value or 0.0), *(abs(m) for m in marks))
            css = "muted" if value is None else "info" if value >= 0 else "neg"
            text = "n/a" if value is None else _number(value)
            rows.append(_Row(code, 0.0, value or 0.0, text, css, marks, BIAS_METRICS.get(code)))
        extent = extent or 1.0
        return _bar_chart(rows, -extent, extent, ((v, _number(v)) for v in (-extent, 0.0, extent)))

    return _FacetCharts(report, chart(report["pre"]), chart(report["post"]))


def _bias_thresholds(code: str, facet: str, thresholds: Sequence[Mapping[str, Any]]) -> tuple[float, ...]:
    """Threshold values the gate applies to ``code`` on ``facet``: ``dpl``, ``DPL[sex]``, ``abs(dpl)``."""
    marks: list[float] = []
    for threshold in thresholds:
        name = threshold["metric"].strip()
        absolute = bool(threshold.get("absolute"))
        if name.lower().startswith("abs(") and name.endswith(")"):
            name, absolute = name[4:-1].strip(), True
        metric, _, on = name.partition("[")
        if metric.lower() != code.lower() or (on and on.rstrip("]") != facet):
            continue
        value = float(threshold["value"])
        marks += [value, -value] if absolute and value else [value]
    return tuple(marks)


def _ticks(low: float, high: float) -> list[float]:
    """Round axis values (steps of 1, 2, 2.5 or 5 times a power of ten) from ``low`` to ``high``, about five."""
    rough = (high - low) / 4
    if rough <= 0:
        return [low]
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


@dataclass(frozen=True)
class _RocChart:
    """The ROC curve in SVG user units (a square plot)."""

    size: float
    left: float
    top: float
    plot: float
    curve: str
    """The curve's path data."""
    area: str
    """The path data of the area under the curve."""
    ticks: tuple[tuple[float, str], ...]
    """(offset within the plot, label) for both axes."""
    auc: float | None


def _roc_chart(roc: Mapping[str, Any]) -> _RocChart:
    left, top, plot = 48.0, 12.0, 280.0
    points = [(left + f * plot, top + (1 - t) * plot) for f, t in zip(roc["fpr"], roc["tpr"], strict=False)]
    curve = " ".join(f"{'M' if i == 0 else 'L'}{x:.2f},{y:.2f}" for i, (x, y) in enumerate(points))
    area = f"{curve} L{left + plot:.2f},{top + plot:.2f} L{left:.2f},{top + plot:.2f} Z" if points else ""
    ticks = tuple((plot * i / 4, f"{i / 4:g}") for i in range(5))
    return _RocChart(left + plot + 16, left, top, plot, curve, area, ticks, roc["auc"])


@dataclass(frozen=True)
class _Cell:
    """One cell of the confusion matrix."""

    x: float
    y: float
    count: int
    share: float
    """The cell's share of its row (of the true class), which sets the colour's strength."""
    correct: bool
    title: str


@dataclass(frozen=True)
class _ConfusionChart:
    """The confusion matrix as a heat table in SVG user units."""

    width: float
    height: float
    left: float
    top: float
    cell: float
    labels: tuple[tuple[str, str, str], ...]
    """(label as drawn above a column, as drawn beside a row, full label) in class order."""
    cells: tuple[_Cell, ...]


def _confusion_chart(matrix: Mapping[str, Any]) -> _ConfusionChart:
    labels: list[str] = matrix["labels"]
    counts: list[list[int]] = matrix["counts"]
    left, top = 120.0, 44.0
    cell = max(28.0, min(72.0, 420.0 / len(labels)))
    cells = []
    for i, row in enumerate(counts):
        row_total = sum(row) or 1
        for j, count in enumerate(row):
            title = f"true {labels[i]}, predicted {labels[j]}: {count}"
            cells.append(_Cell(left + j * cell, top + i * cell, count, round(count / row_total, 4), i == j, title))
    # About 7 units per character at 12px: a column label fits its cell, a row label the left margin.
    drawn = tuple((_clip(label, max(3, int(cell / 7))), _clip(label, 16), label) for label in labels)
    return _ConfusionChart(left + cell * len(labels) + 8, top + cell * len(counts) + 8, left, top, cell, drawn, tuple(cells))
