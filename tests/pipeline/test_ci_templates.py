"""The CI templates that ship with the package run `bastion run` on merge requests and hand its SARIF on."""

from __future__ import annotations

import re
import shlex
from importlib.resources import files
from typing import Any

import yaml

from bastion.cli.app import build_parser

TEMPLATES = files("bastion.pipeline").joinpath("templates", "ci")
SARIF = "bastion.sarif"


def _template(name: str) -> str:
    return TEMPLATES.joinpath(name).read_text("utf-8")


def _yaml(name: str) -> dict[Any, Any]:
    document = yaml.safe_load(_template(name))
    assert isinstance(document, dict)
    return document


def _bastion_runs(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"(^|/)bastion run\b", line)]


def _check_run_command(line: str) -> None:
    """The command parses with the real `bastion run` parser and writes SARIF to bastion.sarif."""
    argv = shlex.split(line)
    argv = argv[argv.index(next(a for a in argv if a.endswith("bastion"))) + 1 :]
    args = build_parser(argv).parse_args(argv)
    assert args.output_format == "sarif"
    assert str(args.output) == SARIF


def test_the_three_templates_ship_with_the_package() -> None:
    assert sorted(entry.name for entry in TEMPLATES.iterdir()) == ["Jenkinsfile", "github.yml", "gitlab-ci.yml"]


def test_github_actions_runs_bastion_on_pull_requests_and_uploads_the_sarif() -> None:
    workflow = _yaml("github.yml")
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    (job,) = workflow["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    runs = _bastion_runs([step["run"] for step in steps if "run" in step])
    assert len(runs) == 1
    _check_run_command(runs[0])
    upload = next(step for step in steps if step.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == SARIF
    assert "always()" in upload["if"]  # a failed gate is when the findings matter most
    assert steps.index(upload) > next(i for i, step in enumerate(steps) if step.get("run") == runs[0])
    kept = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert "always()" in kept["if"] and "report.html" in kept["with"]["path"]


def test_gitlab_ci_runs_bastion_on_merge_requests_and_reports_sast() -> None:
    document = _yaml("gitlab-ci.yml")
    jobs = {name: job for name, job in document.items() if isinstance(job, dict) and "script" in job}
    run_job = next(job for job in jobs.values() if _bastion_runs(job["script"]))
    (command,) = _bastion_runs(run_job["script"])
    _check_run_command(command)
    assert any('$CI_PIPELINE_SOURCE == "merge_request_event"' in rule["if"] for rule in run_job["rules"])
    assert run_job["artifacts"]["when"] == "always" and SARIF in run_job["artifacts"]["paths"]
    assert any(path.endswith("report.html") for path in run_job["artifacts"]["paths"])
    sast_job = next(job for job in jobs.values() if "sast" in job.get("artifacts", {}).get("reports", {}))
    report = sast_job["artifacts"]["reports"]["sast"]
    assert any(SARIF in line and report in line for line in sast_job["script"])  # converted from the SARIF file
    needed = [need["job"] if isinstance(need, dict) else need for need in sast_job["needs"]]
    assert [name for name, job in jobs.items() if job is run_job] == needed
    assert all(rule.get("when") == "always" for rule in sast_job["rules"])


def test_jenkinsfile_runs_bastion_on_change_requests_and_records_the_sarif() -> None:
    text = _template("Jenkinsfile")
    (command,) = _bastion_runs([line.strip() for line in text.splitlines()])
    _check_run_command(command)
    assert "changeRequest()" in text
    post = text[text.index("post {") :]
    assert re.search(r"always \{.*recordIssues[^\n]*sarif\(pattern: 'bastion\.sarif'", post, re.DOTALL)
    assert re.search(r"archiveArtifacts artifacts: '[^']*bastion\.sarif[^']*report\.html", post)
