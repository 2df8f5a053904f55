"""The dataset scanner: opens a dataset once and runs each analysis over it."""

from __future__ import annotations

import importlib

from bastion.core import Finding, Kind
from bastion.scanners.data.interface import DatasetAnalysis
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

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

    def scan(self, target: ScanTarget) -> list[Finding]:
        from bastion.scanners.data.dataset import Dataset

        assert target.format is not None
        findings: list[Finding] = []
        with Dataset(str(target.path), target.display_path, target.format) as dataset:
            findings.extend(dataset.read_problems())
            for analysis in load_analyses():
                if not analysis.applies(target.options):
                    continue
                try:
                    findings.extend(analysis.analyze(dataset, target.options))
                except ScanError as exc:
                    raise ScanError(f"{analysis.name}: {exc}", findings=[*findings, *exc.findings], partial=True) from None
        return findings
