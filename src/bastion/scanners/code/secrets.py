"""Credentials in source code, configuration, manifests and notebooks."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from bastion.core import Category, Finding, Kind, Location
from bastion.scanners.interface import ScanError, Scanner, ScanOptions, ScanTarget

if TYPE_CHECKING:
    from bastion.scanners.code._matcher import Matcher, SecretMatch
    from bastion.scanners.code.rules import SecretRule

# The rules, the matcher and the notebook reader load when the first file is scanned: the scanner is
# registered with every `bastion scan`, and a scan of model files alone should not compile 55 rules.

__all__ = ["SecretScanner", "redact"]

_EVIDENCE_WIDTH = 160
_TEXT_TABLES = frozenset({"csv", "tsv", "jsonl"})
"""Datasets that are text: credentials leak into exported logs and tables too (and a one-line JSON config reads as JSON Lines)."""
_CHUNK = 32 * 1024 * 1024
"""Larger files are read in chunks of this size, so a multi-gigabyte table never sits in memory whole."""
_OVERLAP = 64 * 1024
"""Each chunk repeats the end of the one before, so a secret cut by a chunk boundary is still seen whole."""
_SOURCE_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".pyx",
        ".js",
        ".jsx",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".java",
        ".kt",
        ".scala",
        ".go",
        ".rs",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".rb",
        ".php",
        ".swift",
        ".m",
        ".r",
        ".jl",
        ".lua",
    ]
)
"""Files where an unquoted value after ``password =`` is a variable, not a password."""


class SecretScanner(Scanner):
    """Finds credentials by keyword pre-filter, pattern, entropy, checksum and context; never shows them whole."""

    name = "secrets"
    kinds = frozenset({Kind.CODE, Kind.DEPENDENCIES, Kind.NOTEBOOK})

    def __init__(self, rules: Iterable[SecretRule] | None = None) -> None:
        self._rules = tuple(rules) if rules is not None else None
        self._matcher: Matcher | None = None

    def matcher(self, options: ScanOptions) -> Matcher:
        """The rules given to this scanner, else those of ``--secret-rules``, else Bastion's own."""
        if self._rules is not None:
            if self._matcher is None:
                from bastion.scanners.code._matcher import Matcher, RuleSet

                self._matcher = Matcher(RuleSet(self._rules))
            return self._matcher
        return _configured_matcher(options.secret_rules)

    def handles(self, target: ScanTarget) -> bool:
        return target.kind in self.kinds or (target.kind is Kind.DATASET and target.format in _TEXT_TABLES)

    def scan(self, target: ScanTarget) -> list[Finding]:
        matcher = self.matcher(target.options)
        code = PurePosixPath(target.display_path).suffix.lower() in _SOURCE_SUFFIXES or target.format == "python"
        if target.kind is not Kind.NOTEBOOK and target.data is None and target.size > _CHUNK:
            return self._scan_chunks(target, matcher, code)
        data = target.read_bytes()
        if target.kind is Kind.NOTEBOOK:
            from bastion.scanners.code.notebook import NotebookError, notebook_segments

            try:
                segments = list(notebook_segments(data))
            except NotebookError as exc:
                # Still scan the raw bytes, but say the notebook could not be read as one.
                findings = self.scan_bytes(data, target.display_path, matcher=matcher)
                raise ScanError(f"malformed notebook ({exc}); scanned as plain text", findings=findings, partial=True) from None
            return [
                finding
                for segment in segments
                for finding in self.scan_bytes(
                    segment.text.encode("utf-8", "surrogatepass"),
                    target.display_path,
                    segment.member,
                    code=not segment.member.endswith(".outputs"),
                    matcher=matcher,
                )
            ]
        return self.scan_bytes(data, target.display_path, code=code, matcher=matcher)

    def _scan_chunks(self, target: ScanTarget, matcher: Matcher, code: bool) -> list[Finding]:
        findings: list[Finding] = []
        line, tail = 1, b""
        with target.open() as handle:
            while chunk := handle.read(_CHUNK):
                data = tail + chunk
                findings.extend(
                    self.scan_bytes(data, target.display_path, code=code, matcher=matcher, first_line=line, skip_before=len(tail))
                )
                tail = data[-_OVERLAP:]
                line += data.count(b"\n", 0, len(data) - len(tail))
        return findings

    def scan_bytes(
        self,
        data: bytes,
        path: str,
        member: str | None = None,
        *,
        code: bool = False,
        matcher: Matcher | None = None,
        first_line: int = 1,
        skip_before: int = 0,
    ) -> list[Finding]:
        """Secrets in ``data``, reported at ``path`` (and ``member``); ``code``: it is source code.

        ``data`` starts at line ``first_line`` of the file; matches starting before ``skip_before`` were
        reported with the previous chunk."""
        matcher = matcher or self.matcher(ScanOptions())
        matches = [m for m in matcher.matches(data, path=path, code=code) if m.start >= skip_before]
        spans = [(m.start, m.end) for m in matches]
        findings = []
        line, counted_to = first_line, 0
        for match in matches:  # sorted by position: lines are counted once over the file
            line += data.count(b"\n", counted_to, match.start)
            counted_to = match.start
            line_start = data.rfind(b"\n", 0, match.start) + 1
            how = (
                f" ({match.encoding}-encoded)"
                if match.encoding == "base64"
                else f" (split by {match.encoding})"
                if match.encoding
                else ""
            )
            findings.append(
                Finding(
                    rule_id=match.rule.id,
                    category=Category.SECRET,
                    severity=match.rule.severity,
                    message=f"{match.rule.description} found{how}",
                    location=Location(path=path, member=member, line=line, column=match.start - line_start + 1),
                    confidence=round(match.confidence, 2),
                    evidence=_evidence(data, line_start, match, spans),
                    remediation=match.rule.remediation,
                )
            )
        return findings


@functools.cache
def _configured_matcher(config: Path | None) -> Matcher:
    """Compiled once per process and rule file (workers each build their own)."""
    from bastion.scanners.code._matcher import Matcher, RuleSet
    from bastion.scanners.code.rules import default_rules

    if config is None:
        return Matcher(RuleSet(default_rules()))
    from bastion.scanners.code.gitleaks_config import load_gitleaks_config

    return Matcher(load_gitleaks_config(config))


def redact(secret: str) -> str:
    """The first four characters (a type prefix such as ``AKIA`` or ``ghp_``) and the length."""
    keep = 4 if len(secret) >= 16 else 0
    return f"{secret[:keep]}…[{len(secret)} chars redacted]"


def _evidence(data: bytes, line_start: int, match: SecretMatch, spans: list[tuple[int, int]]) -> str:
    """The match's line around it, with this and every other secret in view redacted."""
    if b"\n" in data[match.start : match.end]:  # a multi-line secret (a private key): show its first line only
        return data[match.start : match.end].split(b"\n", 1)[0].decode("utf-8", "replace").strip() + " …[redacted]"
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
