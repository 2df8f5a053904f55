"""The HTML report of a check: one self-contained page (no script, no external resource), a summary,
the violations, and per column the drift figure with an inline SVG plot of reference against current
shares (numbers: 20 equal-width bins over both sides' range; categories: the 12 most frequent values)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from bastion.monitor.drift import Categorical, Distribution, Numeric

if TYPE_CHECKING:
    from bastion.monitor.checks import CheckResult

NUMERIC_BINS = 20
TOP_VALUES = 12
_WIDTH, _HEIGHT = 360, 120
_REFERENCE, _CURRENT = "#7f8c9a", "#e8772e"
_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#1d2430}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
.drift{color:#b3261e;font-weight:600}.ok{color:#1e7b34}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
"""


def render_report(result: CheckResult) -> str:
    """The report page of ``result``."""
    verdict = "dataset drift" if result.dataset_drift else "no dataset drift"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>Bastion drift report: {escape(result.data)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Drift report</h1><p>Data <code>{escape(result.data)}</code> ({result.rows} rows) against the baseline "
        f"<code>{escape(result.baseline)}</code>.</p>",
        f"<p class='{'drift' if result.dataset_drift else 'ok'}'>{verdict}: {len(result.drifted)} of {len(result.columns)} "
        f"columns drifted ({result.drift_share:.0%}; threshold {result.options.drift_share:.0%}).</p>",
        f"<h2>Constraint violations ({len(result.violations)})</h2>",
    ]
    if result.violations:
        parts.append("<table><tr><th>Feature</th><th>Check</th><th>Description</th></tr>")
        parts += [
            f"<tr><td>{escape(v.feature_name)}</td><td>{escape(v.constraint_check_type)}</td><td>{escape(v.description)}</td></tr>"
            for v in result.violations
        ]
        parts.append("</table>")
    else:
        parts.append("<p class='ok'>none</p>")
    parts.append(
        f"<h2>Columns</h2><p class='legend'><span style='background:{_REFERENCE}'></span>reference"
        f"<span style='background:{_CURRENT}'></span>current</p>"
        "<table><tr><th>Column</th><th>Method</th><th>Statistic</th><th>Threshold</th><th>Drift</th><th>Distribution</th></tr>"
    )
    for column in result.columns:
        reference, current = result.distributions[column.column]
        state = "<span class='drift'>drift</span>" if column.drifted else "<span class='ok'>no</span>"
        parts.append(
            f"<tr><td>{escape(column.column)}</td><td>{escape(column.method)}</td><td>{column.statistic:.4g}</td>"
            f"<td>{column.threshold:g}</td><td>{state}</td><td>{_plot(reference, current)}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    return "".join(parts)


def _plot(reference: Distribution, current: Distribution) -> str:
    labels, first, second, (left, right) = _shares(reference, current)
    if not labels:
        return ""
    top = max(max(first), max(second), 1e-12)
    step = _WIDTH / len(labels)
    bars = []
    for index, (label, a, b) in enumerate(zip(labels, first, second, strict=True)):
        x = index * step
        for offset, share, colour in ((0.1, a, _REFERENCE), (0.5, b, _CURRENT)):
            height = (_HEIGHT - 14) * share / top
            bars.append(
                f"<rect x='{x + offset * step:.1f}' y='{_HEIGHT - 14 - height:.1f}' width='{0.4 * step:.1f}' "
                f"height='{height:.1f}' fill='{colour}'><title>{escape(label)}: {share:.2%}</title></rect>"
            )
    ends = f"<text x='0' y='{_HEIGHT - 2}' font-size='10'>{escape(left)}</text>"
    ends += f"<text x='{_WIDTH}' y='{_HEIGHT - 2}' font-size='10' text-anchor='end'>{escape(right)}</text>"
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}' role='img'>{''.join(bars)}{ends}</svg>"


def _shares(reference: Distribution, current: Distribution) -> tuple[list[str], list[float], list[float], tuple[str, str]]:
    """Bar labels, the two sides' shares, and the labels of the axis' ends."""
    import numpy as np

    if isinstance(reference, Numeric) and isinstance(current, Numeric):
        values = np.concatenate((reference.values, current.values))
        if not values.size:
            return [], [], [], ("", "")
        low, high = float(values.min()), float(values.max())
        edges = np.linspace(low, high, NUMERIC_BINS + 1) if high > low else np.array([low, low + 1.0])
        first = np.diff(np.concatenate(([0.0], reference.cdf(edges[1:]))))
        second = np.diff(np.concatenate(([0.0], current.cdf(edges[1:]))))
        labels = [f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
        return labels, first.tolist(), second.tolist(), (f"{low:.4g}", f"{high:.4g}")
    assert isinstance(reference, Categorical) and isinstance(current, Categorical)
    total_a, total_b = max(reference.count, 1e-12), max(current.count, 1e-12)
    names: list[str] = sorted(
        set(reference.counts) | set(current.counts),
        key=lambda v: -(reference.counts.get(v, 0) / total_a + current.counts.get(v, 0) / total_b),
    )[:TOP_VALUES]
    return (
        names,
        [reference.counts.get(v, 0) / total_a for v in names],
        [current.counts.get(v, 0) / total_b for v in names],
        (names[0], names[-1]) if names else ("", ""),
    )
