"""Credentials in source code, configuration, manifests and notebooks."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bastion.core import Category, Finding, Kind, Location
from bastion.scanners.code.notebook import NotebookError, notebook_segments
from bastion.scanners.code.rules import SecretRule, default_rules
from bastion.scanners.interface import ScanError, Scanner, ScanTarget

_PLACEHOLDER_MARKERS = ("EXAMPLE", "example", "XXXXXXXX", "xxxxxxxx", "<", "${", "{{")
_EVIDENCE_WIDTH = 160


class SecretScanner(Scanner):
    """Finds credentials by pattern, keyword pre-filter, entropy and checksum; never shows them whole."""

    name = "secrets"
    kinds = frozenset({Kind.CODE, Kind.DEPENDENCIES, Kind.NOTEBOOK})

    def __init__(self, rules: Iterable[SecretRule] | None = None) -> None:
        self._rules = tuple(rules) if rules is not None else None

    @property
    def rules(self) -> tuple[SecretRule, ...]:
        if self._rules is None:
            self._rules = default_rules()
        return self._rules

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
        matches = self._matches(data)
        spans = sorted((m.start, m.end) for m in matches)
        findings = []
        for match in matches:
            line = data.count(b"\n", 0, match.start) + 1
            line_start = data.rfind(b"\n", 0, match.start) + 1
            findings.append(
                Finding(
                    rule_id=match.rule.id,
                    category=Category.SECRET,
                    severity=match.rule.severity,
                    message=f"{match.rule.description} found",
                    location=Location(path=path, member=member, line=line, column=match.start - line_start + 1),
                    confidence=match.confidence,
                    evidence=_evidence(data, line_start, match, spans),
                    remediation=match.rule.remediation,
                )
            )
        return findings

    def _matches(self, data: bytes) -> list[_Match]:
        lowered = data.lower()
        matches: list[_Match] = []
        for rule in self.rules:
            if not any(keyword in lowered for keyword in rule.keywords):
                continue
            group = 1 if rule.pattern.groups else 0
            for match in rule.pattern.finditer(data):
                secret = match.group(group).decode("utf-8", "replace")
                confidence = _confidence(rule, secret)
                if confidence is not None:
                    matches.append(_Match(rule, match.start(group), match.end(group), secret, confidence))
        return matches


@dataclass(frozen=True, slots=True)
class _Match:
    rule: SecretRule
    start: int
    end: int
    secret: str
    confidence: float


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


def _evidence(data: bytes, line_start: int, match: _Match, spans: list[tuple[int, int]]) -> str:
    """The match's line around it, with this and every other secret in view redacted."""
    if "\n" in match.secret:  # a multi-line secret (a private key): show its first line only
        return match.secret.split("\n", 1)[0].strip() + " …[redacted]"
    line_end = data.find(b"\n", match.start)
    if line_end == -1:
        line_end = len(data)
    begin, end = max(line_start, match.start - 60), min(line_end, match.end + 40)
    pieces: list[str] = []
    cursor = begin
    for span_start, span_end in spans:
        if span_end <= begin or span_start >= end:
            continue
        span_start, span_end = max(span_start, begin), min(span_end, end)
        if span_start < cursor:
            continue
        pieces.append(data[cursor:span_start].decode("utf-8", "replace"))
        pieces.append(redact(data[span_start:span_end].decode("utf-8", "replace")))
        cursor = span_end
    pieces.append(data[cursor:end].decode("utf-8", "replace"))
    return "".join(pieces).strip()[:_EVIDENCE_WIDTH]
