"""SARIF 2.1.0, for GitHub code scanning, DefectDojo and other SARIF consumers."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from bastion import __version__
from bastion.core.artifact import ScanStatus
from bastion.core.finding import Finding, Severity
from bastion.core.formats.interface import Formatter
from bastion.core.report import Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning reads this CVSS-like score to rank security results.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _uri(path: str) -> str:
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix)
    return quote(posix)


class SarifFormatter(Formatter):
    name = "sarif"

    def format(self, report: Report) -> str:
        rules: dict[str, dict[str, Any]] = {}
        for finding in report.findings:
            rule = rules.get(finding.rule_id)
            if rule is None or finding.severity.rank > Severity.parse(rule["properties"]["severity"]).rank:
                rules[finding.rule_id] = _rule(finding)
        rule_index = {rule_id: i for i, rule_id in enumerate(rules)}
        waived = {(w.rule_id, w.path): w for w in report.gate.waived} if report.gate else {}

        results = []
        for finding in report.findings:
            result = _result(finding, rule_index[finding.rule_id])
            waiver = waived.get((finding.rule_id, finding.location.path))
            if waiver is not None:
                result["suppressions"] = [
                    {
                        "kind": "external",
                        "status": "accepted",
                        "justification": f"{waiver.reason} (owner {waiver.owner}, expires {waiver.expires})",
                    }
                ]
            results.append(result)

        notifications = [
            {
                "level": "error",
                "message": {"text": f"{a.path}: scan {a.status.value}: {a.error or 'incomplete'}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(a.path)}}}],
            }
            for a in report.scanned
            if a.status is not ScanStatus.COMPLETE
        ]
        artifacts = []
        for a in report.scanned:
            entry: dict[str, Any] = {"location": {"uri": _uri(a.path)}}
            if a.size is not None:
                entry["length"] = a.size
            if a.sha256:
                entry["hashes"] = {"sha-256": a.sha256}
            if a.format:
                entry["properties"] = {"kind": a.kind.value, "format": a.format}
            artifacts.append(entry)

        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "bastion",
                    "version": __version__,
                    "semanticVersion": __version__,
                    "informationUri": "https://github.com/bastion-mlsecops/bastion",
                    "rules": list(rules.values()),
                }
            },
            "invocations": [
                {
                    "executionSuccessful": not notifications,
                    "toolExecutionNotifications": notifications,
                }
            ],
            "artifacts": artifacts,
            "results": results,
        }
        if report.gate is not None:
            run["properties"] = {"gate": report.gate.to_dict()}
        document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _rule(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.rule_id,
        "name": finding.rule_id,
        "shortDescription": {"text": finding.rule_id},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "help": {"text": finding.remediation or finding.message},
        "properties": {
            "category": finding.category.value,
            "severity": finding.severity.value,
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "tags": ["security", finding.category.value],
        },
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    loc = finding.location
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(loc.path)}}
    region: dict[str, Any] = {}
    if loc.line is not None:
        region["startLine"] = loc.line
        if loc.column is not None:
            region["startColumn"] = loc.column
    elif loc.offset is not None and loc.member is None:
        region["byteOffset"] = loc.offset
    if region:
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    logical = [
        {"name": name, "kind": kind}
        for name, kind in ((loc.member, "member"), (loc.field, "column"), (None if loc.row is None else str(loc.row), "row"))
        if name is not None
    ]
    if logical:
        location["logicalLocations"] = logical

    properties: dict[str, Any] = {"severity": finding.severity.value, "category": finding.category.value}
    for key in ("entity", "count", "confidence", "evidence"):
        value = getattr(finding, key)
        if value is not None:
            properties[key] = value
    for key in ("member", "offset", "field", "row"):
        value = getattr(loc, key)
        if value is not None:
            properties[key] = value
    return {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [location],
        "properties": properties,
    }
