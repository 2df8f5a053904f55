"""Which PII findings still count once the training table was anonymized: shared by the pre-training gate and the
model tests."""

from __future__ import annotations

from collections.abc import Iterable

from bastion.core import Category, Finding
from bastion.pipeline.interface import StepContext
from bastion.pipeline.steps._project import relative_name


def training_table(context: StepContext) -> str:
    """The training table's path as the scan reports it (relative to the project)."""
    return relative_name(context.project, context.spec.inputs.datasets[0])


def findings_after_anonymization(context: StepContext) -> tuple[Finding, ...]:
    """The scan's findings, with those about PII in the training table replaced by a scan of its anonymized copy.

    The anonymize step re-scans what it wrote, so a column that was dropped or pseudonymized no longer counts,
    and one the policy left alone still does; without a policy the table is unchanged and the scan stands.
    """
    scan, anonymize = context.upstream["scan"], context.upstream["anonymize"]
    if context.spec.steps.anonymize.policy is None:
        return scan.findings
    table = training_table(context)
    kept = tuple(f for f in scan.findings if not (f.category is Category.PII and f.location.path == table))
    return kept + anonymize.findings


def pii_columns(findings: Iterable[Finding], table: str) -> list[str]:
    """The columns of ``table`` in which a finding says there is PII."""
    return sorted(
        {f.location.field for f in findings if f.category is Category.PII and f.location.path == table and f.location.field}
    )
