"""``bastion demo``: the whole pipeline on a built-in project, twice — stopped by the first gate, then fixed and run
to a signed, registered model awaiting approval."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.pipeline.runner import RunOutcome


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the pipeline on a built-in project: the first gate stops it, the fixes take it to a registered model",
        description=(
            "Build a project from data that ships with the installed packages (scikit-learn's breast-cancer diagnostic "
            "measurements joined with synthetic patient identities), with a leaked token in a notebook and a vulnerable "
            "pin in its requirements, and a Bastion instance of its own (WORKDIR/.bastion). Run the pipeline and show "
            "the first gate failing with its reasons; apply the fixes (an anonymization policy, the notebook stripped, "
            "the pin upgraded) and run again to a signed, registered model awaiting approval, and its report."
        ),
    )
    parser.add_argument(
        "--workdir", type=Path, help="where to build the project and its instance (default: a new temporary directory)"
    )
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.cli.run import StepProgress
    from bastion.core import BastionError
    from bastion.examples.pathology import apply_fixes, build_pathology_project
    from bastion.pipeline.instance import init_instance
    from bastion.pipeline.load import load_spec
    from bastion.pipeline.runner import run_pipeline
    from bastion.scanners.code.advisories import update_mirror

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bastion-demo-"))).resolve()
    home = workdir / ".bastion"
    if home.exists() and any(home.iterdir()):
        raise BastionError(f"{home}: holds an earlier demo's instance; give an empty --workdir (or none for a new temporary one)")
    os.environ["BASTION_HOME"] = str(home)  # the demo's own instance, never the user's
    say = _Narrator(args.output_format == "table")
    project = build_pathology_project(workdir / "project")
    say(f"Project: {project.root}")
    say("  569 biopsies (scikit-learn's diagnostic data) with synthetic patient identities, code, a notebook, requirements.")
    instance = init_instance()
    assert instance.admin_token is not None, "a new instance has its first admin"
    update_mirror(osv_url=project.advisories.as_uri(), pypa_url=None)
    engineer = _add_engineer(instance.admin_token)
    os.environ["BASTION_TOKEN"] = engineer  # the run registers as the ML engineer, so that the admin may approve
    say(f"Instance: {home} (keys, audit log, registry with an admin and an ml-engineer)\n")

    outcomes: list[RunOutcome] = []
    for attempt in (1, 2):
        say(f"Run {attempt}: bastion run {project.spec}")
        with StepProgress(sys.stderr.isatty()) as progress:
            outcome = run_pipeline(load_spec(project.spec), project.spec, on_event=progress.update)
        outcomes.append(outcome)
        say(_summary(outcome))
        if attempt == 2 or outcome.exit_status == 0:
            break
        say("Fixing what the gate found:")
        for fix in apply_fixes(project):
            say(f"  - {fix}")
        say("")
    document = _document(outcomes, home, instance.admin_token)
    if args.output_format == "json":
        print(json.dumps(document, indent=2))
    else:
        say(_closing(document))
    return outcomes[-1].exit_status


class _Narrator:
    """The demo's story on standard output (table format); silent for JSON, whose output is the document alone."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(text, flush=True)


def _add_engineer(admin_token: str) -> str:
    """An ml-engineer user for the runs; the token it gets."""
    from bastion.registry import Registry

    registry = Registry.open()
    try:
        return registry.add_user(registry.authenticate(admin_token), "ml-engineer", ["ml-engineer"]).token
    finally:
        registry.close()


def _summary(outcome: RunOutcome) -> str:
    from bastion.pipeline._report_data import report_data

    data = report_data(outcome.record)
    lines = [f"  run {outcome.record.id}: {outcome.record.status}"]
    for gate in data["gates"]:
        lines.append(f"  gate {gate['name']}: {gate['decision'].upper()}")
        lines.extend(f"    - {reason}" for reason in gate.get("reasons", ()))
    lines.append(f"  report: {outcome.report.with_suffix('.html')}")
    return "\n".join(lines) + "\n"


def _document(outcomes: list[RunOutcome], home: Path, admin_token: str) -> dict[str, Any]:
    """The JSON answer: every run and gate, and the final run's package, signature, registry entry and report."""
    from bastion.pipeline._report_data import report_data

    runs = [(outcome, report_data(outcome.record)) for outcome in outcomes]
    final, data = runs[-1]
    return {
        "runs": [{"id": o.record.id, "status": o.record.status, "report": str(o.report)} for o, _ in runs],
        "gates": [{"run": o.record.id, **gate} for o, d in runs for gate in d["gates"]],
        "package": data.get("package"),
        "signature": data.get("signature"),
        "registry": data.get("registry"),
        "report": str(final.report.with_suffix(".html")),
        "home": str(home),
        "admin_token": admin_token,
    }


def _closing(document: dict[str, Any]) -> str:
    registry, signature = document["registry"], document["signature"] or {}
    if not registry:
        return f"The second run did not reach the registry; see {document['report']}."
    model = f"{registry['name']} {registry['version']}"
    return "\n".join(
        [
            f"Signed package: {signature.get('path')} (signature verified: {signature.get('verified')})",
            f"Registered: {registry['name']} version {registry['version']}, {registry['status']} approval",
            f"Report: {document['report']}",
            "",
            "Next, as the admin (a different principal from the ml-engineer who registered it): approve, promote, serve.",
            f"  export BASTION_HOME={document['home']} BASTION_TOKEN={document['admin_token']}",
            f"  bastion models approve {model} --stage staging",
            f"  bastion models promote {model} --to staging",
            f"  bastion serve {registry['name']}@staging",
        ]
    )
