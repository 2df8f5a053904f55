"""The run report: report.json against its schema, report.html escaped, offline, and drawn in Chromium."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bastion.core.errors import BastionError
from bastion.pipeline.report import report_schema, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = "<script>alert(1)</script>"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _finding(stage: str, severity: str, message: str, **location: Any) -> dict[str, Any]:
    return {
        "stage": stage,
        "rule_id": "data.pii.email-address",
        "category": "pii",
        "severity": severity,
        "message": message,
        "location": {"path": "data/patients.csv", **location},
        "entity": "EMAIL_ADDRESS",
        "count": 569,
        "confidence": 0.99,
        "evidence": "a…@e….com",
        "remediation": "anonymize the column",
    }


def full_report() -> dict[str, Any]:
    """A report with every section, as a run that trained, evaluated, signed and registered a model writes it."""
    features = ["mean radius", "mean texture", SCRIPT, "worst area"]
    return {
        "run": {
            "id": "r-20261122-0001",
            "pipeline": "breast-cancer",
            "status": "passed",
            "started": "2026-11-22T11:00:00+00:00",
            "finished": "2026-11-22T11:01:30+00:00",
            "duration_s": 90.0,
            "environment": {
                "python": "3.11.2",
                "platform": "Linux-6.1-x86_64",
                "packages": {"scikit-learn": "1.5.2", "numpy": "2.1.0"},
            },
        },
        "steps": [
            {
                "name": "ingest",
                "status": "cached",
                "duration_s": 0.0,
                "inputs": {"data": _sha("raw")},
                "outputs": {"table": _sha("table")},
                "params": {},
                "findings": 0,
                "message": None,
            },
            {
                "name": "scan",
                "status": "passed",
                "started": "2026-11-22T11:00:01+00:00",
                "duration_s": 12.5,
                "findings": 2,
                "message": f"2 findings in {SCRIPT}",
            },
            {"name": "train", "status": "passed", "duration_s": 61.0, "params": {"estimator": "project.model:build", "folds": 5}},
            {"name": "register", "status": "skipped", "duration_s": 0.0},
        ],
        "gates": [
            {"name": "security-and-compliance", "decision": "pass", "reasons": []},
            {"name": "model-security", "decision": "fail", "reasons": [f"metric mia_auc = 0.71 fails mia_auc <= 0.6 {SCRIPT}"]},
        ],
        "findings": [
            _finding("scan", "high", f"column {SCRIPT} holds e-mail addresses", field=SCRIPT),
            _finding("scan", "low", "a birth date column", field="dob"),
        ],
        "data_profile": {
            "rows": 569,
            "columns": [
                {"name": SCRIPT, "type": "VARCHAR", "missing": 0, "distinct": 569, "min": None, "max": None, "mean": None},
                {
                    "name": "mean radius",
                    "type": "DOUBLE",
                    "missing": 2,
                    "distinct": 456,
                    "min": 6.981,
                    "max": 28.11,
                    "mean": 14.127,
                },
            ],
        },
        "metrics": {
            "values": {"accuracy": 0.9649, "recall": 0.9859, "specificity": 0.9302, "npv": None, "roc_auc": 0.9954},
            "thresholds": [
                {"metric": "recall", "op": ">=", "value": 0.95, "measured": 0.9859, "passed": True},
                {"metric": "dpl", "op": "<=", "value": 0.1, "absolute": True, "measured": 0.04, "passed": True},
                {"metric": "mia_auc", "op": "<=", "value": 0.6, "measured": 0.71, "passed": False},
            ],
        },
        "confusion_matrix": {"labels": ["benign", SCRIPT], "counts": [[40, 3], [1, 70]]},
        "roc_curve": {"fpr": [0.0, 0.0, 0.05, 0.1, 0.4, 1.0], "tpr": [0.0, 0.6, 0.9, 0.97, 0.99, 1.0], "auc": 0.9954},
        "cv": {"accuracy": [0.95, 0.96, 0.97, 0.94, 0.96], "roc_auc": [0.99, 0.98, 1.0, 0.99, None]},
        "bias": [
            {
                "facet": SCRIPT,
                "label": "diagnosis",
                "pre": {"CI": -0.2, "DPL": 0.04, "KL": 0.01, "JS": 0.003, "LP": 0.05, "TVD": 0.04, "KS": 0.04, "CDDL": None},
                "post": {
                    "DPPL": 0.03,
                    "DI": 0.94,
                    "DCA": -0.01,
                    "DCR": 0.02,
                    "RD": 0.0,
                    "DAR": 0.01,
                    "DRR": -0.02,
                    "AD": 0.01,
                    "TE": 0.5,
                    "FT": 0.02,
                },
                "n_d": 200,
                "n_a": 369,
            }
        ],
        "attributions": {
            "method": "permutation",
            "features": features,
            "global_importance": [0.12, 0.03, 0.2, -0.01],
            "rows": [[0.1, 0.0, 0.2, 0.0]],
        },
        "membership_inference": {
            "auc": 0.71,
            "advantage": 0.32,
            "method": "loss-threshold",
            "n_members": 455,
            "n_non_members": 114,
        },
        "robustness": {"noise_scale": 0.05, "flip_rate": 0.018, "mean_score_shift": 0.011, "n_rows": 114},
        "isolation": {
            "network_isolated": False,
            "reason": "unshare(CLONE_NEWNET) failed: EPERM",
            "dropped_environment": ["AWS_SECRET_ACCESS_KEY"],
            "memory_bytes": 4294967296,
            "cpu_seconds": 3600,
        },
        "lineage": [{"step": "ingest", "inputs": {"data": _sha("raw")}, "outputs": {"table": _sha("table")}}],
        "signature": {"path": "package/model.sig", "sha256": _sha("sig"), "verified": True, "signer": "bastion-local"},
        "package": {"path": "package/", "digest": "sha256:" + _sha("manifest")},
        "registry": {"name": "breast-cancer", "version": "3", "status": "PENDING"},
    }


def minimal_report() -> dict[str, Any]:
    return {
        "run": {"id": "r1", "pipeline": "p", "status": "failed", "started": "2026-11-22T11:00:00Z"},
        "steps": [{"name": "scan", "status": "failed", "duration_s": 1.25}],
        "gates": [],
    }


@pytest.mark.parametrize("example", [full_report, minimal_report])
def test_examples_match_the_schema_and_are_written_as_given(tmp_path: Path, example: Any) -> None:
    data = example()
    Draft202012Validator.check_schema(report_schema())
    assert list(Draft202012Validator(report_schema()).iter_errors(data)) == []
    json_path, html_path = write_report(data, tmp_path / "out")
    assert json.loads(json_path.read_text("utf-8")) == data
    assert html_path.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["steps"][0].update(status="running"), "at steps/0/status"),
        (lambda d: d.pop("gates"), '"gates" is a required property'),
        (lambda d: d["steps"][0].update(inputs={"data": "not-a-digest"}), "at steps/0/inputs/data"),
        (lambda d: d["findings"][0].update(severity="severe"), "at findings/0/severity"),
        (lambda d: d["confusion_matrix"]["counts"].append([1, 2]), "confusion_matrix: counts must be 2 rows of 2"),
        (lambda d: d["roc_curve"]["tpr"].pop(), "roc_curve: fpr has 6 entries but tpr has 5"),
        (lambda d: d["metrics"]["values"].update(f1=float("nan")), "not plain JSON"),
    ],
)
def test_bad_results_are_refused_in_one_line_and_nothing_is_written(tmp_path: Path, change: Any, expected: str) -> None:
    data = full_report()
    change(data)
    with pytest.raises(BastionError) as raised:
        write_report(data, tmp_path)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message and str(tmp_path / "report.json") in message
    assert list(tmp_path.iterdir()) == []


def test_every_user_string_is_escaped(tmp_path: Path) -> None:
    data = full_report()
    data["run"]["pipeline"] = SCRIPT
    data["steps"][2]["name"] = SCRIPT
    _, html_path = write_report(data, tmp_path)
    html = html_path.read_text("utf-8")
    assert "<script" not in html.lower()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # The data profile's column, the finding's location, the facet, the confusion label, the feature, the step …
    assert html.count(escaped) >= 8
    assert f"<td><code>{escaped}</code></td><td>VARCHAR</td>" in html


def test_the_page_references_nothing_outside_itself(tmp_path: Path) -> None:
    _, html_path = write_report(full_report(), tmp_path)
    html = html_path.read_text("utf-8")
    assert re.search(r"https?://", html, re.IGNORECASE) is None
    assert re.search(r"\ssrc\s*=", html, re.IGNORECASE) is None
    assert all(link.startswith("#") for link in re.findall(r'href="([^"]*)"', html))
    assert "default-src 'none'" in html


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    with pytest.raises(BastionError, match=r"taken: cannot write the run's report"):
        write_report(minimal_report(), tmp_path / "taken")


def test_the_timeline_places_steps_at_their_start_times(tmp_path: Path) -> None:
    data = minimal_report()
    # Two branches that ran side by side, one time written without a zone (read as UTC).
    data["steps"] = [
        {"name": "scan-data", "status": "passed", "started": "2026-11-22T11:00:10+00:00", "duration_s": 20.0},
        {"name": "scan-code", "status": "passed", "started": "2026-11-22T11:00:10", "duration_s": 10.0},
        {"name": "gate", "status": "failed", "duration_s": 0.5},
    ]
    _, html_path = write_report(data, tmp_path)
    bars = re.findall(r'<rect class="bar (\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', html_path.read_text("utf-8"))
    (data_css, data_x, data_width), (code_css, code_x, code_width), (gate_css, gate_x, _) = bars
    assert data_x == code_x  # both started 10 s into the run
    assert float(data_width) == pytest.approx(2 * float(code_width), abs=0.05)
    assert float(gate_x) == pytest.approx(float(data_x) + float(data_width), abs=0.05)  # once both branches had ended
    assert (data_css, code_css, gate_css) == ("ok", "ok", "bad")


def test_long_finding_lists_are_cut_and_counted(tmp_path: Path) -> None:
    data = minimal_report()
    data["findings"] = [_finding("scan", "medium", f"suspicious row {i}", row=i) for i in range(250)]
    data["findings"].append(_finding("scan", "critical", "the worst one", row=999))
    _, html_path = write_report(data, tmp_path)
    html = html_path.read_text("utf-8")
    assert "the worst one" in html  # worst first, so it survives the cut
    assert "suspicious row 198" in html and "suspicious row 199" not in html
    assert "51 more findings of this stage are listed in report.json" in html
    assert json.loads((tmp_path / "report.json").read_text("utf-8"))["findings"] == data["findings"]


def test_a_report_is_replaced_whole(tmp_path: Path) -> None:
    write_report(full_report(), tmp_path)
    second = minimal_report()
    write_report(second, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text("utf-8")) == second
    assert "breast-cancer" not in (tmp_path / "report.html").read_text("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


def _open_in_chromium(html_path: Path, inspect: Any) -> tuple[list[str], list[str]]:
    """Open the page in headless Chromium, call ``inspect(page)``; returns (console errors, requests made)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html_path.as_uri(), wait_until="load")
            inspect(page)
        finally:
            browser.close()
    return errors, requests


