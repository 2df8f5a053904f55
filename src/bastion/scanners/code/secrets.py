"""Credentials in source code, configuration, manifests and notebooks."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from bastion.core import Category, Finding, Kind, Location
from bastion.scanners.code.notebook import NotebookError, notebook_segments
from bastion.scanners.code.rules import RULES, SecretRule
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

_PLACEHOLDER_MARKERS = ("EXAMPLE", "example", "XXXXXXXX", "xxxxxxxx", "<", "${", "{{")
_EVIDENCE_WIDTH = 160


class SecretScanner(Scanner):
    """Finds credentials by pattern, keyword pre-filter, entropy and checksum; never shows them whole."""

    name = "secrets"
    kinds = frozenset({Kind.CODE, Kind.DEPENDENCIES, Kind.NOTEBOOK})

    def __init__(self, rules: Iterable[SecretRule] = RULES) -> None:
        self.rules = tuple(rules)

    def scan(self, target: ScanTarget) -> list[Finding]:
        data = target.read_bytes()
        if target.kind is Kind.NOTEBOOK:
            try:
                segments = list(notebook_segments(data))
            except NotebookError as exc:
                # Still scan the raw bytes, but say the notebook could not be read as one.
                findings = self.scan_bytes(data, target.display_path)
                raise ScanError(f"malformed notebook ({exc}); scanned as plain text", findings=findings, partial=True) from None
            return [
                finding
                for segment in segments
                for finding in self.scan_bytes(segment.text.encode("utf-8", "surrogatepass"), target.display_path, segment.member)
            ]
        return self.scan_bytes(data, target.display_path)

    def scan_bytes(self, data: bytes, path: str, member: str | None = None) -> list[Finding]:
        """Secrets in ``data``, reported at ``path`` (and ``member``)."""
        lowered = data.lower()
        findings: list[Finding] = []
        for rule in self.rules:
            if not any(keyword in lowered for keyword in rule.keywords):
                continue
            for match in rule.pattern.finditer(data):
                group = 1 if rule.pattern.groups else 0
                secret = match.group(group).decode("utf-8", "replace")
                confidence = _confidence(rule, secret)
                if confidence is None:
                    continue
                start = match.start(group)
                line = data.count(b"\n", 0, start) + 1
                line_start = data.rfind(b"\n", 0, start) + 1
                findings.append(
                    Finding(
                        rule_id=rule.id,
                        category=Category.SECRET,
                        severity=rule.severity,
                        message=f"{rule.description} found",
                        location=Location(path=path, member=member, line=line, column=start - line_start + 1),
                        confidence=confidence,
                        evidence=_evidence(data, line_start, start, match.end(group), secret),
                        remediation=rule.remediation,
                    )
                )
        return findings


def _confidence(rule: SecretRule, secret: str) -> float | None:
    """How sure the match is a real secret; None drops it (placeholder, low entropy, bad checksum)."""
    if any(marker in secret for marker in _PLACEHOLDER_MARKERS):
        return None
    if rule.min_entropy and shannon_entropy(secret) < rule.min_entropy:
        return None
    if rule.validate is not None:
        verdict = rule.validate(secret)
        if verdict is False:
            return None
        if verdict is True:
            return 0.99
    return 0.9


def shannon_entropy(text: str) -> float:
    """Bits per character."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(n / length * math.log2(n / length) for n in Counter(text).values())


def redact(secret: str) -> str:
    """The first four characters (a type prefix such as ``AKIA`` or ``ghp_``) and the length."""
    keep = 4 if len(secret) >= 16 else 0
    return f"{secret[:keep]}…[{len(secret)} chars redacted]"


def _evidence(data: bytes, line_start: int, start: int, end: int, secret: str) -> str:
    line_end = data.find(b"\n", start)
    if line_end == -1:
        line_end = len(data)
    before = data[max(line_start, start - 60) : start].decode("utf-8", "replace").lstrip()
    after = data[end : min(line_end, end + 40)].decode("utf-8", "replace").rstrip()
    if "\n" in secret:  # a multi-line secret (a private key): show its first line only
        return secret.split("\n", 1)[0].strip() + " …[redacted]"
    return (before + redact(secret) + after)[:_EVIDENCE_WIDTH]
