"""The dataset scanner: opens a dataset once and runs each analysis over it (or, on a Dask cluster, over its
row partitions: see ``partitions``)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from bastion.core import Category, Finding, Kind, Location, Severity
from bastion.scanners.data.interface import DatasetAnalysis
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

if TYPE_CHECKING:
    from bastion.scanners.data.dataset import Dataset
    from bastion.scanners.data.partitions import Run

# (module, class) of each analysis, imported on first use: scanning code pays nothing for them.
ANALYSES: tuple[tuple[str, str], ...] = (
    ("bastion.scanners.data.pii", "SensitiveDataAnalysis"),
    ("bastion.scanners.data.quality", "QualityAnalysis"),
    ("bastion.scanners.data.integrity", "IntegrityRulesAnalysis"),
    ("bastion.scanners.data.poisoning", "PoisoningAnalysis"),
)


def load_analyses() -> list[DatasetAnalysis]:
    analyses = []
    for module, name in ANALYSES:
        analysis = getattr(importlib.import_module(module), name)()
        analyses.append(analysis)
    return analyses


class DataScanner(Scanner):
    """CSV, TSV, Parquet and JSON Lines datasets: sensitive data, quality, integrity rules and poisoning."""

    name = "data"
    kinds = frozenset({Kind.DATASET})

    def handles(self, target: ScanTarget) -> bool:
        """Datasets, and files named like one whose content is none (empty, binary): those get a finding."""
        named_as_table = PurePosixPath(target.display_path).suffix.lower() in TABLE_SUFFIXES
        return target.kind is Kind.DATASET or (target.kind is Kind.UNKNOWN and named_as_table)

    def scan(self, target: ScanTarget) -> list[Finding]:
        from bastion.scanners.data.dataset import Dataset

        if target.kind is Kind.UNKNOWN:
            return _not_a_table(target)
        assert target.format is not None
        findings: list[Finding] = []
        with Dataset(str(target.path), target.display_path, target.format) as dataset, _runs(dataset, target) as runs:
            findings.extend(dataset.read_problems())
            for name, run in runs:
                try:
                    findings.extend(run())
                except ScanError as exc:
                    raise ScanError(f"{name}: {exc}", findings=[*findings, *exc.findings], partial=True) from None
        return findings


TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".parquet", ".jsonl", ".ndjson"})
"""Names that say "dataset": a file so named whose content is no table is reported, not passed over."""


def _not_a_table(target: ScanTarget) -> list[Finding]:
    """An empty file is a finding; binary content under a table's name is one too, and an incomplete scan."""
    location = Location(path=target.display_path)
    if target.size == 0:
        message = "empty file: no header and no rows to check"
        return [Finding("data.input.empty", Category.DATA_QUALITY, Severity.LOW, message, location, remediation=_EMPTY_ADVICE)]
    message = "named as a dataset, but the content is binary, not a CSV, TSV, Parquet or JSON Lines table; not read"
    finding = Finding(
        "data.input.not-a-table", Category.DATA_QUALITY, Severity.MEDIUM, message, location, remediation=_BINARY_ADVICE
    )
    raise ScanError(message, findings=[finding])


_EMPTY_ADVICE = "Check the export that produced it; a training set with no rows is a broken pipeline step."
_BINARY_ADVICE = "Re-export the table, or rename the file if it is not one; a model or archive is scanned by its content."


@contextmanager
def _runs(dataset: Dataset, target: ScanTarget) -> Iterator[list[Run]]:
    """The analyses that apply, each to run in this process, or started over row partitions on the cluster."""
    analyses = [analysis for analysis in load_analyses() if analysis.applies(target.options)]
    rows = target.options.partition_rows
    if rows is not None and dataset.row_count > rows:
        from bastion.scanners.data.partitions import partitioned

        with partitioned(dataset, str(target.path.absolute()), analyses, target.options) as runs:
            yield runs
    else:
        yield [(analysis.name, functools.partial(analysis.analyze, dataset, target.options)) for analysis in analyses]