def _drawn(page: Any, selector: str) -> int:
    """How many elements match ``selector`` and have a visible box."""
    return int(
        page.eval_on_selector_all(
            selector, "nodes => nodes.filter(n => { const b = n.getBBox(); return b.width > 0 || b.height > 0; }).length"
        )
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_report_renders_in_chromium_with_its_charts_and_no_errors(tmp_path: Path) -> None:
    data = full_report()
    _, html_path = write_report(data, tmp_path)
    seen: dict[str, Any] = {}

    def inspect(page: Any) -> None:
        seen["title"] = page.title()
        seen["verdict"] = page.inner_text("#verdict")
        seen["roc"] = page.get_attribute("#roc-curve path.curve", "d")
        seen["roc_drawn"] = _drawn(page, "#roc-curve path.curve")
        seen["confusion_cells"] = _drawn(page, "#confusion-matrix rect.cell")
        seen["confusion_text"] = page.eval_on_selector_all(
            "#confusion-matrix text.count", "nodes => nodes.map(n => n.textContent)"
        )
        seen["attribution_bars"] = _drawn(page, "#feature-attributions rect.bar")
        seen["timeline_bars"] = _drawn(page, "#step-timeline rect.bar")
        seen["bias_pre_bars"] = _drawn(page, "#bias-0-pre rect.bar")
        seen["bias_post_bars"] = _drawn(page, "#bias-0-post rect.bar")
        seen["bias_thresholds"] = _drawn(page, "#bias-0-pre line.threshold")
        seen["bias_glossary"] = page.eval_on_selector_all(
            "#bias-glossary td:first-child", "cells => cells.map(c => c.textContent)"
        )
        seen["script_ran"] = page.evaluate("() => window.__xss === true || document.scripts.length > 0")
        seen["profile_first_column"] = page.inner_text("#data-profile tbody tr:first-child td:first-child")
        seen["page_height"] = page.evaluate("() => document.body.scrollHeight")

    errors, requests = _open_in_chromium(html_path, inspect)
    assert errors == []
    assert requests == [html_path.as_uri()]
    assert seen["title"].startswith("Bastion run r-20261122-0001")
    assert seen["verdict"].lower() == "passed"
    assert seen["roc"].startswith("M") and seen["roc"].count("L") == len(data["roc_curve"]["fpr"]) - 1
    assert seen["roc_drawn"] == 1
    assert seen["confusion_cells"] == 4 and seen["confusion_text"] == ["40", "3", "1", "70"]
    assert seen["attribution_bars"] == len(data["attributions"]["features"])
    assert seen["timeline_bars"] == len(data["steps"])
    assert seen["bias_pre_bars"] == len(data["bias"][0]["pre"])
    assert seen["bias_post_bars"] == len(data["bias"][0]["post"])
    assert seen["bias_thresholds"] == 2  # abs(dpl) <= 0.1 is drawn at -0.1 and +0.1 on the DPL row
    assert sorted(seen["bias_glossary"]) == sorted([*data["bias"][0]["pre"], *data["bias"][0]["post"]])
    assert seen["script_ran"] is False
    assert seen["profile_first_column"] == SCRIPT
    assert seen["page_height"] > 1500


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_minimal_report_renders_without_errors(tmp_path: Path) -> None:
    data = copy.deepcopy(minimal_report())
    _, html_path = write_report(data, tmp_path)
    seen: dict[str, Any] = {}

    def inspect(page: Any) -> None:
        seen["verdict"] = page.inner_text("#verdict")
        seen["timeline_bars"] = _drawn(page, "#step-timeline rect.bar")
        seen["gates"] = page.inner_text("#gates")

    errors, _ = _open_in_chromium(html_path, inspect)
    assert errors == []
    assert seen["verdict"].lower() == "failed"
    assert seen["timeline_bars"] == 1
    assert "No gate was reached" in seen["gates"]
